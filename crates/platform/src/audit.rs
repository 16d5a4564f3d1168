//! Audit entries (spec/04 "Audit"): every component records what happened by writing an
//! `audit.recorded` event to the outbox, in the transaction of the change it describes; the audit
//! component consumes these events and appends them, hash-chained, to `audit_logs`.

use std::net::IpAddr;

use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::db::DbError;
use crate::events::{NewEvent, enqueue};

/// The event type audit entries travel as.
pub const EVENT_TYPE: &str = "audit.recorded";

/// Who did it.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum ActorType {
    User,
    Patient,
    Device,
    System,
    ApiClient,
}

/// One audit entry.
#[derive(Clone, Debug, Serialize)]
pub struct AuditEntry {
    /// Kind of actor.
    pub actor_type: ActorType,
    /// The actor's id, when known.
    pub actor_id: Option<Uuid>,
    /// A readable actor name (an e-mail, a component).
    pub actor_label: Option<String>,
    /// Upper-case action code, e.g. `PATIENT_READ`, `API_KEY_ABUSE`.
    pub action: String,
    /// Entity kind, e.g. `patient`.
    pub entity: Option<String>,
    /// Entity id.
    pub entity_id: Option<String>,
    /// Tenant.
    pub org_id: Option<Uuid>,
    /// Client address.
    pub ip: Option<IpAddr>,
    /// Request id.
    pub request_id: Option<String>,
    /// Anything else worth keeping (never secrets or health data beyond what the entry is about).
    pub details: Value,
}

impl AuditEntry {
    /// An entry with only the action set; fill the rest with struct update syntax.
    pub fn new(actor_type: ActorType, action: &str) -> Self {
        Self {
            actor_type,
            actor_id: None,
            actor_label: None,
            action: action.to_owned(),
            entity: None,
            entity_id: None,
            org_id: None,
            ip: None,
            request_id: None,
            details: Value::Object(Default::default()),
        }
    }
}

/// Writes `entry` to the outbox on `conn`; call it inside the change's transaction so that either both
/// are stored or neither.
pub async fn record(conn: &mut PgConnection, entry: AuditEntry) -> Result<Uuid, DbError> {
    let data = serde_json::to_value(&entry).unwrap_or(Value::Null);
    enqueue(
        conn,
        NewEvent {
            event_type: EVENT_TYPE.to_owned(),
            aggregate: "audit".to_owned(),
            aggregate_id: None,
            org_id: entry.org_id,
            actor: Some(serde_json::json!({
                "type": entry.actor_type,
                "id": entry.actor_id,
                "label": entry.actor_label,
            })),
            request_id: entry.request_id.clone(),
            data,
        },
    )
    .await
}
