//! The components' adapters — one module per component, each declaring itself once in a
//! [`component::Descriptor`] listed in [`component::ALL`] — and the runtime that binds any set of
//! them, each on its own port, in one process.

pub mod admin;
pub mod alert;
pub mod api;
pub mod audit;
pub mod auth;
pub mod common;
pub mod component;
pub mod device;
pub mod gateway;
pub mod inference;
pub mod media;
pub mod notification;
pub mod organization;
pub mod patient;
pub mod proxy;
pub mod runtime;
pub mod timeseries;
pub mod user;

use hg_platform::{Component, Platform};

pub use component::{Descriptor, Local, Started};

/// The OpenAPI description of `component`, or `None` while it has no routes of its own.
pub fn openapi(component: Component) -> Option<utoipa::openapi::OpenApi> {
    component::of(component)
        .api
        .map(|api| api().openapi(component))
}

/// The whole application of a running component: its routes and layers around the platform's
/// standard ones.
pub fn app(component: Component, platform: &Platform, started: component::Started) -> axum::Router {
    let consumers = component::of(component).consumers;
    let app = hg_http::server::component_app(
        component,
        platform,
        started.routes,
        consumers,
        started.inner,
    );
    (started.outer)(app)
}
