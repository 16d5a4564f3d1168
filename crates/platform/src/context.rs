//! The shared handles every component's handlers receive: settings, the database pool, the cache, the
//! event broker, metrics and the shutdown signal.

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::cache::{Cache, MemoryCache, RedisCache};
use crate::component::Dependency;
use crate::config::Settings;
use crate::events::{AmqpBroker, Broker, PgBroker};

/// Everything a component needs from the platform; cheap to clone.
#[derive(Clone)]
pub struct Platform {
    /// Validated configuration.
    pub settings: Arc<Settings>,
    /// PostgreSQL pool (connects lazily).
    pub db: PgPool,
    /// Redis, or the in-process cache when `REDIS_URL` is unset.
    pub cache: Arc<dyn Cache>,
    /// RabbitMQ, or queues in PostgreSQL when `AMQP_URL` is unset.
    pub broker: Arc<dyn Broker>,
    /// Token keys (signing in the auth component, verification everywhere); `None` when no key is
    /// configured (the gateway needs none).
    pub tokens: Option<Arc<crate::auth::TokenKeys>>,
    /// Prometheus registry.
    pub metrics: PrometheusHandle,
    /// Cancelled on SIGTERM/SIGINT.
    pub shutdown: CancellationToken,
}

impl Platform {
    /// Builds the handles without connecting anything, so components start while a dependency is down
    /// and `/ready` says which. `settings.database` must be set (checked by `Settings::require_for`).
    /// Fails only when configured key files cannot be read.
    pub fn new(
        settings: Settings,
        application: &str,
        shutdown: CancellationToken,
    ) -> Result<Self, String> {
        let db = crate::db::lazy_pool(
            settings
                .database
                .as_ref()
                .expect("DATABASE_URL is checked before the platform is built"),
            application,
        );
        let cache: Arc<dyn Cache> = match &settings.redis {
            Some(cfg) => Arc::new(RedisCache::new(cfg.clone())),
            None => Arc::new(MemoryCache::new()),
        };
        let broker: Arc<dyn Broker> = match &settings.amqp {
            Some(cfg) => Arc::new(AmqpBroker::new(cfg.clone())),
            None => Arc::new(PgBroker::new(db.clone())),
        };
        // `JWKS_URL` keys are fetched by the HTTP layer once components start (`hg-http::auth`).
        let tokens = if settings.jwt.can_verify() {
            Some(Arc::new(crate::auth::TokenKeys::load(&settings.jwt)?))
        } else {
            None
        };
        Ok(Self {
            settings: Arc::new(settings),
            db,
            cache,
            broker,
            tokens,
            metrics: crate::telemetry::metrics_handle(),
            shutdown,
        })
    }

    /// Checks one dependency within `timeout`: `Ok(kind)` (e.g. `"redis"` or `"in-process"`) or the
    /// reason it is unavailable.
    pub async fn check(&self, dep: Dependency, timeout: Duration) -> Result<&'static str, String> {
        let fut = async {
            match dep {
                Dependency::Postgres => crate::db::ping(&self.db, timeout)
                    .await
                    .map(|()| "postgresql"),
                Dependency::Redis => self
                    .cache
                    .ping()
                    .await
                    .map(|()| self.cache.kind())
                    .map_err(|e| e.0),
                Dependency::RabbitMq => self
                    .broker
                    .ping()
                    .await
                    .map(|()| self.broker.kind())
                    .map_err(|e| e.0),
            }
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
        }
    }
}
