//! RabbitMQ (`AMQP_URL`, plain or TLS): publishing with confirms to the durable topic exchange, and
//! each consumer's queues — `<exchange>.<consumer>` bound to its event types, `….retry` that hands a
//! failed message back after the consumer's delay, `….dead` for messages that failed too often.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::consumer::{Consumer, ConsumerSpec, Handled, QueueStats};
use super::{Broker, BrokerError, EventMessage};
use crate::config::AmqpConfig;

/// Opens a connection to RabbitMQ for `cfg`, verifying `amqps://` servers against `AMQP_CA_CERT`.
pub async fn amqp_connect(cfg: &AmqpConfig) -> Result<Connection, String> {
    let props = ConnectionProperties::default().with_connection_name("heartguard".into());
    let fut = async {
        match &cfg.ca_cert {
            Some(ca) => {
                let pem = std::fs::read_to_string(ca)
                    .map_err(|e| format!("AMQP_CA_CERT {}: {e}", ca.display()))?;
                let runtime = lapin::runtime::default_runtime().map_err(|e| e.to_string())?;
                Connection::connect_with_config(
                    cfg.url.expose(),
                    props,
                    lapin::tcp::OwnedTLSConfig {
                        identity: None,
                        cert_chain: Some(pem),
                    },
                    runtime,
                )
                .await
                .map_err(|e| e.to_string())
            }
            None => Connection::connect(cfg.url.expose(), props)
                .await
                .map_err(|e| e.to_string()),
        }
    };
    match tokio::time::timeout(Duration::from_secs(5), fut).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(format!("RabbitMQ at {}: {e}", cfg.host)),
        Err(_) => Err(format!("RabbitMQ at {}: no answer within 5 s", cfg.host)),
    }
}

/// RabbitMQ publisher: a durable topic exchange, persistent messages, publisher confirms. Connects on
/// first use and again after any failure.
pub struct AmqpBroker {
    cfg: AmqpConfig,
    state: tokio::sync::Mutex<Option<(Connection, Channel)>>,
}

impl AmqpBroker {
    /// A broker for `cfg`; nothing is connected yet.
    pub fn new(cfg: AmqpConfig) -> Self {
        Self {
            cfg,
            state: tokio::sync::Mutex::new(None),
        }
    }

    /// The exchange events are published to.
    pub fn exchange(&self) -> &str {
        &self.cfg.exchange
    }

    async fn channel(&self) -> Result<Channel, BrokerError> {
        let mut guard = self.state.lock().await;
        if let Some((conn, ch)) = guard.as_ref()
            && conn.status().connected()
            && ch.status().connected()
        {
            return Ok(ch.clone());
        }
        *guard = None;
        let conn = amqp_connect(&self.cfg).await.map_err(BrokerError)?;
        let err = |e: lapin::Error| BrokerError(e.to_string());
        let ch = conn.create_channel().await.map_err(err)?;
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(err)?;
        declare_exchange(&ch, &self.cfg.exchange)
            .await
            .map_err(err)?;
        *guard = Some((conn, ch.clone()));
        Ok(ch)
    }

    async fn reset(&self) {
        *self.state.lock().await = None;
    }
}

impl AmqpBroker {
    /// Publishes one event, confirmed, to the exchange.
    async fn publish_event(&self, event: &EventMessage) -> Result<(), BrokerError> {
        let ch = self.channel().await?;
        let payload = serde_json::to_vec(event).map_err(|e| BrokerError(e.to_string()))?;
        let mut headers = FieldTable::default();
        if let Some(rid) = &event.request_id {
            headers.insert(
                "x-request-id".into(),
                AMQPValue::LongString(rid.as_str().into()),
            );
        }
        let props = BasicProperties::default()
            .with_message_id(event.id.to_string().as_str().into())
            .with_content_type("application/json".into())
            .with_timestamp(event.occurred_at.timestamp().max(0) as u64)
            .with_type(event.event_type.as_str().into())
            .with_delivery_mode(2)
            .with_headers(headers);
        let result = async {
            let confirm = ch
                .basic_publish(
                    self.cfg.exchange.as_str().into(),
                    event.event_type.as_str().into(),
                    BasicPublishOptions::default(),
                    &payload,
                    props,
                )
                .await?
                .await?;
            Ok::<_, lapin::Error>(confirm.is_ack())
        }
        .await;
        match result {
            Ok(true) => Ok(()),
            Ok(false) => Err(BrokerError("the broker refused the message (nack)".into())),
            Err(e) => {
                self.reset().await;
                Err(BrokerError(e.to_string()))
            }
        }
    }
}

/// Declares the durable topic exchange events are published to.
async fn declare_exchange(ch: &Channel, exchange: &str) -> Result<(), lapin::Error> {
    ch.exchange_declare(
        exchange.into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
}

/// The header counting a message's failed attempts.
const ATTEMPTS: &str = "x-hg-attempts";

/// Queues this process declared (tests delete theirs afterwards).
static DECLARED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Every queue this process declared, for clean-up.
pub fn declared_queues() -> Vec<String> {
    DECLARED.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// The queue names of a consumer on `exchange`: main, retry (its delay in the name, as RabbitMQ
/// cannot change a queue's arguments), dead letters.
pub fn queue_names(exchange: &str, spec: &ConsumerSpec) -> (String, String, String) {
    let main = format!("{exchange}.{}", spec.name);
    (
        format!("{main}.retry-{}ms", spec.retry_delay.as_millis()),
        format!("{main}.dead"),
        main,
    )
}

impl AmqpBroker {
    /// Declares the exchange and `spec`'s queues and bindings on `ch`.
    async fn topology(&self, ch: &Channel, spec: &ConsumerSpec) -> Result<(), lapin::Error> {
        let (retry, dead, main) = queue_names(&self.cfg.exchange, spec);
        declare_exchange(ch, &self.cfg.exchange).await?;
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        ch.queue_declare(main.as_str().into(), durable, FieldTable::default())
            .await?;
        let mut retry_args = FieldTable::default();
        retry_args.insert(
            "x-message-ttl".into(),
            AMQPValue::LongLongInt(spec.retry_delay.as_millis() as i64),
        );
        retry_args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString("".into()),
        );
        retry_args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(main.as_str().into()),
        );
        ch.queue_declare(retry.as_str().into(), durable, retry_args)
            .await?;
        ch.queue_declare(dead.as_str().into(), durable, FieldTable::default())
            .await?;
        for binding in spec.bindings {
            ch.queue_bind(
                main.as_str().into(),
                self.cfg.exchange.as_str().into(),
                (*binding).into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        }
        let mut declared = DECLARED.lock().unwrap_or_else(|p| p.into_inner());
        for q in [main, retry, dead] {
            if !declared.contains(&q) {
                declared.push(q);
            }
        }
        Ok(())
    }

    /// Consumes `consumer`'s queue on one connection until it breaks or `shutdown`.
    async fn consume_once(
        &self,
        pool: &PgPool,
        consumer: &dyn Consumer,
        shutdown: &CancellationToken,
    ) -> Result<(), String> {
        let spec = consumer.spec();
        let conn = amqp_connect(&self.cfg).await?;
        let err = |e: lapin::Error| e.to_string();
        let ch = conn.create_channel().await.map_err(err)?;
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(err)?;
        ch.basic_qos(spec.prefetch, BasicQosOptions::default())
            .await
            .map_err(err)?;
        self.topology(&ch, spec).await.map_err(err)?;
        let (retry, dead, main) = queue_names(&self.cfg.exchange, spec);
        let mut deliveries = ch
            .basic_consume(
                main.as_str().into(),
                format!("heartguard-{}", spec.name).as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(err)?;
        loop {
            let delivery = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                d = deliveries.next() => match d {
                    Some(Ok(d)) => d,
                    Some(Err(e)) => return Err(e.to_string()),
                    None => return Err("the broker ended the consumer".into()),
                },
            };
            let attempts = delivery
                .properties
                .headers()
                .as_ref()
                .and_then(|h| h.inner().get(ATTEMPTS).cloned())
                .and_then(|v| match v {
                    AMQPValue::LongLongInt(n) => Some(n),
                    AMQPValue::LongInt(n) => Some(i64::from(n)),
                    _ => None,
                })
                .unwrap_or(0);
            let outcome = match serde_json::from_slice::<EventMessage>(&delivery.data) {
                Err(e) => Err(super::ConsumerError::Reject(format!(
                    "not an event message: {e}"
                ))),
                Ok(event) => {
                    async {
                        let mut tx = pool.begin().await?;
                        let handled = handle_in_transaction(&mut tx, consumer, &event).await?;
                        tx.commit().await?;
                        Ok(handled)
                    }
                    .await
                }
            };
            match outcome {
                Ok(handled) => {
                    delivery
                        .ack(BasicAckOptions::default())
                        .await
                        .map_err(err)?;
                    super::consumer::count(
                        spec.name,
                        match handled {
                            Handled::Now => "handled",
                            Handled::Before => "duplicate",
                        },
                    );
                }
                Err(e) => {
                    let attempts = attempts + 1;
                    let to_dead = matches!(e, super::ConsumerError::Reject(_))
                        || attempts as u32 >= spec.max_attempts;
                    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
                    headers.insert(ATTEMPTS.into(), AMQPValue::LongLongInt(attempts));
                    headers.insert(
                        "x-hg-last-error".into(),
                        AMQPValue::LongString(e.to_string().as_str().into()),
                    );
                    let target = if to_dead { &dead } else { &retry };
                    let props = delivery.properties.clone().with_headers(headers);
                    let parked = async {
                        let confirm = ch
                            .basic_publish(
                                "".into(),
                                target.as_str().into(),
                                BasicPublishOptions::default(),
                                &delivery.data,
                                props,
                            )
                            .await?
                            .await?;
                        Ok::<_, lapin::Error>(confirm.is_ack())
                    }
                    .await;
                    match parked {
                        Ok(true) => {
                            delivery
                                .ack(BasicAckOptions::default())
                                .await
                                .map_err(err)?;
                            if to_dead {
                                super::consumer::count(spec.name, "dead");
                                tracing::error!(consumer = spec.name, attempts, error = %e, "event dead-lettered");
                            } else {
                                super::consumer::count(spec.name, "retried");
                                tracing::warn!(consumer = spec.name, attempts, error = %e, "event failed; retrying");
                            }
                        }
                        _ => {
                            // Not parked: hand it back as it is, to be tried again.
                            delivery
                                .nack(BasicNackOptions {
                                    requeue: true,
                                    ..Default::default()
                                })
                                .await
                                .map_err(err)?;
                        }
                    }
                }
            }
        }
    }
}

/// Claims and handles `event` in `tx` (see [`super::consumer::claim_and_handle`]).
async fn handle_in_transaction(
    tx: &mut sqlx::PgConnection,
    consumer: &dyn Consumer,
    event: &EventMessage,
) -> Result<Handled, super::ConsumerError> {
    super::consumer::claim_and_handle(tx, consumer, event).await
}

#[async_trait]
impl Broker for AmqpBroker {
    async fn publish(&self, event: &EventMessage) -> Result<(), BrokerError> {
        self.publish_event(event).await
    }

    async fn ping(&self) -> Result<(), BrokerError> {
        match self.channel().await {
            Ok(_) => Ok(()),
            Err(e) => {
                self.reset().await;
                Err(e)
            }
        }
    }

    fn kind(&self) -> &'static str {
        "rabbitmq"
    }

    async fn declare(&self, spec: &ConsumerSpec) -> Result<(), BrokerError> {
        let ch = self.channel().await?;
        if let Err(e) = self.topology(&ch, spec).await {
            self.reset().await;
            return Err(BrokerError(e.to_string()));
        }
        Ok(())
    }

    async fn consume(
        &self,
        pool: PgPool,
        consumer: Arc<dyn Consumer>,
        shutdown: CancellationToken,
    ) {
        let mut wait = Duration::from_millis(500);
        while !shutdown.is_cancelled() {
            match self.consume_once(&pool, consumer.as_ref(), &shutdown).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(consumer = consumer.spec().name, error = %e, "consumer disconnected; reconnecting");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(Duration::from_secs(15));
        }
    }

    async fn stats(&self, spec: &ConsumerSpec) -> Result<QueueStats, BrokerError> {
        let (_, dead, main) = queue_names(&self.cfg.exchange, spec);
        let ch = self.channel().await?;
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let mut stats = QueueStats::default();
        for (name, slot) in [(main, &mut stats.ready), (dead, &mut stats.dead)] {
            match ch
                .queue_declare(name.as_str().into(), passive, FieldTable::default())
                .await
            {
                Ok(q) => *slot = u64::from(q.message_count()),
                Err(e) => {
                    self.reset().await;
                    return Err(BrokerError(e.to_string()));
                }
            }
        }
        Ok(stats)
    }
}
