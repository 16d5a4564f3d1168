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
    let app = hg_http::server::component_app(Component::Gateway, platform, routes, inner);
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

/// Admission (abuse block, rate limit), then the key; `GET /health` passes untouched.
async fn guard(
    State(gw): State<Arc<Gateway>>,
    Peer(peer): Peer,
    req: Request,
    next: Next,
) -> Response {
    if req.method() == Method::GET && req.uri().path() == "/health" {
        return next.run(req).await;
    }
    let client = client_ip(peer.ip(), req.headers(), &gw.trusted);
    // The fast path may have decided already; a request is admitted (and charged) once.
    let decision = match req.extensions().get::<Admitted>() {
        Some(Admitted(d)) => *d,
        None => {
            gw.limiter
                .admit(client, req.headers(), gw.platform.tokens.as_deref())
                .await
        }
    };
    match decision {
        Decision::Blocked { retry_after_secs } => {
            metrics::counter!("gateway_api_key_rejections_total", "reason" => "blocked")
                .increment(1);
            return ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "HG-API-KEY-BLOCKED",
                "too many requests with a missing or wrong API key; this address is blocked for a while",
            )
            .retry_after(retry_after_secs)
            .into_response();
        }
        Decision::Limit {
            retry_after_secs, ..
        } => {
            let mut resp = ApiError::rate_limited(retry_after_secs).into_response();
            decision.write_headers(resp.headers_mut());
            return resp;
        }
        Decision::Allow { .. } => {}
    }
    if gw.require_key {
        let presented = req.headers().get(&X_INTERNAL_API_KEY).map(|v| v.as_bytes());
        if let Err(reason) = gw.keys.check(presented) {
            let request_id = req.extensions().get::<RequestId>().map(|r| r.to_string());
            return gw
                .reject(reason, client, req.method(), req.uri().path(), request_id)
                .await;
        }
    }
    let mut resp = next.run(req).await;
    decision.write_headers(resp.headers_mut());
    resp
}

impl Gateway {
    async fn reject(
        &self,
        reason: Rejection,
        client: IpAddr,
        method: &Method,
        path: &str,
        request_id: Option<String>,
    ) -> Response {
        tracing::warn!(
            client.ip = %client,
            http.method = %method,
            http.path = path,
            reason = reason.label(),
            "request refused: internal API key"
        );
        metrics::counter!("gateway_api_key_rejections_total", "reason" => reason.label())
            .increment(1);
        let count = self
            .platform
            .cache
            .incr(&format!("gw:keyrej:{client}"), Duration::from_secs(60))
            .await
            .unwrap_or(1);
        let abusive = count > self.abuse_threshold;
        let action = if abusive {
            Action::ApiKeyAbuse
        } else {
            Action::ApiKeyRejected
        };
        let entry = AuditEntry::new(ActorType::ApiClient, action)
            .actor(None, Some("gateway".to_owned()))
            .request(&RequestMeta {
                ip: Some(client),
                request_id,
                client: None,
            })
            .details(serde_json::json!({
                "reason": reason.label(),
                "method": method.as_str(),
                "path": path,
                "rejections_last_minute": count,
            }));
        // Record the entry that crosses the threshold; later rejections are answered by the block.
        if count <= self.abuse_threshold + 1 {
            self.record(entry).await;
        }
        if abusive {
            self.limiter.block(client, self.abuse_block.as_secs()).await;
            tracing::warn!(client.ip = %client, block_secs = self.abuse_block.as_secs(), "API key abuse: address blocked");
            return ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "HG-API-KEY-BLOCKED",
                "too many requests with a missing or wrong API key; this address is blocked for a while",
            )
            .retry_after(self.abuse_block.as_secs())
            .into_response();
        }
        match reason {
            Rejection::Missing => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "HG-API-KEY-MISSING",
                "this gateway needs the X-Internal-API-Key header",
            )
            .challenge("ApiKey header=\"X-Internal-API-Key\"")
            .into_response(),
            Rejection::Invalid => ApiError::new(
                StatusCode::FORBIDDEN,
                "HG-API-KEY-INVALID",
                "the X-Internal-API-Key is not valid",
            )
            .into_response(),
        }
    }

    async fn record(&self, entry: AuditEntry) {
        let result = async {
            let mut conn = self.platform.db.acquire().await?;
            audit::record(&mut conn, entry).await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not record the API key rejection in the audit log");
        }
    }
}

/// The admission decision the fast path already took for a request it hands to the full stack.
#[derive(Clone, Copy)]
struct Admitted(Decision);

/// Paths the gateway answers itself (through the full stack).
fn is_own_route(path: &str) -> bool {
    matches!(
        path,
        "/" | "/health" | "/ready" | "/metrics" | "/openapi.json"
    )
}

/// The gateway's outermost layer (when it is served over TLS, without per-connection services):
/// see [`fast`].
async fn fast_path(
    State(gw): State<Arc<Gateway>>,
    Peer(peer): Peer,
    req: Request,
    next: Next,
) -> Response {
    match fast(&gw, peer, req, None).await {
        Ok(resp) => resp,
        Err(req) => next.run(req).await,
    }
}

/// The common case — a client that is admitted, presents a valid key and names a known service,
/// with an acceptable `Accept` — forwarded right here, which keeps a proxied request's overhead
/// close to nginx's (docs/benchmarks.md); over the client connection's own upstream connections
/// when `pinned` holds them. Anything else is handed back (with the admission decision taken, if
/// any) for the full stack, which answers, audits and logs it: the gateway's own routes,
/// rejections, unknown prefixes.
async fn fast(
    gw: &Gateway,
    peer: SocketAddr,
    mut req: Request,
    pinned: Option<&Pinned>,
) -> Result<Response, Request> {
    let path = req.uri().path();
    if is_own_route(path) {
        return Err(req);
    }
    let (first, _) = split_first_segment(path);
    let Ok(format) = negotiate(req.headers()) else {
        return Err(req);
    };
    if Component::for_prefix(first).is_none() {
        return Err(req);
    }
    let client = client_ip(peer.ip(), req.headers(), &gw.trusted);
    let decision = gw
        .limiter
        .admit(client, req.headers(), gw.platform.tokens.as_deref())
        .await;
    let key_ok = !gw.require_key
        || gw
            .keys
            .check(req.headers().get(&X_INTERNAL_API_KEY).map(|v| v.as_bytes()))
            .is_ok();
    if !key_ok || !matches!(decision, Decision::Allow { .. }) {
        req.extensions_mut().insert(Admitted(decision));
        return Err(req);
    }
    let started = std::time::Instant::now();
    let request_id = RequestId::from_headers(req.headers()).unwrap_or_else(RequestId::generate);
    req.extensions_mut().insert(request_id.clone());
    let method = req.method().clone();
    let mut resp = gw.forward(peer, req, pinned).await;
    resp = finish(resp, format, &request_id);
    decision.write_headers(resp.headers_mut());
    let status = resp.status();
    gw.forwarded_counter(method_label(&method), status)
        .increment(1);
    tracing::info!(
        component = "gateway",
        http.method = %method,
        http.status = status.as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        request_id = %request_id,
        "request forwarded"
    );
    Ok(resp)
}

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

fn status_label(s: StatusCode) -> metrics::SharedString {
    match s.as_u16() {
        200 => "200".into(),
        201 => "201".into(),
        204 => "204".into(),
        304 => "304".into(),
        400 => "400".into(),
        401 => "401".into(),
        403 => "403".into(),
        404 => "404".into(),
        409 => "409".into(),
        422 => "422".into(),
        429 => "429".into(),
        500 => "500".into(),
        502 => "502".into(),
        503 => "503".into(),
        504 => "504".into(),
        other => other.to_string().into(),
    }
}

/// Splits `/first/rest…` into `first` and `/rest…`.
fn split_first_segment(path: &str) -> (&str, &str) {
    let trimmed = path.trim_start_matches('/');
    match trimmed.find('/') {
        Some(i) => (&trimmed[..i], &trimmed[i..]),
        None => (trimmed, ""),
    }
}

async fn forward(State(gw): State<Arc<Gateway>>, Peer(peer): Peer, req: Request) -> Response {
    gw.forward(peer, req, None).await
}

impl Gateway {
    /// The fast path's `http_requests_total` for `method` and `status` (labelled as the standard
    /// layers label the requests they see).
    fn forwarded_counter(&self, method: &'static str, status: StatusCode) -> metrics::Counter {
        let mut known = self.forwarded.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, _, c)) = known.iter().find(|(m, s, _)| *m == method && *s == status) {
            return c.clone();
        }
        let counter = metrics::counter!(
            "http_requests_total",
            "component" => "gateway",
            "method" => method,
            "route" => "/{*path}",
            "status" => status_label(status),
        );
        known.push((method, status, counter.clone()));
        counter
    }

    /// Routes `req` by its first path segment and forwards it to that service's upstream (over
    /// `pinned`'s connections when given).
    async fn forward(&self, peer: SocketAddr, req: Request, pinned: Option<&Pinned>) -> Response {
        let (first, rest) = split_first_segment(req.uri().path());
        let Some((component, canonical)) = Component::for_prefix(first) else {
            return ApiError::not_found("HG-GATEWAY-ROUTE", "no service answers this path")
                .into_response();
        };
        let Some(origin) = self.upstreams.get(&component) else {
            return ApiError::not_found("HG-GATEWAY-ROUTE", "no service answers this path")
                .into_response();
        };
        let mut path_and_query = String::with_capacity(canonical.len() + rest.len() + 32);
        path_and_query.push('/');
        path_and_query.push_str(canonical);
        path_and_query.push_str(rest);
        if let Some(q) = req.uri().query() {
            path_and_query.push('?');
            path_and_query.push_str(q);
        }
        let timeout = if component == Component::Timeseries {
            self.telemetry_timeout
        } else {
            self.timeout
        };
        // The service's own body limit, enforced here too: a service answering 413 before it has
        // read a body the gateway is still sending would otherwise break the forward (502).
        let limit = component.body_limit();
        let declared = req
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let req = match declared {
            Some(n) if n <= limit as u64 => req,
            // Too large, or of unknown length: read here first. One too large is answered 413 by
            // the gateway (after reading on a little, so the client sees the answer) rather than
            // cut off by the service while the gateway is still sending it.
            _ if axum::body::HttpBody::is_end_stream(req.body()) => req,
            // Uploads to a service with a large limit (media) stream on, cut off at the limit.
            None if limit > BUFFERED_BODY_LIMIT => {
                req.map(|b| axum::body::Body::new(http_body_util::Limited::new(b, limit)))
            }
            _ => {
                use hg_http::connection::{DISCARD_AFTER_LIMIT, ReadError, read_limited};
                if declared.is_some_and(|n| n > limit as u64 + DISCARD_AFTER_LIMIT) {
                    return ApiError::payload_too_large().into_response();
                }
                let (parts, body) = req.into_parts();
                match read_limited(body, limit).await {
                    Ok(bytes) => Request::from_parts(parts, axum::body::Body::from(bytes)),
                    Err(ReadError::TooLarge) => {
                        return ApiError::payload_too_large().into_response();
                    }
                    Err(ReadError::Failed(e)) => {
                        return ApiError::unreadable_body(&e, "HG-BAD-PAYLOAD").into_response();
                    }
                }
            }
        };
        let target = Target {
            origin,
            path_and_query: &path_and_query,
            timeout,
            peer: peer.ip(),
            trust_forwarded: self.trusted.iter().any(|n| n.contains(&peer.ip())),
            proto: self.proto,
            // The services never need the key; it stops here.
            set_headers: &[(X_INTERNAL_API_KEY.clone(), None)],
        };
        let forwarded = match pinned {
            Some(pinned) => self.forwarder.forward_pinned(pinned, req, target).await,
            None => self.forwarder.forward(req, target).await,
        };
        match forwarded {
            Ok(resp) => resp,
            Err(err) => {
                if let Some(answer) = err.client_error() {
                    return answer.into_response();
                }
                let kind = match err {
                    ForwardError::Connect(_) => "unavailable",
                    ForwardError::Timeout(_) => "timeout",
                    ForwardError::Failed(_) | ForwardError::ClientBody(_) => "failed",
                };
                metrics::counter!("gateway_upstream_errors_total", "service" => component.name(), "kind" => kind)
                    .increment(1);
                tracing::warn!(service = component.name(), error = %err, "upstream error");
                upstream_error(component, &err).into_response()
            }
        }
    }
}

/// Bodies of unknown length are read whole by the gateway, before forwarding, for services that
/// accept at most this much (all but media).
const BUFFERED_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// The envelope error for a failed forward.
pub fn upstream_error(component: Component, err: &ForwardError) -> ApiError {
    match err {
        ForwardError::Connect(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "HG-GATEWAY-UNAVAILABLE",
            format!("the {component} service is unavailable; retry later"),
        )
        .retry_after(5),
        ForwardError::Timeout(d) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "HG-GATEWAY-TIMEOUT",
            format!(
                "the {component} service did not answer within {} s",
                d.as_secs()
            ),
        ),
        ForwardError::Failed(_) | ForwardError::ClientBody(_) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "HG-GATEWAY-BAD-UPSTREAM",
            format!("the {component} service failed to answer"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_only_exactly() {
        let keys = ApiKeys::new(["a".repeat(32).as_str(), "b".repeat(40).as_str()]);
        assert_eq!(keys.check(None), Err(Rejection::Missing));
        assert_eq!(keys.check(Some("a".repeat(32).as_bytes())), Ok(()));
        assert_eq!(keys.check(Some("b".repeat(40).as_bytes())), Ok(()));
        assert_eq!(
            keys.check(Some("a".repeat(31).as_bytes())),
            Err(Rejection::Invalid)
        );
        assert_eq!(keys.check(Some(b"")), Err(Rejection::Invalid));
    }

    #[test]
    fn the_first_segment_is_split_off() {
        assert_eq!(
            split_first_segment("/orgs/1/members"),
            ("orgs", "/1/members")
        );
        assert_eq!(split_first_segment("/auth"), ("auth", ""));
        assert_eq!(split_first_segment("/auth/"), ("auth", "/"));
        assert_eq!(split_first_segment("/"), ("", ""));
    }
}
