//! Domain events (spec/05 "Events"): the message shape, the transactional outbox they are written to,
//! the relay that publishes them, and the broker behind a trait — RabbitMQ (`AMQP_URL`, plain or TLS)
//! or, in single-process mode, an in-process bus with the same outbox guarantees.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::AmqpConfig;
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

/// Where events are published.
#[async_trait]
pub trait Broker: Send + Sync {
    /// Publishes one event and returns once the broker has confirmed it.
    async fn publish(&self, event: &EventMessage) -> Result<(), BrokerError>;
    /// Checks the broker is reachable.
    async fn ping(&self) -> Result<(), BrokerError>;
    /// `rabbitmq` or `in-process`, for readiness answers.
    fn kind(&self) -> &'static str;
}

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
        ch.exchange_declare(
            self.cfg.exchange.as_str().into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(err)?;
        *guard = Some((conn, ch.clone()));
        Ok(ch)
    }

    async fn reset(&self) {
        *self.state.lock().await = None;
    }
}

#[async_trait]
impl Broker for AmqpBroker {
    async fn publish(&self, event: &EventMessage) -> Result<(), BrokerError> {
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
}

/// The single-process bus: published events go to every subscriber in this process.
pub struct InProcessBroker {
    tx: broadcast::Sender<EventMessage>,
}

impl Default for InProcessBroker {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(4096).0,
        }
    }
}

impl InProcessBroker {
    /// A bus with no subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Receives every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<EventMessage> {
        self.tx.subscribe()
    }
}

#[async_trait]
impl Broker for InProcessBroker {
    async fn publish(&self, event: &EventMessage) -> Result<(), BrokerError> {
        // No subscriber yet is not a failure: the event is marked published like a broker with no
        // bound queue would; durable consumers in this mode read the outbox on start.
        let _ = self.tx.send(event.clone());
        Ok(())
    }

    async fn ping(&self) -> Result<(), BrokerError> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "in-process"
    }
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
    sqlx::query(
        "insert into outbox_events (id, aggregate, aggregate_id, event_type, org_id, actor, request_id, payload)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(&event.aggregate)
    .bind(event.aggregate_id)
    .bind(&event.event_type)
    .bind(event.org_id)
    .bind(&event.actor)
    .bind(&event.request_id)
    .bind(&event.data)
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

#[derive(sqlx::FromRow)]
struct OutboxRow {
    id: Uuid,
    event_type: String,
    org_id: Option<Uuid>,
    actor: Option<Value>,
    request_id: Option<String>,
    payload: Value,
    created_at: DateTime<Utc>,
}

/// Publishes up to `batch` unpublished outbox events in order and marks them published; returns how
/// many went out. Stops at the first broker failure, leaving the rest for the next round. Rows are
/// locked with `SKIP LOCKED`, so several relays can run side by side.
pub async fn relay_once(pool: &PgPool, broker: &dyn Broker, batch: i64) -> Result<usize, DbError> {
    let mut tx = pool.begin().await?;
    let rows: Vec<OutboxRow> = sqlx::query_as(
        "select id, event_type, org_id, actor, request_id, payload, created_at
           from outbox_events
          where published_at is null
          order by created_at, id
          limit $1
          for update skip locked",
    )
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    let mut published = Vec::with_capacity(rows.len());
    let mut failure = None;
    for row in rows {
        let msg = EventMessage {
            id: row.id,
            event_type: row.event_type,
            occurred_at: row.created_at,
            org_id: row.org_id,
            actor: row.actor,
            request_id: row.request_id,
            data: row.payload,
        };
        match broker.publish(&msg).await {
            Ok(()) => published.push(msg.id),
            Err(e) => {
                failure = Some((msg.id, e.0));
                break;
            }
        }
    }
    sqlx::query("update outbox_events set published_at = now() where id = any($1)")
        .bind(&published)
        .execute(&mut *tx)
        .await?;
    if let Some((id, error)) = &failure {
        sqlx::query(
            "update outbox_events set attempts = attempts + 1, last_error = $2 where id = $1",
        )
        .bind(id)
        .bind(error)
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
