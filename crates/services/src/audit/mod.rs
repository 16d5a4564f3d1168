//! The audit component (5011): the `audit-log` consumer, which appends every `audit.recorded` event
//! once to the hash-chained `audit_logs` (`hg_domain::audit::chain`), and the routes that read,
//! export and verify the log and give a patient their access log (see [`handlers`]).

mod handlers;

use std::sync::Arc;

use async_trait::async_trait;
use hg_domain::audit::chain::{self, Recorded};
use hg_platform::Component;
use hg_platform::audit::EVENT_TYPE;
use hg_platform::events::{Consumer, ConsumerError, ConsumerSpec, EventMessage};
use sqlx::PgConnection;
use utoipa_axum::routes;

use crate::api::Api;
use crate::component::{Descriptor, Started};

/// The audit log's queue: every audit event. One chain means one writer at a time (an advisory
/// lock), so a larger prefetch would only queue behind it.
pub const AUDIT_LOG: ConsumerSpec = ConsumerSpec {
    prefetch: 32,
    max_attempts: 10,
    retry_delay: std::time::Duration::from_secs(2),
    ..ConsumerSpec::new("audit-log", &[EVENT_TYPE])
};

/// Every route of the audit component.
pub fn api() -> Api {
    Api::new()
        .with(routes!(handlers::logs))
        .with(routes!(handlers::export))
        .with(routes!(handlers::verify))
        .with(routes!(handlers::access_log))
}

/// The audit component.
pub const DESCRIPTOR: Descriptor = Descriptor {
    consumers: &[&AUDIT_LOG],
    start: |_, _| {
        let mut started = Started::routes(axum::Router::new());
        started.consumers.push(Arc::new(AuditLog));
        Ok(started)
    },
    ..Descriptor::api(Component::Audit, api)
};

/// Appends audit events to the chain.
pub struct AuditLog;

#[async_trait]
impl Consumer for AuditLog {
    fn spec(&self) -> &ConsumerSpec {
        &AUDIT_LOG
    }

    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &EventMessage,
    ) -> Result<(), ConsumerError> {
        let entry = Recorded::parse(&event.data).map_err(ConsumerError::Reject)?;
        let stored = chain::append(conn, event.id, event.occurred_at, &entry).await?;
        metrics::counter!("audit_entries_total", "outcome" => if stored.is_some() { "stored" } else { "duplicate" })
            .increment(1);
        Ok(())
    }
}
