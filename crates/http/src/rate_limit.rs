//! Per-client rate limiting (spec/04 "Rate limiting"): a token bucket per client IP (and one per
//! authenticated principal, see [`Limiter::check_principal`]) in the shared
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

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName, HeaderValue};

use hg_platform::auth::TokenKeys;

use hg_platform::cache::{Admission, Bucket, Cache, MemoryCache};
use hg_platform::config::ClientLimitsConfig;

/// The `limit` of an admission when no rate is configured.
const UNLIMITED: u32 = u32::MAX;

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
    /// Adds the `RateLimit-*` headers this decision implies (none when no rate is configured).
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        let (limit, remaining, reset) = match *self {
            Decision::Allow {
                limit: UNLIMITED, ..
            } => return,
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

impl Decision {
    /// The stricter of two decisions for one request (its address and its principal): any block or
    /// limit wins; between two admissions, the one with fewer tokens left speaks in the headers.
    pub fn stricter(self, other: Decision) -> Decision {
        use Decision::*;
        match (self, other) {
            (Blocked { .. }, _) => self,
            (_, Blocked { .. }) => other,
            (
                Limit {
                    retry_after_secs: a,
                    ..
                },
                Limit {
                    retry_after_secs: b,
                    ..
                },
            ) => {
                if a >= b {
                    self
                } else {
                    other
                }
            }
            (Limit { .. }, _) => self,
            (_, Limit { .. }) => other,
            (Allow { remaining: a, .. }, Allow { remaining: b, .. }) => {
                if a <= b {
                    self
                } else {
                    other
                }
            }
        }
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

    /// Whether requests are limited at all (a rate is configured); blocks are checked regardless.
    pub fn limits(&self) -> bool {
        self.bucket.is_some()
    }

    /// Decides for a request from `ip`.
    pub async fn check(&self, ip: IpAddr) -> Decision {
        let block = self.block_key(ip);
        // Without a rate there is no bucket to name.
        let bucket_key = match self.bucket {
            Some(_) => format!("{}:rl:{ip}", self.scope),
            None => String::new(),
        };
        self.decide(&block, &bucket_key).await
    }

    /// Decides for a request of an authenticated principal (`kind:id`), whatever its address: a
    /// token used from many addresses shares one bucket. Principals are never blocked, only limited.
    pub async fn check_principal(&self, principal: &str) -> Decision {
        let block = format!("{}:block:p:{principal}", self.scope);
        let bucket_key = format!("{}:rl:p:{principal}", self.scope);
        self.decide(&block, &bucket_key).await
    }

    /// Decides for a request from `ip` carrying `headers`: the address's bucket, and when the request
    /// bears an access token that `tokens` verifies, its principal's bucket too — the stricter
    /// decision wins. An unverifiable token charges nothing more (the service will answer 401), so
    /// nobody can drain another principal's bucket with a forged `sub`.
    pub async fn admit(
        &self,
        ip: IpAddr,
        headers: &HeaderMap,
        tokens: Option<&TokenKeys>,
    ) -> Decision {
        let by_address = self.check(ip).await;
        if !self.limits() || !matches!(by_address, Decision::Allow { .. }) {
            return by_address;
        }
        let claims = tokens.and_then(|keys| {
            let token = headers
                .get(AUTHORIZATION)?
                .to_str()
                .ok()?
                .strip_prefix("Bearer ")?;
            keys.verify(token.trim()).ok()
        });
        match claims {
            Some(c) => {
                let principal = format!("{:?}:{}", c.typ, c.sub);
                by_address.stricter(self.check_principal(&principal).await)
            }
            None => by_address,
        }
    }

    async fn decide(&self, block: &str, bucket_key: &str) -> Decision {
        let admission = match self.cache.admit(block, bucket_key, self.bucket).await {
            Ok(a) => a,
            Err(e) => {
                self.warn_fallback(&e.0);
                self.local
                    .admit(block, bucket_key, self.bucket)
                    .await
                    .unwrap_or(Admission::Allowed { remaining: 0.0 })
            }
        };
        let Some(bucket) = self.bucket else {
            return match admission {
                Admission::Blocked { retry_after_secs } => Decision::Blocked { retry_after_secs },
                _ => Decision::Allow {
                    limit: UNLIMITED,
                    remaining: UNLIMITED,
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

#[cfg(test)]
mod tests {
    use super::*;

    const fn allow(remaining: u32) -> Decision {
        Decision::Allow {
            limit: 10,
            remaining,
            reset_secs: 1,
        }
    }

    #[test]
    fn rate_limit_headers_are_written_only_when_a_rate_is_configured() {
        let mut h = HeaderMap::new();
        Decision::Allow {
            limit: UNLIMITED,
            remaining: UNLIMITED,
            reset_secs: 0,
        }
        .write_headers(&mut h);
        assert!(h.is_empty());
        allow(7).write_headers(&mut h);
        assert_eq!(h[&RATELIMIT_LIMIT], "10");
        assert_eq!(h[&RATELIMIT_REMAINING], "7");
        assert_eq!(h[&RATELIMIT_RESET], "1");
    }

    #[test]
    fn the_stricter_decision_speaks() {
        let limit = Decision::Limit {
            limit: 10,
            retry_after_secs: 4,
        };
        let blocked = Decision::Blocked {
            retry_after_secs: 60,
        };
        assert_eq!(allow(3).stricter(allow(7)), allow(3));
        assert_eq!(allow(7).stricter(allow(3)), allow(3));
        assert_eq!(allow(0).stricter(limit), limit);
        assert_eq!(limit.stricter(allow(9)), limit);
        assert_eq!(limit.stricter(blocked), blocked);
        let later = Decision::Limit {
            limit: 10,
            retry_after_secs: 9,
        };
        assert_eq!(limit.stricter(later), later);
    }

    #[tokio::test]
    async fn a_principal_has_its_own_bucket_across_addresses() {
        let cfg = ClientLimitsConfig {
            per_minute: 60,
            burst: 2,
            trusted_proxies: Vec::new(),
        };
        let limiter = Limiter::new(Arc::new(MemoryCache::new()), &cfg, "t");
        let who = "user:4b1c";
        assert!(matches!(
            limiter.check_principal(who).await,
            Decision::Allow { .. }
        ));
        assert!(matches!(
            limiter.check_principal(who).await,
            Decision::Allow { .. }
        ));
        assert!(matches!(
            limiter.check_principal(who).await,
            Decision::Limit { .. }
        ));
        assert!(matches!(
            limiter.check_principal("user:other").await,
            Decision::Allow { .. }
        ));
        // Addresses are buckets of their own.
        assert!(matches!(
            limiter.check("10.0.0.1".parse().unwrap()).await,
            Decision::Allow { .. }
        ));
    }
}
