//! Shared plumbing of every HeartGuard component: configuration, PostgreSQL, the cache, events and the
//! outbox, the HTTP conventions of spec/03, telemetry and shutdown. Business rules live in `hg-domain`.

pub mod audit;
pub mod auth;
pub mod cache;
pub mod certs;
pub mod component;
pub mod config;
pub mod context;
pub mod db;
pub mod events;
pub mod http;
pub mod localpg;
pub mod mail;
pub mod shutdown;
pub mod telemetry;
pub mod tls;

pub use component::{Component, Dependency};
pub use config::{EnvSource, Settings};
pub use context::Platform;
