//! Domain events (spec/05 "Events"): the message shape, the transactional outbox they are written to,
//! the relay that publishes them, the broker behind a trait — RabbitMQ (`AMQP_URL`, plain or TLS)
//! or, without one, queues in PostgreSQL with the same guarantees — and the consumer framework
//! ([`consumer`]): durable queues, acknowledgement after commit, retries after a delay, dead letters,
//! and dedupe through `processed_events`.

pub mod amqp;
pub mod consumer;
pub mod pg;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use amqp::{AmqpBroker, amqp_connect};
pub use consumer::{Consumer, ConsumerError, ConsumerSpec, QueueStats};
pub use pg::PgBroker;

use crate::db::DbError;

/// One event as it travels on the bus.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EventMessage {
    /// Unique id; consumers dedupe on it.
    pub id: Uuid,
    /// Routing key `<aggregate>.<event>`, e.g. `alert.created`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the change happened.
    pub occurred_at: DateTime<Utc>,
    /// Tenant, when the event belongs to one.
    pub org_id: Option<Uuid>,
    /// Who caused it (`{"type":"user","id":…}`).
    pub actor: Option<Value>,
    /// The request that caused it.
    pub request_id: Option<String>,
    /// Event-specific content.
    pub data: Value,
}

/// The broker could not take the event; the outbox keeps it for a later attempt.
#[derive(Debug, thiserror::Error)]
#[error("broker unavailable: {0}")]
pub struct BrokerError(pub String);

/// Where events are published, and where consumers get them from.
#[async_trait]
pub trait Broker: Send + Sync {
    /// Publishes one event and returns once the broker has stored it: every queue bound to its
    /// type holds it.
    async fn publish(&self, event: &EventMessage) -> Result<(), BrokerError>;
    /// Checks the broker is reachable.
    async fn ping(&self) -> Result<(), BrokerError>;
    /// `rabbitmq` or `postgresql`, for readiness answers.
    fn kind(&self) -> &'static str;
    /// Creates `spec`'s queues and bindings (idempotent). Every process declares every consumer of
    /// the installation at start, so no event published afterwards is lost while a consumer is down.
    async fn declare(&self, spec: &ConsumerSpec) -> Result<(), BrokerError>;
    /// Delivers the events of `consumer`'s queue to it until `shutdown`: each one handled in a
    /// transaction on `pool` with its `processed_events` row, acknowledged only after the commit,
    /// retried after `spec.retry_delay` when it fails, dead-lettered after `spec.max_attempts`.
    async fn consume(&self, pool: PgPool, consumer: Arc<dyn Consumer>, shutdown: CancellationToken);
    /// How many events wait in `spec`'s queue, and how many were dead-lettered.
    async fn stats(&self, spec: &ConsumerSpec) -> Result<QueueStats, BrokerError>;
}

/// An event to be written to the outbox in the caller's transaction.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// Routing key, e.g. `alert.created`.
    pub event_type: String,
    /// Aggregate name, e.g. `alert`.
    pub aggregate: String,
    /// Aggregate id.
    pub aggregate_id: Option<Uuid>,
    /// Tenant.
    pub org_id: Option<Uuid>,
    /// Who caused it.
    pub actor: Option<Value>,
    /// The request that caused it.
    pub request_id: Option<String>,
    /// Event content.
    pub data: Value,
}

/// Writes `event` to the outbox on `conn` (which should be inside the transaction of the change it
/// describes) and returns its id. If this fails, the change must fail too.
pub async fn enqueue(conn: &mut PgConnection, event: NewEvent) -> Result<Uuid, DbError> {
    let id = Uuid::now_v7();
    sqlx::query!(
        "insert into outbox_events (id, aggregate, aggregate_id, event_type, org_id, actor, request_id, payload)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
        id,
        &event.aggregate,
        event.aggregate_id,
        &event.event_type,
        event.org_id,
        event.actor.as_ref(),
        event.request_id.as_deref(),
        &event.data,
    )
    .execute(conn)
    .await?;
    RELAY_WAKE.send_modify(|n| *n = n.wrapping_add(1));
    Ok(id)
}

/// Wakes this process's relays when an event is enqueued: a counter every relay watches, so none
/// misses a wake that came while it was busy. (A PostgreSQL `NOTIFY` from the inserting transaction
/// did this before migration 0009; PostgreSQL serializes the commits of notifying transactions, WAL
/// flush included, which held audited reads back.)
static RELAY_WAKE: std::sync::LazyLock<tokio::sync::watch::Sender<u64>> =
    std::sync::LazyLock::new(|| tokio::sync::watch::Sender::new(0));

/// Changes whenever this process enqueues an event: consumers that read the outbox wait on it.
pub fn enqueued() -> tokio::sync::watch::Receiver<u64> {
    RELAY_WAKE.subscribe()
}

/// How long the relay lets events gather after a wake: the enqueuing transaction commits meanwhile,
/// and under load one pass publishes the events of many requests.
const RELAY_GATHER: Duration = Duration::from_millis(20);

/// When the relay looks again after a pass a wake started, for events whose transaction committed
/// after that pass.
const RELAY_FOLLOW_UP: Duration = Duration::from_millis(250);

/// An outbox row as the relay and the PostgreSQL broker read it (`id, event_type, org_id, actor,
/// request_id, payload, created_at`).
#[derive(sqlx::FromRow)]
pub(crate) struct OutboxRow {
    id: Uuid,
    event_type: String,
    org_id: Option<Uuid>,
    actor: Option<Value>,
    request_id: Option<String>,
    payload: Value,
    created_at: DateTime<Utc>,
}

impl OutboxRow {
    /// The event as it travels.
    pub(crate) fn into_message(self) -> EventMessage {
        EventMessage {
            id: self.id,
            event_type: self.event_type,
            occurred_at: self.created_at,
            org_id: self.org_id,
            actor: self.actor,
            request_id: self.request_id,
            data: self.payload,
        }
    }
}

/// Publishes up to `batch` unpublished outbox events in order and marks them published; returns how
/// many went out. Stops at the first broker failure, leaving the rest for the next round. Rows are
/// locked with `SKIP LOCKED`, so several relays can run side by side — `FOR NO KEY UPDATE`, which
/// lets the PostgreSQL broker's queue rows reference them meanwhile.
pub async fn relay_once(pool: &PgPool, broker: &dyn Broker, batch: i64) -> Result<usize, DbError> {
    let mut tx = pool.begin().await?;
    let rows: Vec<OutboxRow> = sqlx::query_as!(
        OutboxRow,
        "select id, event_type, org_id, actor, request_id, payload, created_at
           from outbox_events
          where published_at is null
          order by created_at, id
          limit $1
          for no key update skip locked",
        batch
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut published = Vec::with_capacity(rows.len());
    let mut failure = None;
    for row in rows {
        let msg = row.into_message();
        match broker.publish(&msg).await {
            Ok(()) => published.push(msg.id),
            Err(e) => {
                failure = Some((msg.id, e.0));
                break;
            }
        }
    }
    sqlx::query!(
        "update outbox_events set published_at = now() where id = any($1)",
        &published,
    )
    .execute(&mut *tx)
    .await?;
    if let Some((id, error)) = &failure {
        sqlx::query!(
            "update outbox_events set attempts = attempts + 1, last_error = $2 where id = $1",
            id,
            error,
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    if let Some((_, error)) = failure {
        tracing::warn!(error = %error, "outbox relay: broker unavailable, events kept for retry");
    }
    Ok(published.len())
}

/// Runs the relay until `shutdown`: a pass shortly after this process enqueues an event (see
/// [`RELAY_GATHER`]), another soon after that ([`RELAY_FOLLOW_UP`]), and one at least every
/// `interval` for events written by other processes (the CLI) or kept after a broker failure.
pub async fn run_relay(
    pool: PgPool,
    broker: Arc<dyn Broker>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut wake = RELAY_WAKE.subscribe();
    let mut next_wait = interval;
    loop {
        let sent = match relay_once(&pool, broker.as_ref(), 500).await {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(error = %e, "outbox relay: database unavailable");
                0
            }
        };
        if sent == 500 {
            continue;
        }
        let woken = tokio::select! {
            _ = shutdown.cancelled() => break,
            woken = tokio::time::timeout(next_wait, wake.changed()) => woken.is_ok(),
        };
        if !woken {
            next_wait = interval;
            continue;
        }
        next_wait = RELAY_FOLLOW_UP;
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(RELAY_GATHER) => {}
        }
    }
}
