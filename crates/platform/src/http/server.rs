//! Assembling a component's application (its routes, health, fallbacks, the standard layers,
//! `/metrics`) and serving it until shutdown, draining in-flight requests.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::health;
use super::middleware::{method_not_allowed, not_found, standard_layers};
use crate::component::Component;
use crate::context::Platform;

/// The complete application of `component` around its own `routes`.
pub fn component_app(
    component: Component,
    platform: &Platform,
    routes: Router<Platform>,
) -> Router {
    let app = routes
        .merge(health::routes(component))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(platform.clone());
    let app = standard_layers(app, component.name(), component.body_limit());
    health::with_metrics(app, platform.metrics.clone())
}

/// Binds `addr`, naming the component and the port variable when it cannot.
pub async fn bind(component: Component, addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr).await.map_err(|e| {
        format!(
            "{}: cannot listen on {addr} ({e}); set {} to another port",
            component.name(),
            component.port_var()
        )
    })
}

/// Serves `app` on `listener` until `shutdown` is cancelled, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.cancelled_owned())
    .await
}
