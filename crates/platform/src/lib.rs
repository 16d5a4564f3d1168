//! Shared plumbing of every HeartGuard component that knows no HTTP: configuration, PostgreSQL, the
//! cache, events and the outbox, tokens, pages of lists, the error answer (`problem`), mail,
//! telemetry and shutdown. The HTTP conventions of spec/03 are `hg-http`; business rules live in
//! `hg-domain`.

pub mod audit;
pub mod auth;
pub mod cache;
pub mod certs;
pub mod codes;
pub mod component;
pub mod config;
pub mod context;
pub mod copy;
pub mod db;
pub mod events;
pub mod localpg;
pub mod mail;
pub mod page;
pub mod problem;
pub mod shutdown;
pub mod telemetry;
pub mod tls;

pub use component::{Component, Dependency};
pub use config::{EnvSource, Settings};
pub use context::Platform;
