//! The components' HTTP adapters (one module per component as they gain routes) and the runtime that
//! binds any set of them, each on its own port, in one process.

pub mod admin;
pub mod api;
pub mod auth;
pub mod common;
pub mod device;
pub mod gateway;
pub mod maintenance;
pub mod notification;
pub mod organization;
pub mod patient;
pub mod proxy;
pub mod runtime;
pub mod user;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use hg_platform::{Component, Platform};

/// Layers a component wraps around its application: `inner` inside the standard layers (so their
/// answers are negotiated, logged and counted), `outer` outside them.
pub struct Layers {
    /// Inside the standard layers.
    pub inner: Box<dyn FnOnce(Router) -> Router + Send>,
    /// Outside them.
    pub outer: Box<dyn FnOnce(Router) -> Router + Send>,
}

impl Layers {
    fn none() -> Self {
        Self {
            inner: Box::new(|r| r),
            outer: Box::new(|r| r),
        }
    }
}

/// The component-specific routes of `component` and its own layers. Health, readiness and metrics
/// are added by the platform for every component; the resource routes arrive with their issues
/// (auth #4, organization/user/patient/device #5, …), until then those components answer only them.
/// `local` holds the addresses of the components running in this process.
pub fn build(
    component: Component,
    platform: &Platform,
    local: &BTreeMap<Component, SocketAddr>,
) -> Result<(Router<Platform>, Layers), String> {
    let none = Layers::none();
    Ok(match component {
        Component::Gateway => {
            let (routes, inner, outer) = gateway::build(platform, local)?;
            (routes, Layers { inner, outer })
        }
        Component::Admin => (admin::build(platform)?, none),
        Component::Auth => (described(component, auth::api), none),
        Component::User => (described(component, user::api), none),
        Component::Organization => (described(component, organization::api), none),
        Component::Patient => (described(component, patient::api), none),
        Component::Device => (described(component, device::api), none),
        Component::Timeseries
        | Component::Inference
        | Component::Alert
        | Component::Notification
        | Component::Media
        | Component::Audit => (Router::new(), none),
    })
}

/// The routes of a described component plus its own description at `GET /openapi.json` (the
/// gateway serves the merged one under the same path).
fn described(component: Component, api: fn() -> api::Api) -> Router<Platform> {
    let doc = Arc::new(api().openapi(component));
    api().router().route(
        "/openapi.json",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move { axum::Json(doc) }
        }),
    )
}

/// The OpenAPI description of `component`, or `None` while it has no routes of its own.
pub fn openapi(component: Component) -> Option<utoipa::openapi::OpenApi> {
    let api: fn() -> api::Api = match component {
        Component::Auth => auth::api,
        Component::Patient => patient::api,
        Component::Device => device::api,
        Component::Organization => organization::api,
        Component::User => user::api,
        _ => return None,
    };
    Some(api().openapi(component))
}

/// The whole application of `component`: its routes and layers around the platform's standard ones.
pub fn app(
    component: Component,
    platform: &Platform,
    local: &BTreeMap<Component, SocketAddr>,
) -> Result<Router, String> {
    let (routes, layers) = build(component, platform, local)?;
    let app = hg_http::server::component_app(component, platform, routes, layers.inner);
    Ok((layers.outer)(app))
}
