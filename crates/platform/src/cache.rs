//! The key-value cache (sessions, rate limits, token deny-lists): Redis when `REDIS_URL` is set —
//! plain or TLS with a CA file and a password — and an in-process map with the same contract for the
//! single-process mode. Every key is prefixed (`REDIS_KEY_PREFIX`), so tests and installations sharing a
//! server never see each other's keys.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::RedisConfig;

/// A cache operation failed because the cache cannot be reached.
#[derive(Debug, thiserror::Error)]
#[error("cache unavailable: {0}")]
pub struct CacheError(pub String);

/// What the platform needs from a cache.
#[async_trait]
pub trait Cache: Send + Sync {
    /// The value under `key`, if present and not expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError>;
    /// Stores `value` under `key`, expiring after `ttl` when given.
    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), CacheError>;
    /// Removes `key`.
    async fn delete(&self, key: &str) -> Result<(), CacheError>;
    /// Adds one to the counter under `key`, creating it with expiry `ttl`; returns the new value.
    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, CacheError>;
    /// Checks the cache answers.
    async fn ping(&self) -> Result<(), CacheError>;
    /// `redis` or `in-process`, for readiness answers.
    fn kind(&self) -> &'static str;
}

/// Builds a Redis client for `cfg`: `rediss://` verifies the server against `REDIS_CA_CERT` (or the
/// system roots); `REDIS_TLS_INSECURE=true` is the only way to skip the check, and it is logged.
pub fn redis_client(cfg: &RedisConfig) -> Result<redis::Client, String> {
    let mut url = cfg.url.expose().to_owned();
    if cfg.tls && cfg.insecure {
        tracing::warn!(
            redis.host = %cfg.host,
            "REDIS_TLS_INSECURE=true: the Redis server's certificate is NOT checked"
        );
        if !url.contains('#') {
            url.push_str("#insecure");
        }
    }
    let result = match (&cfg.ca_cert, cfg.tls) {
        (Some(ca), true) => {
            let pem =
                std::fs::read(ca).map_err(|e| format!("REDIS_CA_CERT {}: {e}", ca.display()))?;
            redis::Client::build_with_tls(
                url.as_str(),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                },
            )
        }
        _ => redis::Client::open(url.as_str()),
    };
    result.map_err(|e| format!("Redis at {}: {e}", cfg.host))
}

/// Connects now and answers `PING`, with a message naming the host on failure.
pub async fn redis_connect(cfg: &RedisConfig) -> Result<ConnectionManager, String> {
    let client = redis_client(cfg)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(1);
    let mut conn = client
        .get_connection_manager_with_config(config)
        .await
        .map_err(|e| format!("Redis at {}: {e}", cfg.host))?;
    let _: String = redis::cmd("PING")
        .query_async(&mut conn)
        .await
        .map_err(|e| format!("Redis at {}: {e}", cfg.host))?;
    Ok(conn)
}

/// Redis-backed cache. Connects on first use and reconnects by itself, so a component starts while
/// Redis is down and recovers when it returns.
pub struct RedisCache {
    cfg: RedisConfig,
    conn: tokio::sync::Mutex<Option<ConnectionManager>>,
}

impl RedisCache {
    /// A cache for `cfg`; nothing is connected yet.
    pub fn new(cfg: RedisConfig) -> Self {
        Self {
            cfg,
            conn: tokio::sync::Mutex::new(None),
        }
    }

    async fn conn(&self) -> Result<ConnectionManager, CacheError> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let c = redis_connect(&self.cfg).await.map_err(CacheError)?;
        *guard = Some(c.clone());
        Ok(c)
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.cfg.key_prefix)
    }
}

fn unavailable(e: redis::RedisError) -> CacheError {
    CacheError(e.to_string())
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        self.conn()
            .await?
            .get(self.key(key))
            .await
            .map_err(unavailable)
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), CacheError> {
        let mut c = self.conn().await?;
        match ttl {
            Some(ttl) => c
                .pset_ex(self.key(key), value, ttl.as_millis().max(1) as u64)
                .await
                .map_err(unavailable),
            None => c.set(self.key(key), value).await.map_err(unavailable),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.conn()
            .await?
            .del::<_, ()>(self.key(key))
            .await
            .map_err(unavailable)
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, CacheError> {
        let mut c = self.conn().await?;
        let key = self.key(key);
        // INCR and the first PEXPIRE in one round trip; NX keeps a running window's expiry.
        let (value,): (i64,) = redis::pipe()
            .atomic()
            .incr(&key, 1)
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(ttl.as_millis().max(1) as u64)
            .arg("NX")
            .ignore()
            .query_async(&mut c)
            .await
            .map_err(unavailable)?;
        Ok(value)
    }

    async fn ping(&self) -> Result<(), CacheError> {
        let mut c = self.conn().await?;
        let _: String = redis::cmd("PING")
            .query_async(&mut c)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}

/// A stored value and when it expires.
type Entry = (Vec<u8>, Option<Instant>);

/// The in-process cache of single-process mode: same contract, one process.
#[derive(Default)]
pub struct MemoryCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl MemoryCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn live<R>(&self, f: impl FnOnce(&mut HashMap<String, Entry>) -> R) -> R {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        map.retain(|_, (_, exp)| exp.is_none_or(|e| e > now));
        f(&mut map)
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        Ok(self.live(|m| m.get(key).map(|(v, _)| v.clone())))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), CacheError> {
        let exp = ttl.map(|t| Instant::now() + t);
        self.live(|m| m.insert(key.to_owned(), (value.to_vec(), exp)));
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.live(|m| m.remove(key));
        Ok(())
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, CacheError> {
        Ok(self.live(|m| {
            let entry = m
                .entry(key.to_owned())
                .or_insert_with(|| (b"0".to_vec(), Some(Instant::now() + ttl)));
            let n = std::str::from_utf8(&entry.0)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(0)
                + 1;
            entry.0 = n.to_string().into_bytes();
            n
        }))
    }

    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "in-process"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_cache_expires_entries() {
        let c = MemoryCache::new();
        c.set("a", b"1", Some(Duration::from_millis(20)))
            .await
            .unwrap();
        assert_eq!(c.get("a").await.unwrap(), Some(b"1".to_vec()));
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(c.get("a").await.unwrap(), None);
    }

    #[tokio::test]
    async fn memory_cache_counts_within_a_window() {
        let c = MemoryCache::new();
        assert_eq!(c.incr("n", Duration::from_secs(5)).await.unwrap(), 1);
        assert_eq!(c.incr("n", Duration::from_secs(5)).await.unwrap(), 2);
        c.delete("n").await.unwrap();
        assert_eq!(c.incr("n", Duration::from_secs(5)).await.unwrap(), 1);
    }
}
