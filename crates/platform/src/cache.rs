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

/// The answer of [`Cache::admit`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Admission {
    /// The client is blocked for this many more seconds.
    Blocked { retry_after_secs: u64 },
    /// A token was taken; this many remain.
    Allowed { remaining: f64 },
    /// The bucket is empty; this many remain (less than one).
    Limited { remaining: f64 },
}

/// A token bucket: `burst` tokens at most, refilled at `per_sec`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    /// Capacity.
    pub burst: u32,
    /// Refill rate (tokens per second).
    pub per_sec: f64,
}

/// What the platform needs from a cache.
#[async_trait]
pub trait Cache: Send + Sync {
    /// The value under `key`, if present and not expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError>;
    /// The values under `keys`, in order, in one round trip.
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, CacheError>;
    /// Stores `value` under `key`, expiring after `ttl` when given.
    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), CacheError>;
    /// Removes `key`.
    async fn delete(&self, key: &str) -> Result<(), CacheError>;
    /// Adds one to the counter under `key`, creating it with expiry `ttl`; returns the new value.
    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, CacheError>;
    /// One admission decision in one round trip: `Blocked` while `block_key` exists; otherwise takes a
    /// token from the bucket at `bucket_key` (when `bucket` is given).
    async fn admit(
        &self,
        block_key: &str,
        bucket_key: &str,
        bucket: Option<Bucket>,
    ) -> Result<Admission, CacheError>;
    /// Checks the cache answers.
    async fn ping(&self) -> Result<(), CacheError>;
    /// `redis` or `in-process`, for readiness answers.
    fn kind(&self) -> &'static str;
}

/// Admission in Redis: the block key's TTL, then a token bucket kept as a hash {tokens, ts} refilled
/// from the server's clock. Returns {-1, ttl} when blocked, else {1|0, tokens}.
const ADMIT_SCRIPT: &str = r"
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then return {-1, tostring(ttl)} end
local burst = tonumber(ARGV[1])
if burst == 0 then return {1, '0'} end
local per_ms = tonumber(ARGV[2]) / 1000
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local b = redis.call('HMGET', KEYS[2], 't', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil then tokens = burst; ts = now end
tokens = math.min(burst, tokens + math.max(0, now - ts) * per_ms)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[2], 't', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[2], math.ceil(burst / per_ms) + 1000)
return {allowed, tostring(tokens)}
";

fn admission(code: i64, value: &str) -> Admission {
    let v: f64 = value.parse().unwrap_or(0.0);
    match code {
        -1 => Admission::Blocked {
            retry_after_secs: (v / 1000.0).ceil().max(1.0) as u64,
        },
        1 => Admission::Allowed { remaining: v },
        _ => Admission::Limited { remaining: v },
    }
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

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, CacheError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        redis::cmd("MGET")
            .arg(keys)
            .query_async(&mut self.conn().await?)
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

    async fn admit(
        &self,
        block_key: &str,
        bucket_key: &str,
        bucket: Option<Bucket>,
    ) -> Result<Admission, CacheError> {
        static SCRIPT: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
        let script = SCRIPT.get_or_init(|| redis::Script::new(ADMIT_SCRIPT));
        let mut c = self.conn().await?;
        let (burst, per_sec) = bucket.map_or((0, 0.0), |b| (b.burst, b.per_sec));
        let (code, value): (i64, String) = script
            .key(self.key(block_key))
            .key(self.key(bucket_key))
            .arg(burst)
            .arg(per_sec)
            .invoke_async(&mut c)
            .await
            .map_err(unavailable)?;
        Ok(admission(code, &value))
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

/// The in-process cache of single-process mode (and the rate limiter's fallback): same contract,
/// one process.
pub struct MemoryCache {
    entries: Mutex<Entries>,
    sweep_every: Duration,
}

#[derive(Default)]
struct Entries {
    map: HashMap<String, Entry>,
    /// When expired entries nobody asked for are next removed.
    next_sweep: Option<Instant>,
}

impl Default for MemoryCache {
    fn default() -> Self {
        Self::with_sweep_interval(Duration::from_secs(1))
    }
}

impl MemoryCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty cache that removes expired entries nobody asks for every `sweep_every`.
    fn with_sweep_interval(sweep_every: Duration) -> Self {
        Self {
            entries: Mutex::new(Entries::default()),
            sweep_every,
        }
    }

    /// Runs `f` on the entries with `keys` expired exactly. The rest are swept now and then rather
    /// than on every call, so that a request does not pay for every other client's bucket.
    fn live<R>(&self, keys: &[&str], f: impl FnOnce(&mut HashMap<String, Entry>) -> R) -> R {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let Entries { map, next_sweep } = &mut *entries;
        let now = Instant::now();
        let expired = |exp: &Option<Instant>| exp.is_some_and(|e| e <= now);
        if next_sweep.is_none_or(|t| now >= t) {
            map.retain(|_, (_, exp)| !expired(exp));
            *next_sweep = Some(now + self.sweep_every);
        } else {
            for key in keys {
                if map.get(*key).is_some_and(|(_, exp)| expired(exp)) {
                    map.remove(*key);
                }
            }
        }
        f(map)
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        Ok(self.live(&[key], |m| m.get(key).map(|(v, _)| v.clone())))
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, CacheError> {
        Ok(self.live(keys, |m| {
            keys.iter()
                .map(|k| m.get(*k).map(|(v, _)| v.clone()))
                .collect()
        }))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), CacheError> {
        let exp = ttl.map(|t| Instant::now() + t);
        self.live(&[key], |m| m.insert(key.to_owned(), (value.to_vec(), exp)));
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.live(&[key], |m| m.remove(key));
        Ok(())
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, CacheError> {
        Ok(self.live(&[key], |m| {
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

    async fn admit(
        &self,
        block_key: &str,
        bucket_key: &str,
        bucket: Option<Bucket>,
    ) -> Result<Admission, CacheError> {
        Ok(self.live(&[block_key, bucket_key], |m| {
            let now = Instant::now();
            if let Some((_, Some(exp))) = m.get(block_key) {
                return Admission::Blocked {
                    retry_after_secs: exp.duration_since(now).as_secs_f64().ceil().max(1.0) as u64,
                };
            }
            let Some(b) = bucket else {
                return Admission::Allowed { remaining: 0.0 };
            };
            // The bucket is stored as "tokens" and refilled by the time since its last update, which
            // is kept as the entry's expiry minus its lifetime.
            let lifetime = Duration::from_secs_f64(f64::from(b.burst) / b.per_sec + 1.0);
            let tokens = match m.get(bucket_key) {
                Some((v, Some(exp))) => {
                    let last = *exp - lifetime;
                    let stored: f64 = std::str::from_utf8(v)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(f64::from(b.burst));
                    (stored + now.saturating_duration_since(last).as_secs_f64() * b.per_sec)
                        .min(f64::from(b.burst))
                }
                _ => f64::from(b.burst),
            };
            let (decision, left) = if tokens >= 1.0 {
                (
                    Admission::Allowed {
                        remaining: tokens - 1.0,
                    },
                    tokens - 1.0,
                )
            } else {
                (Admission::Limited { remaining: tokens }, tokens)
            };
            m.insert(
                bucket_key.to_owned(),
                (left.to_string().into_bytes(), Some(now + lifetime)),
            );
            decision
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
    async fn memory_cache_sweeps_expired_entries_nobody_asks_for() {
        let c = MemoryCache::with_sweep_interval(Duration::from_millis(300));
        c.set("old", b"1", Some(Duration::from_millis(10)))
            .await
            .unwrap();
        c.set("kept", b"1", None).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Not yet swept: "old" is only gone for whoever asks for it.
        c.get("kept").await.unwrap();
        assert_eq!(c.entries.lock().unwrap().map.len(), 2);
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.get("kept").await.unwrap();
        let entries = c.entries.lock().unwrap();
        assert!(!entries.map.contains_key("old"));
        assert!(entries.map.contains_key("kept"));
    }

    #[tokio::test]
    async fn memory_cache_admits_a_burst_then_limits_and_honours_blocks() {
        let c = MemoryCache::new();
        let b = Some(Bucket {
            burst: 3,
            per_sec: 0.5,
        });
        for _ in 0..3 {
            assert!(matches!(
                c.admit("blk", "bkt", b).await.unwrap(),
                Admission::Allowed { .. }
            ));
        }
        assert!(matches!(
            c.admit("blk", "bkt", b).await.unwrap(),
            Admission::Limited { .. }
        ));
        c.set("blk", b"1", Some(Duration::from_secs(30)))
            .await
            .unwrap();
        assert_eq!(
            c.admit("blk", "bkt", b).await.unwrap(),
            Admission::Blocked {
                retry_after_secs: 30
            }
        );
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
