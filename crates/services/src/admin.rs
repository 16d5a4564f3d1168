//! The admin component (machine 1, behind nginx). The panel's pages arrive with their issue; today it
//! serves the public API edge: `/api/<prefix>/…` is forwarded to the gateway
//! (`MICROSERVICES_GATEWAY_URL`) with `MICROSERVICES_API_KEY` added, so browsers and apps never hold
//! the internal key. Clients are rate limited by address; `X-Forwarded-For` is believed only from
//! `TRUSTED_PROXIES` (nginx).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use hg_http::ApiError;
use hg_http::client_ip::{Peer, client_ip};
use hg_http::rate_limit::{Decision, Limiter};
use hg_platform::Platform;
use http::{HeaderName, HeaderValue, StatusCode};
use ipnet::IpNet;

use crate::gateway::X_INTERNAL_API_KEY;
use crate::proxy::{ForwardError, Forwarder, Origin, Target};

/// How long the gateway may take (its own telemetry deadline is 30 s).
const EDGE_TIMEOUT: Duration = Duration::from_secs(35);

struct Edge {
    forwarder: Forwarder,
    /// `scheme://host:port` of the gateway.
    origin: Origin,
    /// Path prefix of the gateway URL ("" for the root).
    base_path: String,
    headers: Vec<(HeaderName, Option<HeaderValue>)>,
    limiter: Limiter,
    trusted: Vec<IpNet>,
    /// Verifies bearer tokens for the per-principal buckets, when this process has the public key.
    tokens: Option<Arc<hg_platform::auth::TokenKeys>>,
}

/// The admin component.
pub const DESCRIPTOR: crate::component::Descriptor = crate::component::Descriptor {
    start: |platform, _| Ok(crate::component::Started::routes(build(platform)?)),
    ..crate::component::Descriptor::bare(hg_platform::Component::Admin)
};

/// The admin component's routes.
pub fn build(platform: &Platform) -> Result<Router<Platform>, String> {
    let edge_cfg = &platform.settings.edge;
    let ca = match &edge_cfg.gateway_ca_cert {
        Some(path) => Some(
            std::fs::read(path)
                .map_err(|e| format!("MICROSERVICES_GATEWAY_CA_CERT {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let url = &edge_cfg.gateway_url;
    let origin = Origin::parse(&url.origin().ascii_serialization())
        .map_err(|e| format!("MICROSERVICES_GATEWAY_URL: {e}"))?;
    let key = match &edge_cfg.api_key {
        Some(k) => Some(
            HeaderValue::from_str(k.expose())
                .map_err(|_| "MICROSERVICES_API_KEY: not a valid header value".to_owned())?,
        ),
        // Without a key of ours, never pass on one a client sent.
        None => None,
    };
    let edge = Arc::new(Edge {
        forwarder: Forwarder::new(ca.as_deref())?,
        origin,
        base_path: url.path().trim_end_matches('/').to_owned(),
        headers: vec![(X_INTERNAL_API_KEY.clone(), key)],
        limiter: Limiter::new(platform.cache.clone(), &platform.settings.limits, "edge"),
        trusted: platform.settings.limits.trusted_proxies.clone(),
        tokens: platform.tokens.clone(),
    });
    Ok(Router::new()
        .route("/api", any(forward))
        .route("/api/{*path}", any(forward))
        .with_state(edge))
}

async fn forward(State(edge): State<Arc<Edge>>, Peer(peer): Peer, req: Request) -> Response {
    let client = client_ip(peer.ip(), req.headers(), &edge.trusted);
    let decision = edge
        .limiter
        .admit(client, req.headers(), edge.tokens.as_deref())
        .await;
    if let Decision::Limit {
        retry_after_secs, ..
    }
    | Decision::Blocked { retry_after_secs } = decision
    {
        let mut resp = ApiError::rate_limited(retry_after_secs).into_response();
        decision.write_headers(resp.headers_mut());
        return resp;
    }
    let rest = req.uri().path().trim_start_matches("/api");
    let mut path_and_query = format!(
        "{}{}",
        edge.base_path,
        if rest.is_empty() { "/" } else { rest }
    );
    if let Some(q) = req.uri().query() {
        path_and_query.push('?');
        path_and_query.push_str(q);
    }
    let target = Target {
        origin: &edge.origin,
        path_and_query: &path_and_query,
        timeout: EDGE_TIMEOUT,
        peer: peer.ip(),
        trust_forwarded: edge.trusted.iter().any(|n| n.contains(&peer.ip())),
        proto: "http",
        set_headers: &edge.headers,
    };
    let mut resp = match edge.forwarder.forward(req, target).await {
        Ok(resp) => resp,
        Err(err) => {
            if let Some(answer) = err.client_error() {
                return answer.into_response();
            }
            tracing::warn!(error = %err, "gateway unreachable from the API edge");
            let error = match err {
                ForwardError::Timeout(_) => ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "HG-GATEWAY-TIMEOUT",
                    "the platform did not answer in time",
                ),
                _ => ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "HG-GATEWAY-UNAVAILABLE",
                    "the platform is unavailable; retry later",
                )
                .retry_after(5),
            };
            return error.into_response();
        }
    };
    decision.write_headers(resp.headers_mut());
    resp
}
