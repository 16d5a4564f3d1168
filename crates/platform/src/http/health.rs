//! `GET /health` (liveness, no dependencies), `GET /<prefix>/health` for each owned prefix,
//! `GET /ready` (PostgreSQL, Redis, RabbitMQ as the component needs them; 503 naming the failed ones)
//! and `GET /metrics` (Prometheus text, not an envelope).

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::future::join_all;
use http::StatusCode;
use http::header::CONTENT_TYPE;
use serde_json::{Map, Value, json};

use super::envelope::{ApiError, ApiResponse, plain_document};
use crate::component::Component;
use crate::context::Platform;

/// How long one readiness check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness, readiness and metrics routes of `component`.
pub fn routes(component: Component) -> Router<Platform> {
    let live = move || async move { liveness(component) };
    let mut router = Router::new()
        .route("/health", get(live))
        .route("/metrics", get(metrics))
        .route(
            "/ready",
            get(move |State(p): State<Platform>| readiness(component, p)),
        );
    for prefix in component.prefixes() {
        router = router.route(&format!("/{prefix}/health"), get(live));
    }
    router
}

fn liveness(component: Component) -> Response {
    plain_document(
        StatusCode::OK,
        json!({"service": component.name(), "status": "healthy"}),
    )
}

async fn readiness(component: Component, platform: Platform) -> Response {
    let results = join_all(component.dependencies().iter().map(|dep| {
        let platform = platform.clone();
        async move { (*dep, platform.check(*dep, CHECK_TIMEOUT).await) }
    }))
    .await;
    let mut checks = Map::new();
    let mut failed = Vec::new();
    for (dep, result) in results {
        let entry = match result {
            Ok(kind) => json!({"status": "up", "kind": kind}),
            Err(reason) => {
                tracing::warn!(component = component.name(), dependency = dep.name(), reason = %reason, "not ready");
                failed.push(dep.name());
                json!({"status": "down"})
            }
        };
        checks.insert(dep.name().to_owned(), entry);
    }
    if failed.is_empty() {
        ApiResponse::ok(json!({"service": component.name(), "status": "ready", "checks": checks}))
            .into_response()
    } else {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "HG-NOT-READY",
            format!("not ready: {} unavailable", failed.join(", ")),
        )
        .detail("service", component.name())
        .detail("failed", &failed)
        .detail("checks", Value::Object(checks))
        .retry_after(5)
        .into_response()
    }
}

/// Prometheus text. Not an envelope: the negotiation layer lets it through whatever `Accept` says.
async fn metrics(State(p): State<Platform>) -> Response {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        p.metrics.render(),
    )
        .into_response()
}
