//! The authenticated principal of a request (spec/04 "Principals and tokens"): the bearer token,
//! verified with the process's keys and checked against the deny-lists, as an extractor; and the
//! upkeep of `JWKS_URL` keys.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use hg_platform::Platform;
use hg_platform::auth::{Principal, TokenError, TokenKeys, authenticate};
use http::request::Parts;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::ApiError;

/// The verified principal of a request (401 when there is none): `Authenticated(principal)`.
#[derive(Clone, Debug)]
pub struct Authenticated(pub Principal);

impl std::ops::Deref for Authenticated {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.0
    }
}

/// Reads the bearer token of a request.
fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<Platform> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, platform: &Platform) -> Result<Self, ApiError> {
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(Authenticated(p.clone()));
        }
        let token = bearer(parts).ok_or(TokenError::Missing)?;
        let keys = platform.tokens.as_ref().ok_or(TokenError::Unavailable)?;
        let claims = authenticate(keys, platform.cache.as_ref(), token).await?;
        let principal = Principal {
            claims: Arc::new(claims),
        };
        parts.extensions.insert(principal.clone());
        Ok(Authenticated(principal))
    }
}

/// Fetches the JWKS document at `url`.
pub async fn fetch_jwks(url: &url::Url) -> Result<Value, String> {
    reqwest::Client::new()
        .get(url.clone())
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("JWKS_URL {url}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("JWKS_URL {url}: {e}"))
}

/// Keeps `keys` in step with `url`: at start (retrying every 10 s until it answers) and then every
/// 10 minutes, until `shutdown`.
pub async fn refresh_jwks(keys: Arc<TokenKeys>, url: url::Url, shutdown: CancellationToken) {
    loop {
        let wait = match fetch_jwks(&url).await.and_then(|doc| keys.apply_jwks(&doc)) {
            Ok(_) => Duration::from_secs(600),
            Err(e) => {
                tracing::warn!(error = %e, "could not fetch the token verification keys");
                Duration::from_secs(10)
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Starts [`refresh_jwks`] for `platform` when `JWKS_URL` is set.
pub fn keep_jwks_fresh(platform: &Platform) {
    if let (Some(keys), Some(url)) = (&platform.tokens, &platform.settings.jwt.jwks_url) {
        tokio::spawn(refresh_jwks(
            keys.clone(),
            url.clone(),
            platform.shutdown.clone(),
        ));
    }
}
