//! The timeseries component (5006): `POST /timeseries/ingest` (devices, patients and care teams
//! send samples; see [`ingest`]), the queries (a stream raw or bucketed, a patient's latest values
//! and downsampled vitals, an ECG window; see [`queries`]) and the sample-table upkeep — partitions created a week ahead,
//! those older than `TELEMETRY_RETENTION_DAYS` dropped, idempotency records older than a day
//! forgotten — hourly.

mod ingest;
mod queries;

use std::sync::Arc;
use std::time::Duration;

use hg_domain::telemetry;
use hg_platform::{Component, Platform, db};
use utoipa_axum::routes;

use crate::api::Api;
use crate::component::{Descriptor, Started};

/// Every route of the timeseries component.
pub fn api() -> Api {
    Api::new()
        .with(routes!(ingest::ingest))
        .with(routes!(queries::stream))
        .with(routes!(queries::ecg))
        .with(routes!(queries::latest))
        .with(routes!(queries::vitals))
}

/// The timeseries component: its ingest state (the bound on concurrent batches) is its own.
pub const DESCRIPTOR: Descriptor = Descriptor {
    start: |platform, _| {
        let state = Arc::new(ingest::Ingest::new(platform));
        let mut started = Started::routes(axum::Router::new());
        started.inner = Box::new(move |r| r.layer(axum::Extension(state)));
        started.tasks.push(Box::pin(run(
            platform.clone(),
            platform.settings.telemetry.retention_days,
        )));
        Ok(started)
    },
    ..Descriptor::api(Component::Timeseries, api)
};

/// Creates partitions for yesterday through a week ahead, and drops those past retention.
pub async fn sample_partitions_once(
    platform: &Platform,
    retention_days: i32,
) -> Result<(), db::DbError> {
    telemetry::ensure_sample_partitions(&platform.db, 1, 7).await?;
    let dropped = telemetry::drop_sample_partitions(&platform.db, retention_days).await?;
    telemetry::forget_idempotency_keys(&platform.db).await?;
    if dropped > 0 {
        tracing::info!(
            dropped,
            retention_days,
            "dropped sample partitions past retention"
        );
    }
    Ok(())
}

/// Runs [`sample_partitions_once`] now and every hour until shutdown; failures are logged and retried.
pub async fn run(platform: Platform, retention_days: i32) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = platform.shutdown.cancelled() => break,
            _ = tick.tick() => {
                if let Err(e) = sample_partitions_once(&platform, retention_days).await {
                    tracing::warn!(error = %e, "sample partition upkeep failed; retrying in an hour");
                }
            }
        }
    }
}
