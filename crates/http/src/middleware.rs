//! The layers every component's router gets, outermost first:
//!
//! 1. [`envelope`] — request id, `Accept` negotiation (406), and the final rendering of every
//!    negotiable document as JSON or XML, including errors raised by the inner layers;
//! 2. a `tracing` span per request (method, route, status, latency, request id — never bodies,
//!    query strings or headers that may hold secrets);
//! 3. HTTP metrics;
//! 4. panic catching (a panic is a 500 in the envelope, logged once);
//! 5. the request body limit (413);
//! 6. [`read_body`] — bodies up to a size are read whole before the handler runs.

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use serde_json::Value;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use super::envelope::{ApiError, Negotiable};
use super::negotiate::{Format, negotiate, to_xml};
use super::request_id::{RequestId, X_REQUEST_ID};

/// Wraps `router` in the standard layers for `component`, limiting bodies to `body_limit` bytes
/// and reading those up to `read_limit` bytes before the handler runs (see [`read_body`]).
pub fn standard_layers(
    router: Router,
    component: &'static str,
    body_limit: usize,
    read_limit: u64,
) -> Router {
    router
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            read_body(read_limit, req, next)
        }))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(CatchPanicLayer::custom(
            |_panic: Box<dyn std::any::Any + Send>| {
                tracing::error!("handler panicked");
                ApiError::internal().into_response()
            },
        ))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            record_metrics(component, req, next)
        }))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(move |req: &Request| {
                    let route = req
                        .extensions()
                        .get::<MatchedPath>()
                        .map(|p| p.as_str().to_owned());
                    let request_id = req
                        .extensions()
                        .get::<RequestId>()
                        .map(|r| r.to_string())
                        .unwrap_or_default();
                    tracing::info_span!(
                        "request",
                        component,
                        http.method = %req.method(),
                        http.path = %req.uri().path(),
                        http.route = route.as_deref().unwrap_or(""),
                        request_id = %request_id,
                    )
                })
                .on_request(())
                .on_response(
                    |resp: &Response, latency: std::time::Duration, _span: &tracing::Span| {
                        let status = resp.status().as_u16();
                        let ms = latency.as_secs_f64() * 1000.0;
                        if status >= 500 {
                            tracing::warn!(http.status = status, latency_ms = ms, "request failed");
                        } else {
                            tracing::info!(
                                http.status = status,
                                latency_ms = ms,
                                "request handled"
                            );
                        }
                    },
                )
                .on_failure(()),
        )
        .layer(middleware::from_fn(envelope))
}

async fn record_metrics(component: &'static str, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let resp = next.run(req).await;
    let labels = [
        ("component", component.to_owned()),
        ("method", method),
        ("route", route),
        ("status", resp.status().as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels[..3])
        .record(start.elapsed().as_secs_f64());
    resp
}

/// What a proxying component (gateway, admin edge) reads before its handler runs; larger bodies
/// stream through it.
pub const SMALL_BODY: u64 = 64 * 1024;

/// Reads a request body whole before the handler runs when it declares at most `limit` bytes, or
/// declares no length (chunked: then the body limit layer outside stops it at the component's
/// limit, 413). A handler that answers without reading the body (a bad id, a missing token) would
/// otherwise leave it unread, and the HTTP server then closes the connection after the answer —
/// with unread bytes in the socket, by a reset that can destroy the answer before the client (the
/// gateway above all) reads it. Bodies declared larger than `limit` stay streamed.
pub async fn read_body(limit: u64, req: Request, next: Next) -> Response {
    use axum::body::HttpBody as _;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let read = match declared {
        Some(n) => n > 0 && n <= limit,
        None => !req.body().is_end_stream() && limit > SMALL_BODY,
    };
    if !read {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(e) => ApiError::unreadable_body(&e, "HG-BODY-UNREADABLE").into_response(),
    }
}

/// Request id, negotiation and rendering; see the module documentation.
pub async fn envelope(mut req: Request, next: Next) -> Response {
    let request_id = RequestId::from_headers(req.headers()).unwrap_or_else(RequestId::generate);
    req.headers_mut()
        .insert(X_REQUEST_ID.clone(), request_id.header_value());
    req.extensions_mut().insert(request_id.clone());
    let format = match negotiate(req.headers()) {
        Ok(f) => f,
        // Prometheus text is the only representation of /metrics; scrapers may ask for just that.
        Err(_) if req.uri().path() == "/metrics" => Format::Json,
        Err(_) => {
            return finish(
                ApiError::not_acceptable().into_response(),
                Format::Json,
                &request_id,
            );
        }
    };
    req.extensions_mut().insert(format);
    let resp = next.run(req).await;
    finish(resp, format, &request_id)
}

/// True when an error response came from a layer that knows nothing of the envelope (a plain-text
/// 413 or 408, an empty 405) rather than from a handler or an upstream service.
fn is_bare_error(resp: &Response) -> bool {
    if !(resp.status().is_client_error() || resp.status().is_server_error()) {
        return false;
    }
    match resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        None => true,
        Some(ct) => ct.starts_with("text/plain"),
    }
}

/// Renders `resp`'s negotiable document (if any) in `format` and stamps the request id: what the
/// envelope layer does on the way out, for callers that answer without it (the gateway's fast path).
pub fn finish(mut resp: Response, format: Format, request_id: &RequestId) -> Response {
    let doc = match resp.extensions_mut().remove::<Negotiable>() {
        Some(Negotiable(doc)) => Some(doc),
        None if is_bare_error(&resp) => {
            let status = resp.status();
            let err = ApiError::from_status(status).into_response();
            let (parts, _) = err.into_parts();
            let mut rebuilt = Response::from_parts(parts, Body::empty());
            // Keep the headers the original layer set (Retry-After, Allow…).
            for (name, value) in resp.headers() {
                if name != CONTENT_TYPE && name != CONTENT_LENGTH {
                    rebuilt.headers_mut().insert(name.clone(), value.clone());
                }
            }
            let doc = rebuilt.extensions_mut().remove::<Negotiable>().map(|n| n.0);
            resp = rebuilt;
            doc
        }
        None => None,
    };
    // A JSON success goes out as the handler rendered it; XML and errors (which carry the request
    // id) are rendered again from the document.
    let is_error = resp.status().is_client_error() || resp.status().is_server_error();
    if let Some(json) = doc.filter(|_| format == Format::Xml || is_error) {
        let mut doc: Value = serde_json::from_slice(&json).unwrap_or(Value::Null);
        if let Some(Value::Object(err)) = doc.get_mut("error") {
            err.insert(
                "request_id".into(),
                Value::String(request_id.as_str().to_owned()),
            );
        }
        let body = match format {
            Format::Json => serde_json::to_vec(&doc).unwrap_or_default(),
            Format::Xml => to_xml(&doc),
        };
        resp.headers_mut().remove(CONTENT_LENGTH);
        resp.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        );
        *resp.body_mut() = Body::from(body);
    }
    let headers = resp.headers_mut();
    headers.insert(X_REQUEST_ID.clone(), request_id.header_value());
    // Answers carry personal data more often than not: no cache keeps them unless a route says
    // otherwise, and no browser guesses their type.
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

/// Fallback for unknown paths: 404 in the envelope.
pub async fn not_found() -> ApiError {
    ApiError::route_not_found()
}

/// Fallback for known paths with another method: 405 in the envelope.
pub async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}
