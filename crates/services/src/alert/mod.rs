//! The alert component (5008): the alert API (list, one alert with its history, manual alerts,
//! acknowledge, resolve, close, assign; see [`handlers`]) and the `alert-engine` consumer, which
//! evaluates the threshold rules on every `telemetry.ingested` event and raises alerts
//! (`hg_domain::detection`), the live feed (`GET /alerts/stream`, see [`live`]), rule management,
//! and a watch task: escalation on the stored deadlines and DEVICE_OFFLINE for silent devices
//! (`hg_domain::alert::watch`). The deadlines (`ALERT_ESCALATE_*`) and `DEVICE_OFFLINE_AFTER` belong
//! to this component.

mod handlers;
mod live;

use std::sync::Arc;

use async_trait::async_trait;
use hg_domain::alert::{EscalationPolicy, watch};
use hg_domain::detection::engine::{self, Ingested};
use hg_platform::events::{Consumer, ConsumerError, ConsumerSpec, EventMessage};
use hg_platform::{Component, Platform};
use sqlx::PgConnection;
use utoipa_axum::routes;

use crate::api::Api;
use crate::component::{Descriptor, Started};

/// The rule engine's queue: every ingested batch.
pub const ALERT_ENGINE: ConsumerSpec = ConsumerSpec {
    prefetch: 32,
    retry_delay: std::time::Duration::from_secs(2),
    ..ConsumerSpec::new("alert-engine", &["telemetry.ingested"])
};

/// Every route of the alert component.
pub fn api() -> Api {
    Api::new()
        .with(routes!(handlers::list, handlers::create))
        .with(routes!(handlers::mine))
        .with(routes!(handlers::get))
        .with(routes!(handlers::ack))
        .with(routes!(handlers::resolve))
        .with(routes!(handlers::close))
        .with(routes!(handlers::assign))
        .with(routes!(handlers::stream))
        .with(routes!(handlers::stats))
        .with(routes!(handlers::rules, handlers::create_rule))
        .with(routes!(
            handlers::rule,
            handlers::update_rule,
            handlers::delete_rule
        ))
}

/// The escalation deadlines this process applies.
pub fn policy(platform: &Platform) -> EscalationPolicy {
    let a = &platform.settings.alerts;
    EscalationPolicy {
        critical: chrono::Duration::seconds(a.escalate_critical_s),
        high: chrono::Duration::seconds(a.escalate_high_s),
        medium: chrono::Duration::seconds(a.escalate_medium_s),
    }
}

/// The alert component.
pub const DESCRIPTOR: Descriptor = Descriptor {
    consumers: &[&ALERT_ENGINE],
    start: |platform, _| {
        let policy = policy(platform);
        let mut started = Started::routes(axum::Router::new());
        started.inner = Box::new(move |r| r.layer(axum::Extension(policy)));
        started.consumers.push(Arc::new(AlertEngine { policy }));
        started
            .tasks
            .push(Box::pin(watch(platform.clone(), policy)));
        Ok(started)
    },
    ..Descriptor::api(Component::Alert, api)
};

/// Escalates due alerts every second and looks for silent devices every 15 s, until shutdown;
/// failures are logged and retried on the next tick.
pub async fn watch(platform: Platform, policy: EscalationPolicy) {
    let offline_after = chrono::Duration::seconds(platform.settings.alerts.device_offline_after_s);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            _ = platform.shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        match watch::escalate_due(&platform.db, &policy, 200).await {
            Ok(0) => {}
            Ok(n) => {
                metrics::counter!("alerts_escalated_total").increment(n as u64);
                tracing::info!(escalated = n, "alerts escalated");
            }
            Err(e) => tracing::warn!(error = %e, "alert escalation failed; retrying"),
        }
        if ticks.is_multiple_of(15) {
            match watch::offline_sweep(&platform.db, offline_after, &policy).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(devices = n, "silent devices raised DEVICE_OFFLINE"),
                Err(e) => tracing::warn!(error = %e, "device offline sweep failed; retrying"),
            }
        }
        ticks += 1;
    }
}

/// Evaluates the rules on each ingested batch.
pub struct AlertEngine {
    policy: EscalationPolicy,
}

#[async_trait]
impl Consumer for AlertEngine {
    fn spec(&self) -> &ConsumerSpec {
        &ALERT_ENGINE
    }

    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &EventMessage,
    ) -> Result<(), ConsumerError> {
        let org = event
            .org_id
            .ok_or_else(|| ConsumerError::Reject("telemetry.ingested without org_id".into()))?;
        let data: Ingested = serde_json::from_value(event.data.clone())
            .map_err(|e| ConsumerError::Reject(format!("malformed telemetry.ingested: {e}")))?;
        let raised = engine::on_ingested(conn, org, &data, &self.policy)
            .await
            .map_err(|e| ConsumerError::Retry(e.to_string()))?;
        for r in &raised {
            metrics::counter!("alerts_raised_total", "outcome" => format!("{:?}", r.outcome).to_lowercase())
                .increment(1);
        }
        Ok(())
    }
}
