//! The fast path: the common request — admitted, keyed, for a known service — forwarded before the router.

use super::*;

/// The admission decision the fast path already took for a request it hands to the full stack.
#[derive(Clone, Copy)]
pub(super) struct Admitted(pub(super) Decision);

/// Paths the gateway answers itself (through the full stack).
pub(super) fn is_own_route(path: &str) -> bool {
    matches!(
        path,
        "/" | "/health" | "/ready" | "/metrics" | "/openapi.json"
    )
}

/// The gateway's outermost layer (when it is served over TLS, without per-connection services):
/// see [`fast`].
pub(super) async fn fast_path(
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
pub(super) async fn fast(
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

pub(super) fn method_label(m: &Method) -> &'static str {
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

pub(super) fn status_label(s: StatusCode) -> metrics::SharedString {
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
pub(super) fn split_first_segment(path: &str) -> (&str, &str) {
    let trimmed = path.trim_start_matches('/');
    match trimmed.find('/') {
        Some(i) => (&trimmed[..i], &trimmed[i..]),
        None => (trimmed, ""),
    }
}
