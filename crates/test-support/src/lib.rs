//! The test harness every HeartGuard integration test builds on:
//!
//! * [`db::TestDb`] — a database of its own, cloned from a migrated and seeded template, dropped after;
//! * [`services::TestRedis`], [`services::TestBroker`] — per-test Redis key prefix and RabbitMQ exchange;
//! * [`app::TestApp`] — any set of components on port 0 over those, with an HTTP client;
//! * [`fixtures`] — organizations, users and patients in one line each;
//! * [`tls`] — throw-away PostgreSQL and Redis servers with TLS and their certificates;
//! * [`loopback`] — an SMTP server (aiosmtpd) and recording HTTP servers for the notification channels.
//!
//! Everything talks to the real PostgreSQL, Redis and RabbitMQ of the machine (`TEST_DATABASE_URL`,
//! `TEST_REDIS_URL`, `TEST_AMQP_URL` override the defaults).

pub mod app;
pub mod db;
pub mod fixtures;
pub mod loopback;
pub mod services;
pub mod tls;

pub use app::{TEST_API_KEY, TEST_TOTP_KEY, TestApp, readable, test_token_keys, token_in};
pub use db::TestDb;

/// Runs async cleanup from a `Drop` impl. Drops run inside the test's runtime, where blocking on a
/// future is not allowed, so the work gets a thread and a runtime of its own.
pub(crate) fn block_on_cleanup(work: impl std::future::Future<Output = ()> + Send + 'static) {
    let _ = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime for cleanup")
            .block_on(work);
    })
    .join();
}
