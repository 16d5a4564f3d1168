//! The components' HTTP adapters (one module per component as they gain routes) and the runtime that
//! binds any set of them, each on its own port, in one process.

pub mod admin;
pub mod gateway;
pub mod maintenance;
pub mod proxy;
pub mod runtime;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::Router;
use hg_platform::{Component, Platform};

/// Layers a component wraps around its routes (inside the standard ones).
pub type InnerLayers = Box<dyn FnOnce(Router) -> Router + Send>;

/// The component-specific routes of `component` and its own layers. Health, readiness and metrics
/// are added by the platform for every component; the resource routes arrive with their issues
/// (auth #4, organization/user/patient/device #5, …), until then those components answer only them.
/// `local` holds the addresses of the components running in this process.
pub fn build(
    component: Component,
    platform: &Platform,
    local: &BTreeMap<Component, SocketAddr>,
) -> Result<(Router<Platform>, InnerLayers), String> {
    let none: InnerLayers = Box::new(|r| r);
    Ok(match component {
        Component::Gateway => {
            let (routes, layers) = gateway::build(platform, local)?;
            (routes, Box::new(layers))
        }
        Component::Admin => (admin::build(platform)?, none),
        Component::Auth
        | Component::Organization
        | Component::User
        | Component::Patient
        | Component::Device
        | Component::Timeseries
        | Component::Inference
        | Component::Alert
        | Component::Notification
        | Component::Media
        | Component::Audit => (Router::new(), none),
    })
}
