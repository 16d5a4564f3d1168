//! Forwarding to a service: the route's prefix rewritten, the service's body limit enforced, upstream failures answered.

use super::*;

pub(super) async fn forward(
    State(gw): State<Arc<Gateway>>,
    Peer(peer): Peer,
    req: Request,
) -> Response {
    gw.forward(peer, req, None).await
}

impl Gateway {
    /// The fast path's `http_requests_total` for `method` and `status` (labelled as the standard
    /// layers label the requests they see).
    pub(super) fn forwarded_counter(
        &self,
        method: &'static str,
        status: StatusCode,
    ) -> metrics::Counter {
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
    pub(super) async fn forward(
        &self,
        peer: SocketAddr,
        req: Request,
        pinned: Option<&Pinned>,
    ) -> Response {
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
pub(super) const BUFFERED_BODY_LIMIT: usize = 8 * 1024 * 1024;

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
