//! The inference component (5007): the `inference-engine` consumer, which scores the AF model on
//! every ingested batch of an RR stream and raises ARRHYTHMIA alerts (`hg_domain::detection::
//! inference`), and the routes to read inferences and models and to evaluate a model against ground
//! truth (see [`handlers`]).

mod handlers;

use std::sync::Arc;

use async_trait::async_trait;
use hg_domain::alert::EscalationPolicy;
use hg_domain::detection::engine::Ingested;
use hg_domain::detection::inference;
use hg_platform::Component;
use hg_platform::events::{Consumer, ConsumerError, ConsumerSpec, EventMessage};
use sqlx::PgConnection;
use utoipa_axum::routes;

use crate::api::Api;
use crate::component::{Descriptor, Started};

/// The model runner's queue: every ingested batch (it scores the RR streams).
pub const INFERENCE_ENGINE: ConsumerSpec = ConsumerSpec {
    prefetch: 32,
    retry_delay: std::time::Duration::from_secs(2),
    ..ConsumerSpec::new("inference-engine", &["telemetry.ingested"])
};

/// Every route of the inference component.
pub fn api() -> Api {
    Api::new()
        .with(routes!(handlers::inferences, handlers::record))
        .with(routes!(handlers::run))
        .with(routes!(handlers::models, handlers::create_model))
        .with(routes!(handlers::model, handlers::update_model))
        .with(routes!(handlers::evaluation))
}

/// The inference component.
pub const DESCRIPTOR: Descriptor = Descriptor {
    consumers: &[&INFERENCE_ENGINE],
    start: |platform, _| {
        let policy = crate::alert::policy(platform);
        let mut started = Started::routes(axum::Router::new());
        started.inner = Box::new(move |r| r.layer(axum::Extension(policy)));
        started.consumers.push(Arc::new(InferenceEngine { policy }));
        Ok(started)
    },
    ..Descriptor::api(Component::Inference, api)
};

/// Scores the AF model on each ingested RR batch.
pub struct InferenceEngine {
    policy: EscalationPolicy,
}

#[async_trait]
impl Consumer for InferenceEngine {
    fn spec(&self) -> &ConsumerSpec {
        &INFERENCE_ENGINE
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
        for s in data.streams.iter().filter(|s| s.signal_type == "HRV") {
            let scored =
                inference::on_rr_stream(conn, org, s.patient_id, s.stream_id, s.from, &self.policy)
                    .await
                    .map_err(|e| ConsumerError::Retry(e.to_string()))?;
            metrics::counter!("inference_windows_total").increment(scored.len() as u64);
        }
        Ok(())
    }
}
