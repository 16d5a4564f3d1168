//! The components' HTTP adapters (one module per component as they gain routes) and the runtime that
//! binds any set of them, each on its own port, in one process.

pub mod maintenance;
pub mod runtime;

use axum::Router;
use hg_platform::{Component, Platform};

/// The component-specific routes of `component`. Health, readiness and metrics are added by the
/// platform for every component; the resource routes arrive with their issues (gateway #3, auth #4,
/// organization/user/patient/device #5, …), until then each component answers only those.
pub fn routes(component: Component) -> Router<Platform> {
    match component {
        Component::Gateway
        | Component::Auth
        | Component::Organization
        | Component::User
        | Component::Patient
        | Component::Device
        | Component::Timeseries
        | Component::Inference
        | Component::Alert
        | Component::Notification
        | Component::Media
        | Component::Audit
        | Component::Admin => Router::new(),
    }
}
