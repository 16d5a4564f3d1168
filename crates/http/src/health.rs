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
use hg_platform::events::ConsumerSpec;

/// How long one readiness check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness, readiness and metrics routes of `component`, which runs `consumers`.
pub fn routes(
    component: Component,
    consumers: &'static [&'static ConsumerSpec],
) -> Router<Platform> {
    let live = move || async move { liveness(component) };
    let mut router = Router::new().route("/health", get(live));
    // The admin component's port is public (behind nginx): its metrics have their own listener.
    if component != Component::Admin {
        router = router.route("/metrics", get(metrics));
    }
    let mut router = router.route(
        "/ready",
        get(move |State(p): State<Platform>| readiness(component, consumers, p)),
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

/// How many events wait in each of `consumers`' queues and how many were dead-lettered, also
/// recorded as the gauges `events_queue_ready` and `events_queue_dead` (label `consumer`). A queue
/// the broker cannot count now is `{"status": "unknown"}`.
pub async fn consumer_stats(
    platform: &Platform,
    consumers: &[&ConsumerSpec],
) -> Map<String, Value> {
    let results = join_all(consumers.iter().map(|spec| async move {
        let stats = tokio::time::timeout(CHECK_TIMEOUT, platform.broker.stats(spec)).await;
        (spec.name, stats)
    }))
    .await;
    let mut out = Map::new();
    for (name, stats) in results {
        let entry = match stats {
            Ok(Ok(s)) => {
                metrics::gauge!("events_queue_ready", "consumer" => name).set(s.ready as f64);
                metrics::gauge!("events_queue_dead", "consumer" => name).set(s.dead as f64);
                json!({"ready": s.ready, "dead": s.dead})
            }
            _ => json!({"status": "unknown"}),
        };
        out.insert(name.to_owned(), entry);
    }
    out
}

async fn readiness(
    component: Component,
    consumers: &'static [&'static ConsumerSpec],
    platform: Platform,
) -> Response {
    let (results, queues) = tokio::join!(
        join_all(component.dependencies().iter().map(|dep| {
            let platform = platform.clone();
            async move { (*dep, platform.check(*dep, CHECK_TIMEOUT).await) }
        })),
        consumer_stats(&platform, consumers)
    );
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
        let mut doc = json!({"service": component.name(), "status": "ready", "checks": checks});
        // Lag and dead letters are reported, not judged: a backlog is no reason to stop serving.
        if !queues.is_empty() {
            doc["consumers"] = Value::Object(queues);
        }
        ApiResponse::ok(doc).into_response()
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
