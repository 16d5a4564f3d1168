//! Per-client rate limiting (spec/04 "Rate limiting"): a token bucket per client IP in the shared
//! cache (Redis), with `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` on every answer and
//! 429 + `Retry-After` when the bucket is empty. When Redis cannot be reached the limiter falls back to
//! a bucket in this process — limiting goes on, and the switch is logged (at most once a minute).
//!
//! The same admission call also tells whether the client is blocked (the gateway's API-key abuse
//! block), so a request costs one cache round trip.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::cache::{Admission, Bucket, Cache, MemoryCache};
use crate::config::ClientLimitsConfig;

static RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
static RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
static RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// The outcome for one request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decision {
    /// Go ahead; `remaining` tokens left of `limit`, full again in `reset_secs`.
    Allow {
        limit: u32,
        remaining: u32,
        reset_secs: u64,
    },
    /// Too many requests: retry after `retry_after_secs`.
    Limit { limit: u32, retry_after_secs: u64 },
    /// The client is blocked (abuse) for `retry_after_secs`.
    Blocked { retry_after_secs: u64 },
}

impl Decision {
    /// Adds the `RateLimit-*` headers this decision implies.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        let (limit, remaining, reset) = match *self {
            Decision::Allow {
                limit,
                remaining,
                reset_secs,
            } => (limit, remaining, reset_secs),
            Decision::Limit {
                limit,
                retry_after_secs,
            } => (limit, 0, retry_after_secs),
            Decision::Blocked { .. } => return,
        };
        headers.insert(RATELIMIT_LIMIT.clone(), HeaderValue::from(limit));
        headers.insert(RATELIMIT_REMAINING.clone(), HeaderValue::from(remaining));
        headers.insert(RATELIMIT_RESET.clone(), HeaderValue::from(reset));
    }
}

/// Admission control for one component.
pub struct Limiter {
    cache: Arc<dyn Cache>,
    local: MemoryCache,
    bucket: Option<Bucket>,
    scope: &'static str,
    last_warning: AtomicU64,
}

impl Limiter {
    /// A limiter keyed under `scope` (e.g. `gw`), with `cfg`'s rate; `per_minute = 0` only checks
    /// blocks.
    pub fn new(cache: Arc<dyn Cache>, cfg: &ClientLimitsConfig, scope: &'static str) -> Self {
        let bucket = (cfg.per_minute > 0).then(|| Bucket {
            burst: cfg.burst,
            per_sec: f64::from(cfg.per_minute) / 60.0,
        });
        Self {
            cache,
            local: MemoryCache::new(),
            bucket,
            scope,
            last_warning: AtomicU64::new(0),
        }
    }

    /// The cache key that blocks `ip` while it exists.
    pub fn block_key(&self, ip: IpAddr) -> String {
        format!("{}:block:{ip}", self.scope)
    }

    /// Decides for a request from `ip`.
    pub async fn check(&self, ip: IpAddr) -> Decision {
        let block = self.block_key(ip);
        let bucket_key = format!("{}:rl:{ip}", self.scope);
        let admission = match self.cache.admit(&block, &bucket_key, self.bucket).await {
            Ok(a) => a,
            Err(e) => {
                self.warn_fallback(&e.0);
                self.local
                    .admit(&block, &bucket_key, self.bucket)
                    .await
                    .unwrap_or(Admission::Allowed { remaining: 0.0 })
            }
        };
        let Some(bucket) = self.bucket else {
            return match admission {
                Admission::Blocked { retry_after_secs } => Decision::Blocked { retry_after_secs },
                _ => Decision::Allow {
                    limit: u32::MAX,
                    remaining: u32::MAX,
                    reset_secs: 0,
                },
            };
        };
        match admission {
            Admission::Blocked { retry_after_secs } => Decision::Blocked { retry_after_secs },
            Admission::Allowed { remaining } => Decision::Allow {
                limit: bucket.burst,
                remaining: remaining.floor() as u32,
                reset_secs: ((f64::from(bucket.burst) - remaining) / bucket.per_sec).ceil() as u64,
            },
            Admission::Limited { remaining } => Decision::Limit {
                limit: bucket.burst,
                retry_after_secs: ((1.0 - remaining) / bucket.per_sec).ceil().max(1.0) as u64,
            },
        }
    }

    /// Blocks `ip` for `secs` in the shared cache (and locally, so the block holds even while the
    /// cache is unreachable).
    pub async fn block(&self, ip: IpAddr, secs: u64) {
        let key = self.block_key(ip);
        let ttl = Some(std::time::Duration::from_secs(secs));
        if let Err(e) = self.cache.set(&key, b"1", ttl).await {
            self.warn_fallback(&e.0);
        }
        let _ = self.local.set(&key, b"1", ttl).await;
    }

    fn warn_fallback(&self, reason: &str) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let last = self.last_warning.load(Ordering::Relaxed);
        if now >= last + 60
            && self
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                scope = self.scope,
                reason,
                "rate limiter: shared cache unreachable, limiting with this process's buckets"
            );
        }
    }
}
