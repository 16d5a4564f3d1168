//! Small pieces every records adapter uses.

use hg_platform::Platform;
use hg_platform::db::DbError;
use hg_platform::http::ApiError;
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
