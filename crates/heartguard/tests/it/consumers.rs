//! The consumer framework's contract (issue 11), run against both brokers — RabbitMQ and the
//! queues in PostgreSQL of `heartguard up`: an event is handled once (a redelivery changes nothing),
//! survives a consumer killed before its acknowledgement, is retried after a failure, and is
//! dead-lettered after `max_attempts` failures.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use hg_platform::events::{
    AmqpBroker, Broker, Consumer, ConsumerError, ConsumerSpec, EventMessage, NewEvent, PgBroker,
    enqueue, relay_once,
};
use hg_test_support::TestDb;
use hg_test_support::services::TestBroker;
use sqlx::PgConnection;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const SPEC: ConsumerSpec = ConsumerSpec {
    max_attempts: 3,
    retry_delay: Duration::from_millis(300),
    ..ConsumerSpec::new("contract", &["contract.*"])
};

#[derive(Clone, Copy)]
enum Behaviour {
    Succeed,
    /// Fails this many times, then succeeds.
    FailFirst(u32),
    Fail,
    /// Writes its row, then never returns (until its task is killed).
    Hang,
}

struct Probe {
    behaviour: Behaviour,
    calls: AtomicU32,
    entered: Notify,
}

impl Probe {
    fn new(behaviour: Behaviour) -> Arc<Self> {
        Arc::new(Self {
            behaviour,
            calls: AtomicU32::new(0),
            entered: Notify::new(),
        })
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Consumer for Probe {
    fn spec(&self) -> &ConsumerSpec {
        &SPEC
    }

    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &EventMessage,
    ) -> Result<(), ConsumerError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        sqlx::query("insert into contract_log (event_id) values ($1)")
            .bind(event.id)
            .execute(&mut *conn)
            .await?;
        match self.behaviour {
            Behaviour::Succeed => Ok(()),
            Behaviour::FailFirst(n) if call <= n => {
                Err(ConsumerError::Retry(format!("failure {call} of {n}")))
            }
            Behaviour::FailFirst(_) => Ok(()),
            Behaviour::Fail => Err(ConsumerError::Retry("always fails".into())),
            Behaviour::Hang => {
                self.entered.notify_one();
                std::future::pending().await
            }
        }
    }
}

/// One broker under test, with its database.
struct Rig {
    db: TestDb,
    broker: Arc<dyn Broker>,
    _ns: Option<TestBroker>,
}

impl Rig {
    async fn new(rabbitmq: bool) -> Self {
        let db = TestDb::new().await;
        sqlx::query("create table contract_log (event_id uuid not null)")
            .execute(&db.pool)
            .await
            .unwrap();
        let (broker, ns): (Arc<dyn Broker>, _) = if rabbitmq {
            let ns = TestBroker::new();
            (Arc::new(AmqpBroker::new(ns.config())), Some(ns))
        } else {
            (Arc::new(PgBroker::new(db.pool.clone())), None)
        };
        broker.declare(&SPEC).await.unwrap();
        Self {
            db,
            broker,
            _ns: ns,
        }
    }

    /// Commits an event to the outbox and relays it; returns its id.
    async fn publish(&self) -> Uuid {
        let mut tx = self.db.pool.begin().await.unwrap();
        let id = enqueue(
            &mut tx,
            NewEvent {
                event_type: "contract.happened".into(),
                aggregate: "contract".into(),
                aggregate_id: None,
                org_id: None,
                actor: None,
                request_id: None,
                data: serde_json::json!({"n": 1}),
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            relay_once(&self.db.pool, self.broker.as_ref(), 10)
                .await
                .unwrap(),
            1
        );
        id
    }

    /// Runs `probe` until the returned token is cancelled (or its task aborted).
    fn run(&self, probe: Arc<Probe>) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        let shutdown = CancellationToken::new();
        let (broker, pool, stop) = (self.broker.clone(), self.db.pool.clone(), shutdown.clone());
        let task = tokio::spawn(async move { broker.consume(pool, probe, stop).await });
        (shutdown, task)
    }

    async fn logged(&self, id: Uuid) -> i64 {
        sqlx::query_scalar("select count(*) from contract_log where event_id = $1")
            .bind(id)
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
    }

    /// Waits (up to 15 s) until `check` holds.
    async fn until<F: std::future::Future<Output = bool>>(
        &self,
        what: &str,
        check: impl Fn() -> F,
    ) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while !check().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not within 15 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn an_event_is_handled_once(rabbitmq: bool) {
    let rig = Rig::new(rabbitmq).await;
    let id = rig.publish().await;
    let probe = Probe::new(Behaviour::Succeed);
    let (stop, task) = rig.run(probe.clone());
    rig.until("handled", || async { rig.logged(id).await == 1 })
        .await;
    // The same event delivered again (a relay that died before marking it published, a broker
    // redelivery): the consumer is not called again.
    sqlx::query("update outbox_events set published_at = null where id = $1")
        .bind(id)
        .execute(&rig.db.pool)
        .await
        .unwrap();
    if !rabbitmq {
        // PostgreSQL's queue keeps one row per event: put it back as a redelivery would.
        sqlx::query("insert into consumer_queue (consumer, event_id) values ($1, $2)")
            .bind(SPEC.name)
            .bind(id)
            .execute(&rig.db.pool)
            .await
            .unwrap();
    }
    relay_once(&rig.db.pool, rig.broker.as_ref(), 10)
        .await
        .unwrap();
    rig.until("the redelivery consumed", || async {
        rig.broker.stats(&SPEC).await.unwrap().ready == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(probe.calls(), 1, "handled once");
    assert_eq!(rig.logged(id).await, 1);
    stop.cancel();
    task.await.unwrap();
}

async fn an_event_survives_a_consumer_killed_before_its_ack(rabbitmq: bool) {
    let rig = Rig::new(rabbitmq).await;
    let id = rig.publish().await;
    let hanging = Probe::new(Behaviour::Hang);
    let (_stop, task) = rig.run(hanging.clone());
    tokio::time::timeout(Duration::from_secs(15), hanging.entered.notified())
        .await
        .expect("the consumer got the event");
    task.abort();
    let _ = task.await;
    // What it wrote is gone with its transaction, and the event is handed to the next consumer.
    let probe = Probe::new(Behaviour::Succeed);
    let (stop, task) = rig.run(probe.clone());
    rig.until("handled by the next consumer", || async {
        rig.logged(id).await == 1
    })
    .await;
    assert_eq!(probe.calls(), 1);
    stop.cancel();
    task.await.unwrap();
}

async fn a_failed_event_is_retried(rabbitmq: bool) {
    let rig = Rig::new(rabbitmq).await;
    let id = rig.publish().await;
    let probe = Probe::new(Behaviour::FailFirst(2));
    let started = tokio::time::Instant::now();
    let (stop, task) = rig.run(probe.clone());
    rig.until("handled after two failures", || async {
        rig.logged(id).await == 1
    })
    .await;
    assert_eq!(probe.calls(), 3);
    assert!(
        started.elapsed() >= 2 * SPEC.retry_delay,
        "each retry waits for the delay: {:?}",
        started.elapsed()
    );
    assert_eq!(rig.broker.stats(&SPEC).await.unwrap().dead, 0);
    stop.cancel();
    task.await.unwrap();
}

async fn an_event_is_dead_lettered_after_max_attempts(rabbitmq: bool) {
    let rig = Rig::new(rabbitmq).await;
    let id = rig.publish().await;
    let probe = Probe::new(Behaviour::Fail);
    let (stop, task) = rig.run(probe.clone());
    rig.until("dead-lettered", || async {
        rig.broker.stats(&SPEC).await.unwrap().dead == 1
    })
    .await;
    tokio::time::sleep(2 * SPEC.retry_delay).await;
    assert_eq!(
        probe.calls(),
        SPEC.max_attempts,
        "no attempt after the last"
    );
    assert_eq!(rig.broker.stats(&SPEC).await.unwrap().ready, 0);
    assert_eq!(rig.logged(id).await, 0, "every failed attempt rolled back");
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn rabbitmq_handles_an_event_once() {
    an_event_is_handled_once(true).await;
}

#[tokio::test]
async fn postgresql_handles_an_event_once() {
    an_event_is_handled_once(false).await;
}

#[tokio::test]
async fn rabbitmq_redelivers_after_a_consumer_is_killed_before_its_ack() {
    an_event_survives_a_consumer_killed_before_its_ack(true).await;
}

#[tokio::test]
async fn postgresql_redelivers_after_a_consumer_is_killed_before_its_ack() {
    an_event_survives_a_consumer_killed_before_its_ack(false).await;
}

#[tokio::test]
async fn rabbitmq_retries_a_failed_event() {
    a_failed_event_is_retried(true).await;
}

#[tokio::test]
async fn postgresql_retries_a_failed_event() {
    a_failed_event_is_retried(false).await;
}

#[tokio::test]
async fn rabbitmq_dead_letters_after_max_attempts() {
    an_event_is_dead_lettered_after_max_attempts(true).await;
}

#[tokio::test]
async fn postgresql_dead_letters_after_max_attempts() {
    an_event_is_dead_lettered_after_max_attempts(false).await;
}
