//! The audit component: the consumer's hash chain (stored once, verifiable, tamper-evident, not
//! alterable by the services' role) and the routes that read, export and verify it.

mod api;
mod chain;

use chrono::Utc;
use hg_platform::audit::{Action, ActorType, AuditEntry, EVENT_TYPE};
use hg_platform::events::EventMessage;
use hg_platform::events::consumer::claim_and_handle;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

/// An `audit.recorded` event as the outbox would carry it.
fn event(org: Option<Uuid>, action: Action, details: Value) -> EventMessage {
    let entry = AuditEntry::new(ActorType::User, action)
        .actor(Uuid::new_v4(), Some("someone@example.org".into()))
        .entity("patient", Uuid::new_v4())
        .org(org)
        .request(&hg_platform::audit::RequestMeta {
            ip: Some("192.0.2.7".parse().unwrap()),
            request_id: Some("req-1".into()),
            client: None,
        })
        .details(details);
    EventMessage {
        id: Uuid::new_v4(),
        event_type: EVENT_TYPE.into(),
        occurred_at: Utc::now(),
        org_id: org,
        actor: None,
        request_id: Some("req-1".into()),
        data: serde_json::to_value(&entry).unwrap(),
    }
}

/// Hands `e` to the audit consumer in its own transaction, as the broker does.
async fn consume(pool: &PgPool, e: &EventMessage) {
    let mut tx = pool.begin().await.unwrap();
    claim_and_handle(&mut tx, &hg_services::audit::AuditLog, e)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// `n` events consumed one after the other.
async fn chain_of(pool: &PgPool, n: usize) -> Vec<EventMessage> {
    let mut events = Vec::new();
    for i in 0..n {
        let e = event(None, Action::PatientRead, json!({"what": "record", "i": i}));
        consume(pool, &e).await;
        events.push(e);
    }
    events
}
