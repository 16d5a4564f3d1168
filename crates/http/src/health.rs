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
use hg_platform::component::Component;
use hg_platform::context::Platform;

/// How long one readiness check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness, readiness and metrics routes of `component`.
pub fn routes(component: Component) -> Router<Platform> {
    let live = move || async move { liveness(component) };
    let mut router = Router::new().route("/health", get(live));
    // The admin component's port is public (behind nginx): its metrics have their own listener.
    if component != Component::Admin {
        router = router.route("/metrics", get(metrics));
    }
    let mut router = router.route(
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

/// The admin component's metrics listener (`ADMIN_METRICS_ADDR`): `/metrics` only.
pub fn metrics_routes(platform: &Platform) -> Router {
    let routes = Router::new()
        .route("/metrics", get(metrics))
        .fallback(super::middleware::not_found)
        .with_state(platform.clone());
    super::middleware::standard_layers(routes, "admin-metrics", 1024, 1024)
}

/// Prometheus text. Not an envelope: the negotiation layer lets it through whatever `Accept` says.
/// With `METRICS_TOKEN` set, only `Authorization: Bearer <token>` reads it.
async fn metrics(State(p): State<Platform>, headers: http::HeaderMap) -> Response {
    if let Some(token) = &p.settings.metrics.token {
        use sha2::{Digest, Sha256};
        use subtle::ConstantTimeEq;
        let presented = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let ok: bool = Sha256::digest(presented.as_bytes())
            .ct_eq(&Sha256::digest(token.expose().as_bytes()))
            .into();
        if !ok {
            return ApiError::unauthenticated("metrics need the METRICS_TOKEN bearer token")
                .challenge("Bearer")
                .into_response();
        }
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        p.metrics.render(),
    )
        .into_response()
}
