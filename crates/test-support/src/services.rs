//! Redis keys and RabbitMQ exchanges namespaced per test, removed when the test ends.

use hg_platform::config::{AmqpConfig, EnvSource, RedisConfig, Settings};

/// Redis on the machine (`TEST_REDIS_URL`, default `redis://127.0.0.1:6379`).
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// RabbitMQ on the machine (`TEST_AMQP_URL`, default `amqp://guest:guest@127.0.0.1:5672/%2f`).
pub fn amqp_url() -> String {
    std::env::var("TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// A key prefix of its own in the shared Redis; every key under it is deleted on drop.
pub struct TestRedis {
    /// `hgtest:<uuid>:`.
    pub prefix: String,
}

impl TestRedis {
    /// A fresh namespace.
    pub fn new() -> Self {
        Self {
            prefix: format!("hgtest:{}:", uuid::Uuid::new_v4().simple()),
        }
    }

    /// Redis configuration using this namespace.
    pub fn config(&self) -> RedisConfig {
        let src = EnvSource::from_pairs([
            ("REDIS_URL", redis_url()),
            ("REDIS_KEY_PREFIX", self.prefix.clone()),
        ]);
        Settings::from_env(&src)
            .expect("test Redis settings are valid")
            .redis
            .expect("REDIS_URL is set")
    }

    /// The keys under this namespace (without the prefix), for assertions.
    pub fn keys(&self) -> Vec<String> {
        let client = redis::Client::open(redis_url()).expect("redis URL");
        let mut conn = client.get_connection().expect("redis connection");
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query(&mut conn)
            .unwrap_or_default();
        keys.into_iter()
            .map(|k| k.trim_start_matches(&self.prefix).to_owned())
            .collect()
    }
}

impl Default for TestRedis {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(redis_url()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection() else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<(), _> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}

/// An exchange of its own on the shared RabbitMQ (`hgtest.<uuid>.events`), deleted on drop together
/// with the queues the test bound through [`TestBroker::bind_queue`].
pub struct TestBroker {
    /// The exchange name.
    pub exchange: String,
}

impl TestBroker {
    /// A fresh exchange name (declared by the first publisher).
    pub fn new() -> Self {
        Self {
            exchange: format!("hgtest.{}.events", uuid::Uuid::new_v4().simple()),
        }
    }

    /// RabbitMQ configuration publishing to this exchange.
    pub fn config(&self) -> AmqpConfig {
        let src = EnvSource::from_pairs([
            ("AMQP_URL", amqp_url()),
            ("AMQP_EXCHANGE", self.exchange.clone()),
        ]);
        Settings::from_env(&src)
            .expect("test AMQP settings are valid")
            .amqp
            .expect("AMQP_URL is set")
    }

    /// An exclusive queue bound to the exchange with `routing_key` (`#` for everything), and a consumer
    /// on it. The queue disappears with the returned connection.
    pub async fn bind_queue(&self, routing_key: &str) -> (lapin::Connection, lapin::Consumer) {
        use lapin::options::{
            BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
        };
        use lapin::types::FieldTable;
        let conn = hg_platform::events::amqp_connect(&self.config())
            .await
            .expect("RabbitMQ is reachable");
        let ch = conn.create_channel().await.expect("channel");
        ch.exchange_declare(
            self.exchange.as_str().into(),
            lapin::ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("declare the test exchange");
        let queue = ch
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("declare a test queue");
        ch.queue_bind(
            queue.name().as_str().into(),
            self.exchange.as_str().into(),
            routing_key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind the test queue");
        let consumer = ch
            .basic_consume(
                queue.name().as_str().into(),
                "test".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("consume the test queue");
        (conn, consumer)
    }
}

impl Default for TestBroker {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        let exchange = self.exchange.clone();
        let config = self.config();
        crate::block_on_cleanup(async move {
            if let Ok(conn) = hg_platform::events::amqp_connect(&config).await
                && let Ok(ch) = conn.create_channel().await
            {
                let _ = ch
                    .exchange_delete(exchange.as_str().into(), Default::default())
                    .await;
                // The consumer framework's queues of this exchange (`<exchange>.<consumer>…`).
                let prefix = format!("{exchange}.");
                for queue in hg_platform::events::amqp::declared_queues() {
                    if queue.starts_with(&prefix) {
                        let _ = ch
                            .queue_delete(queue.as_str().into(), Default::default())
                            .await;
                    }
                }
                let _ = conn.close(200, "test done".into()).await;
            }
        });
    }
}
