//! The outbox and its relay: events committed with a change reach RabbitMQ (confirmed, persistent,
//! with their id and request id); events of a rolled-back change never exist; while the broker is
//! down they wait in the outbox; the relay publishes promptly what its process enqueues.

use std::time::Duration;

use futures::StreamExt;
use hg_platform::events::consumer::{pattern_matches, pattern_regex};
use hg_platform::events::{
    AmqpBroker, Broker, BrokerError, ConsumerSpec, EventMessage, NewEvent, PgBroker, QueueStats,
    enqueue, relay_once, run_relay,
};
use hg_test_support::TestDb;
use hg_test_support::services::TestBroker;
use hg_test_support::tls::free_port;
use uuid::Uuid;

fn event(request_id: &str) -> NewEvent {
    NewEvent {
        event_type: "alert.created".into(),
        aggregate: "alert".into(),
        aggregate_id: Some(Uuid::new_v4()),
        org_id: Some(Uuid::new_v4()),
        actor: Some(serde_json::json!({"type": "system"})),
        request_id: Some(request_id.into()),
        data: serde_json::json!({"level": "high"}),
    }
}

async fn unpublished(db: &TestDb) -> i64 {
    sqlx::query_scalar("select count(*) from outbox_events where published_at is null")
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn committed_events_reach_rabbitmq_with_their_id_and_request_id() {
    let db = TestDb::new().await;
    let ns = TestBroker::new();
    let broker = AmqpBroker::new(ns.config());
    let (_conn, mut consumer) = ns.bind_queue("alert.*").await;

    let mut tx = db.pool.begin().await.unwrap();
    let id = enqueue(&mut tx, event("req-1")).await.unwrap();
    tx.commit().await.unwrap();

    assert_eq!(relay_once(&db.pool, &broker, 100).await.unwrap(), 1);
    assert_eq!(unpublished(&db).await, 0);
    let delivery = tokio::time::timeout(Duration::from_secs(5), consumer.next())
        .await
        .expect("the event arrives")
        .unwrap()
        .unwrap();
    let msg: EventMessage = serde_json::from_slice(&delivery.data).unwrap();
    assert_eq!(msg.id, id);
    assert_eq!(msg.event_type, "alert.created");
    assert_eq!(msg.request_id.as_deref(), Some("req-1"));
    assert_eq!(
        delivery
            .properties
            .message_id()
            .as_ref()
            .map(|s| s.as_str()),
        Some(id.to_string().as_str())
    );
    assert_eq!(*delivery.properties.delivery_mode(), Some(2), "persistent");
    let headers = delivery.properties.headers().as_ref().unwrap();
    match headers.inner().get("x-request-id") {
        Some(lapin::types::AMQPValue::LongString(s)) => assert_eq!(s.to_string(), "req-1"),
        other => panic!("x-request-id header: {other:?}"),
    }
    // Nothing is published twice.
    assert_eq!(relay_once(&db.pool, &broker, 100).await.unwrap(), 0);
}

#[tokio::test]
async fn a_rolled_back_change_leaves_no_event() {
    let db = TestDb::new().await;
    let mut tx = db.pool.begin().await.unwrap();
    enqueue(&mut tx, event("req-2")).await.unwrap();
    tx.rollback().await.unwrap();
    let n: i64 = sqlx::query_scalar("select count(*) from outbox_events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn events_wait_in_the_outbox_while_the_broker_is_down() {
    let db = TestDb::new().await;
    let mut tx = db.pool.begin().await.unwrap();
    enqueue(&mut tx, event("req-3")).await.unwrap();
    tx.commit().await.unwrap();

    let mut down = TestBroker::new().config();
    down.url = hg_platform::config::Secret::new(format!(
        "amqp://guest:guest@127.0.0.1:{}/%2f",
        free_port()
    ));
    let dead = AmqpBroker::new(down);
    assert!(dead.ping().await.is_err());
    assert_eq!(relay_once(&db.pool, &dead, 100).await.unwrap(), 0);
    assert_eq!(unpublished(&db).await, 1);
    let (attempts, error): (i32, Option<String>) =
        sqlx::query_as("select attempts, last_error from outbox_events")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(attempts, 1);
    assert!(error.is_some());

    let ns = TestBroker::new();
    let (_conn, mut consumer) = ns.bind_queue("#").await;
    assert_eq!(
        relay_once(&db.pool, &AmqpBroker::new(ns.config()), 100)
            .await
            .unwrap(),
        1
    );
    assert_eq!(unpublished(&db).await, 0);
    assert!(
        tokio::time::timeout(Duration::from_secs(5), consumer.next())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn the_postgresql_broker_queues_relayed_events_for_the_consumers_bound_to_them() {
    let db = TestDb::new().await;
    let broker = PgBroker::new(db.pool.clone());
    const ALERTS: ConsumerSpec = ConsumerSpec::new("alerts-test", &["alert.*"]);
    const DEVICES: ConsumerSpec = ConsumerSpec::new("devices-test", &["device.#"]);
    broker.declare(&ALERTS).await.unwrap();
    broker.declare(&DEVICES).await.unwrap();
    let mut tx = db.pool.begin().await.unwrap();
    let id = enqueue(&mut tx, event("req-4")).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(relay_once(&db.pool, &broker, 100).await.unwrap(), 1);
    assert_eq!(broker.stats(&ALERTS).await.unwrap().ready, 1);
    assert_eq!(broker.stats(&DEVICES).await.unwrap().ready, 0);
    // Publishing again (a relay that crashed before marking the row) queues nothing twice.
    let again = EventMessage {
        id,
        event_type: "alert.created".into(),
        occurred_at: chrono::Utc::now(),
        org_id: None,
        actor: None,
        request_id: None,
        data: serde_json::json!({}),
    };
    broker.publish(&again).await.unwrap();
    assert_eq!(broker.stats(&ALERTS).await.unwrap().ready, 1);
}

#[tokio::test]
async fn topic_patterns_route_the_same_in_postgresql_as_in_rabbitmq() {
    let db = TestDb::new().await;
    for (pattern, event) in [
        ("alert.*", "alert.created"),
        ("alert.*", "alert"),
        ("alert.*", "alert.a.b"),
        ("alert.#", "alert"),
        ("alert.#", "alert.a.b"),
        ("#.created", "created"),
        ("#.created", "x.createdx"),
        ("a.#.b", "a.b"),
        ("a.#.b", "a.x.y.b"),
        ("a.#.b", "a.x.y"),
        ("#", "a.b"),
    ] {
        let matched: bool = sqlx::query_scalar("select $1 ~ $2")
            .bind(event)
            .bind(pattern_regex(pattern))
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(
            matched,
            pattern_matches(pattern, event),
            "{pattern} vs {event}"
        );
    }
}

/// A broker that hands every published event to a channel: what the relay sends, in order.
struct Recording(tokio::sync::mpsc::UnboundedSender<EventMessage>);

#[async_trait::async_trait]
impl Broker for Recording {
    async fn publish(&self, event: &EventMessage) -> Result<(), BrokerError> {
        self.0
            .send(event.clone())
            .map_err(|e| BrokerError(e.to_string()))
    }
    async fn ping(&self) -> Result<(), BrokerError> {
        Ok(())
    }
    fn kind(&self) -> &'static str {
        "recording"
    }
    async fn declare(&self, _: &ConsumerSpec) -> Result<(), BrokerError> {
        Ok(())
    }
    async fn consume(
        &self,
        _: sqlx::PgPool,
        _: std::sync::Arc<dyn hg_platform::events::Consumer>,
        _: tokio_util::sync::CancellationToken,
    ) {
    }
    async fn stats(&self, _: &ConsumerSpec) -> Result<QueueStats, BrokerError> {
        Ok(QueueStats::default())
    }
}

#[tokio::test]
async fn the_relay_publishes_an_event_soon_after_this_process_enqueues_it() {
    let db = TestDb::new().await;
    let (sent, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let bus = std::sync::Arc::new(Recording(sent));
    let shutdown = tokio_util::sync::CancellationToken::new();
    // A polling interval far longer than the test: only the wake can explain a prompt publication.
    let relay = tokio::spawn(run_relay(
        db.pool.clone(),
        bus.clone(),
        Duration::from_secs(600),
        shutdown.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;

    let mut conn = db.pool.acquire().await.unwrap();
    let first = enqueue(&mut conn, event("req-5")).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(3), rx.recv())
        .await
        .expect("published without waiting for the polling interval")
        .unwrap();
    assert_eq!(got.id, first);

    // An event whose transaction commits after the pass its wake started is published by the
    // follow-up pass.
    let mut tx = db.pool.begin().await.unwrap();
    let late = enqueue(&mut tx, event("req-6")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    tx.commit().await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(3), rx.recv())
        .await
        .expect("the follow-up pass publishes a late commit")
        .unwrap();
    assert_eq!(got.id, late);
    // The relay marks rows published after handing them to the broker, in its own commit.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while unpublished(&db).await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "rows marked published"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    shutdown.cancel();
    relay.await.unwrap();
}
