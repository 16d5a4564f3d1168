//! The guard in front of every forward: abuse blocks, rate limits and the internal API key, with rejections logged, counted and audited.

use super::*;

/// Admission (abuse block, rate limit), then the key; `GET /health` passes untouched.
pub(super) async fn guard(
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
    pub(super) async fn reject(
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

    pub(super) async fn record(&self, entry: AuditEntry) {
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
