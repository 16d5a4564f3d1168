//! Small pieces every component adapter uses: connections, request metadata, the caller.

use axum::extract::FromRequestParts;
use hg_domain::identity::RequestMeta;
use hg_domain::records;
use hg_http::auth::Authenticated;
use hg_http::{ApiError, RequestId};
use hg_platform::Platform;
use hg_platform::db::DbError;
use http::request::Parts;
use serde::{Deserialize, Deserializer};
use sqlx::Postgres;
use sqlx::pool::PoolConnection;

/// A pooled connection, or 503 when the database cannot give one.
pub async fn conn(p: &Platform) -> Result<PoolConnection<Postgres>, ApiError> {
    p.db.acquire().await.map_err(|e| DbError::from(e).into())
}

/// For PATCH bodies: tells an absent field (`None`) from an explicit `null` (`Some(None)`).
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Where a request came from: the client's address (believing `X-Forwarded-For` only from
/// `TRUSTED_PROXIES`), its request id and a shortened `User-Agent`.
pub fn request_meta(parts: &http::request::Parts, platform: &Platform) -> RequestMeta {
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    let ip = hg_http::client_ip::client_ip(
        peer,
        &parts.headers,
        &platform.settings.limits.trusted_proxies,
    );
    RequestMeta {
        ip: Some(ip),
        request_id: parts.extensions.get::<RequestId>().map(|r| r.to_string()),
        client: parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(200).collect()),
    }
}

/// The authenticated caller of a records endpoint (see `hg_domain::records::Caller`), as an
/// extractor: the principal (401 without one), its permissions and the request's metadata.
#[derive(Clone, Debug)]
pub struct Caller(pub records::Caller);

impl std::ops::Deref for Caller {
    type Target = records::Caller;

    fn deref(&self) -> &records::Caller {
        &self.0
    }
}

impl FromRequestParts<Platform> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, platform: &Platform) -> Result<Self, ApiError> {
        let Authenticated(principal) = Authenticated::from_request_parts(parts, platform).await?;
        let meta = request_meta(parts, platform);
        Ok(Caller(
            records::Caller::load(&platform.db, principal, meta).await?,
        ))
    }
}
