//! The HTTP conventions of spec/03, shared by every component: the envelope and error type,
//! negotiation (JSON/XML), body extraction, request ids, the standard layers, health and readiness,
//! the authenticated principal, and serving with connection limits and graceful shutdown.

pub mod auth;
pub mod client_ip;
pub mod connection;
pub mod envelope;
pub mod extract;
pub mod health;
pub mod list;
pub mod middleware;
pub mod negotiate;
pub mod openapi;
pub mod rate_limit;
pub mod request_id;
pub mod server;
pub mod streamed;

pub use envelope::{ApiError, ApiResponse};
pub use extract::{IdPath, Payload};
pub use negotiate::Format;
pub use request_id::RequestId;
