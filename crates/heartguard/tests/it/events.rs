//! The outbox and its relay: events committed with a change reach RabbitMQ (confirmed, persistent,
//! with their id and request id); events of a rolled-back change never exist; while the broker is
//! down they wait in the outbox; the relay publishes promptly what its process enqueues.

use std::time::Duration;

use futures::StreamExt;
use hg_platform::events::{
    AmqpBroker, Broker, EventMessage, InProcessBroker, NewEvent, enqueue, relay_once, run_relay,
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
async fn the_in_process_bus_delivers_relayed_events_to_subscribers() {
    let db = TestDb::new().await;
    let bus = InProcessBroker::new();
    let mut rx = bus.subscribe();
    let mut tx = db.pool.begin().await.unwrap();
    let id = enqueue(&mut tx, event("req-4")).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(relay_once(&db.pool, &bus, 100).await.unwrap(), 1);
    assert_eq!(rx.recv().await.unwrap().id, id);
}

#[tokio::test]
async fn the_relay_publishes_an_event_soon_after_this_process_enqueues_it() {
    let db = TestDb::new().await;
    let bus = std::sync::Arc::new(InProcessBroker::new());
    let mut rx = bus.subscribe();
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
