//! The gateway (machine 2's entry, port 5000): every request but `GET /health` must carry a valid
//! `X-Internal-API-Key`; requests are rate limited per client; the first path segment picks the
//! service (aliases rewritten to the canonical prefix) and the request is forwarded to its upstream.
//!
//! Key rejections are logged (client IP, path, reason — never the key), counted in
//! `gateway_api_key_rejections_total{reason}` and recorded as audit entries; more than
//! `API_KEY_ABUSE_THRESHOLD` rejections a minute from one IP block it for `API_KEY_ABUSE_BLOCK_SECS`
//! (429) and record `API_KEY_ABUSE`.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use hg_http::ApiError;
use hg_http::RequestId;
use hg_http::client_ip::{Peer, client_ip};
use hg_http::middleware::finish;
use hg_http::negotiate::negotiate;
use hg_http::rate_limit::{Decision, Limiter};
use hg_http::server::{ConnService, MakeConnService};
use hg_platform::audit::{self, Action, ActorType, AuditEntry, RequestMeta};
use hg_platform::{Component, Platform};
use http::{HeaderName, Method, StatusCode};
use ipnet::IpNet;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::proxy::{ForwardError, Forwarder, Origin, Pinned, Target};

/// The header carrying the internal API key.
pub static X_INTERNAL_API_KEY: HeaderName = HeaderName::from_static("x-internal-api-key");

/// Why a request's key was refused; the `reason` label of the rejection counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// No `X-Internal-API-Key` header.
    Missing,
    /// A key that matches none of the configured ones.
    Invalid,
}

impl Rejection {
    fn label(self) -> &'static str {
        match self {
            Rejection::Missing => "missing",
            Rejection::Invalid => "invalid",
        }
    }
}

/// The configured keys, kept only as SHA-256 digests and compared in constant time.
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
}

impl ApiKeys {
    /// Digests of `keys`.
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            digests: keys
                .into_iter()
                .map(|k| Sha256::digest(k.as_bytes()).into())
                .collect(),
        }
    }

    /// Checks a presented header value against every key, without stopping at the first match, so the
    /// time taken says nothing about which key (or how much of one) matched.
    pub fn check(&self, presented: Option<&[u8]>) -> Result<(), Rejection> {
        let presented = presented.ok_or(Rejection::Missing)?;
        let digest: [u8; 32] = Sha256::digest(presented).into();
        let matched = self
            .digests
            .iter()
            .fold(subtle::Choice::from(0), |acc, d| acc | d.ct_eq(&digest));
        if bool::from(matched) {
            Ok(())
        } else {
            Err(Rejection::Invalid)
        }
    }
}

struct Gateway {
    platform: Platform,
    forwarder: Forwarder,
    /// `http://host:port` per service.
    upstreams: BTreeMap<Component, Origin>,
    keys: ApiKeys,
    require_key: bool,
    limiter: Limiter,
    trusted: Vec<IpNet>,
    timeout: Duration,
    telemetry_timeout: Duration,
    abuse_threshold: i64,
    abuse_block: Duration,
    proto: &'static str,
    /// Whether the common case is forwarded before the router: not with CORS configured, whose
    /// headers every answer needs.
    fast_path: bool,
    /// `http_requests_total` of the fast path by method and status, looked up once: finding a
    /// counter by its labels costs more than the rest of a forward's bookkeeping.
    forwarded: Mutex<Vec<(&'static str, StatusCode, metrics::Counter)>>,
}

use crate::component::{Descriptor, Started, Wrap};

/// The gateway: its own routes (`/openapi.json`, the forwarding) and layers; its plain-HTTP
/// listener is served by [`front`] on worker threads instead.
pub const DESCRIPTOR: Descriptor = Descriptor {
    start: |platform, local| {
        let (routes, inner, outer) = build(platform, local)?;
        Ok(Started {
            inner,
            outer,
            ..Started::routes(routes)
        })
    },
    ..Descriptor::bare(Component::Gateway)
};

/// The gateway's routes, the layers that guard them (inside the standard ones) and the fast path
/// (outside them). `local` holds the addresses of components running in this process, which take
/// precedence over the configured upstreams (port 0 in tests).
pub fn build(
    platform: &Platform,
    local: &BTreeMap<Component, SocketAddr>,
) -> Result<(Router<Platform>, Wrap, Wrap), String> {
    let (routes, inner, outer, _) = parts(platform, local)?;
    Ok((routes, inner, outer))
}

/// One worker's connection services (plain-HTTP gateway, `server::serve_workers`): the common case
/// is forwarded by [`Front`] itself over upstream connections kept for its client connection; the
/// rest goes through the full stack (without the fast-path layer, which `Front` replaces).
pub fn front(
    platform: &Platform,
    local: &BTreeMap<Component, SocketAddr>,
) -> Result<MakeConnService, String> {
    let (routes, inner, _, gateway) = parts(platform, local)?;
    let app = hg_http::server::component_app(Component::Gateway, platform, routes, &[], inner);
    Ok(Arc::new(move |peer| {
        ConnService::new(Front(Arc::new(FrontConn {
            gateway: gateway.clone(),
            app: app.clone(),
            peer,
            pinned: Pinned::default(),
        })))
    }))
}

/// The service of one client connection to a gateway worker (cloned for every request, so all it
/// holds is behind one `Arc`).
#[derive(Clone)]
struct Front(Arc<FrontConn>);

struct FrontConn {
    gateway: Arc<Gateway>,
    app: Router,
    peer: SocketAddr,
    pinned: Pinned,
}

impl tower::Service<Request> for Front {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response, std::convert::Infallible>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        use tower::ServiceExt;
        let this = self.0.clone();
        Box::pin(async move {
            let mut req = if this.gateway.fast_path {
                match fast(&this.gateway, this.peer, req, Some(&this.pinned)).await {
                    Ok(resp) => return Ok(resp),
                    Err(req) => req,
                }
            } else {
                req
            };
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(this.peer));
            this.app.clone().oneshot(req).await
        })
    }
}

/// The gateway, its routes and layers.
fn parts(
    platform: &Platform,
    local: &BTreeMap<Component, SocketAddr>,
) -> Result<(Router<Platform>, Wrap, Wrap, Arc<Gateway>), String> {
    let cfg = &platform.settings.gateway;
    let mut upstreams = BTreeMap::new();
    for c in Component::services() {
        let addr = local
            .get(&c)
            .map(|a| a.to_string())
            .or_else(|| cfg.upstream(c).map(str::to_owned));
        if let Some(addr) = addr {
            let origin = Origin::parse(&format!("http://{addr}"))
                .map_err(|e| format!("{}: {e}", c.upstream_var().unwrap_or("upstream")))?;
            upstreams.insert(c, origin);
        }
    }
    let gateway = Arc::new(Gateway {
        platform: platform.clone(),
        forwarder: Forwarder::new(None)?,
        upstreams,
        keys: ApiKeys::new(cfg.api_keys.iter().map(|k| k.expose())),
        require_key: cfg.require_api_key,
        limiter: Limiter::new(platform.cache.clone(), &platform.settings.limits, "gw"),
        trusted: platform.settings.limits.trusted_proxies.clone(),
        timeout: cfg.timeout,
        telemetry_timeout: cfg.telemetry_timeout,
        abuse_threshold: i64::from(cfg.abuse_threshold),
        abuse_block: cfg.abuse_block,
        proto: if cfg.tls.is_some() { "https" } else { "http" },
        fast_path: cfg.cors_origins.is_empty(),
        forwarded: Mutex::new(Vec::new()),
    });
    let doc = openapi_document()?;
    let routes = Router::new()
        .route(
            "/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc) }
            }),
        )
        .route("/", any(forward))
        .route("/{*path}", any(forward))
        .with_state(gateway.clone());
    let cors = cors_layer(&cfg.cors_origins);
    let fast = gateway.clone();
    let handle = gateway.clone();
    let layers = move |app: Router| {
        let app = app.layer(middleware::from_fn_with_state(gateway, guard));
        match cors {
            Some(c) => app.layer(c),
            None => app,
        }
    };
    let outer = move |app: Router| {
        if fast.fast_path {
            app.layer(middleware::from_fn_with_state(fast, fast_path))
        } else {
            app
        }
    };
    Ok((routes, Box::new(layers), Box::new(outer), handle))
}

/// The descriptions of every service the gateway routes to, merged (spec/03 "OpenAPI").
pub fn openapi_document() -> Result<Arc<utoipa::openapi::OpenApi>, String> {
    hg_http::openapi::merge(
        "HeartGuard API",
        Component::services().filter_map(crate::openapi),
    )
    .map(Arc::new)
    .map_err(|e| e.to_string())
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let origins = origins
        .iter()
        .filter_map(|o| o.parse().ok())
        .collect::<Vec<_>>();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers([
                http::header::CONTENT_TYPE,
                http::header::ACCEPT,
                http::header::AUTHORIZATION,
                HeaderName::from_static("x-request-id"),
                X_INTERNAL_API_KEY.clone(),
            ])
            .expose_headers([
                HeaderName::from_static("x-request-id"),
                HeaderName::from_static("ratelimit-limit"),
                HeaderName::from_static("ratelimit-remaining"),
                HeaderName::from_static("ratelimit-reset"),
                http::header::LOCATION,
                http::header::RETRY_AFTER,
            ])
            .max_age(Duration::from_secs(600)),
    )
}

mod fast;
mod forward;
mod guard;

use fast::*;
pub use forward::*;
use guard::*;
