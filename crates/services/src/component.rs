//! One descriptor per component: everything the runtime, the OpenAPI document and the event broker
//! need to know about it, declared once in its own module (`pub const DESCRIPTOR`), and listed once
//! in [`ALL`]. Adding a component is adding its module and one line there.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use hg_platform::events::{Consumer, ConsumerSpec};
use hg_platform::{Component, Platform};

use crate::api::Api;

/// A layer function: wraps a component's application.
pub type Wrap = Box<dyn FnOnce(Router) -> Router + Send>;

/// A background task of a component, running until the platform shuts down.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What a component brings to a process that runs it.
pub struct Started {
    /// Its routes (health, readiness and metrics are added by the platform).
    pub routes: Router<Platform>,
    /// Layers inside the standard ones (their answers are negotiated, logged and counted), where a
    /// component keeps its own typed state (as an `Extension`).
    pub inner: Wrap,
    /// Layers outside the standard ones.
    pub outer: Wrap,
    /// Its background tasks.
    pub tasks: Vec<Task>,
    /// Its event consumers.
    pub consumers: Vec<Arc<dyn Consumer>>,
}

impl Started {
    /// Just `routes`.
    pub fn routes(routes: Router<Platform>) -> Self {
        Self {
            routes,
            inner: Box::new(|r| r),
            outer: Box::new(|r| r),
            tasks: Vec::new(),
            consumers: Vec::new(),
        }
    }
}

/// Where the components of this process listen (their upstreams, for the gateway).
pub type Local = BTreeMap<Component, SocketAddr>;

/// How to run a component, and what it declares.
pub struct Descriptor {
    /// Which component.
    pub component: Component,
    /// Its described routes, when it has any (the OpenAPI document is made from them).
    pub api: Option<fn() -> Api>,
    /// The consumers it runs: their queues are declared by every process, so events wait for them
    /// while no process runs the component.
    pub consumers: &'static [&'static ConsumerSpec],
    /// Builds what it runs in this process.
    pub start: fn(&Platform, &Local) -> Result<Started, String>,
}

impl Descriptor {
    /// A component with described routes and nothing else.
    pub const fn api(component: Component, api: fn() -> Api) -> Self {
        Self {
            component,
            api: Some(api),
            consumers: &[],
            start: |_, _| Ok(Started::routes(Router::new())),
        }
    }

    /// A component that answers only health, readiness and metrics so far.
    pub const fn bare(component: Component) -> Self {
        Self {
            component,
            api: None,
            consumers: &[],
            start: |_, _| Ok(Started::routes(Router::new())),
        }
    }

    /// Starts the component's parts: its own plus its described routes and their
    /// `GET /openapi.json`.
    pub fn start(&self, platform: &Platform, local: &Local) -> Result<Started, String> {
        let mut started = (self.start)(platform, local)?;
        if let Some(api) = self.api {
            let component = self.component;
            let doc = Arc::new(api().openapi(component));
            let described = api().router().route(
                "/openapi.json",
                axum::routing::get(move || {
                    let doc = doc.clone();
                    async move { axum::Json(doc) }
                }),
            );
            started.routes = started.routes.merge(described);
        }
        Ok(started)
    }
}

/// Every component, in the order of spec/03.
pub const ALL: &[&Descriptor] = &[
    &crate::gateway::DESCRIPTOR,
    &crate::auth::DESCRIPTOR,
    &crate::organization::DESCRIPTOR,
    &crate::user::DESCRIPTOR,
    &crate::patient::DESCRIPTOR,
    &crate::device::DESCRIPTOR,
    &crate::timeseries::DESCRIPTOR,
    &crate::inference::DESCRIPTOR,
    &crate::alert::DESCRIPTOR,
    &crate::notification::DESCRIPTOR,
    &crate::media::DESCRIPTOR,
    &crate::audit::DESCRIPTOR,
    &crate::admin::DESCRIPTOR,
];

/// The descriptor of `component`.
pub fn of(component: Component) -> &'static Descriptor {
    ALL.iter()
        .find(|d| d.component == component)
        .copied()
        .unwrap_or_else(|| panic!("{component} has no descriptor in component::ALL"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_component_has_one_descriptor() {
        for c in Component::ALL {
            assert_eq!(ALL.iter().filter(|d| d.component == c).count(), 1, "{c}");
        }
        assert_eq!(ALL.len(), Component::ALL.len());
        let mut names: Vec<&str> = ALL
            .iter()
            .flat_map(|d| d.consumers.iter().map(|s| s.name))
            .collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "consumer names are unique");
    }
}
