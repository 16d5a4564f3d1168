//! Starting components: bind every listener first (so a taken port fails fast, naming its variable),
//! then serve them all, plus the process's background tasks — the outbox relay and, with the timeseries
//! component, partition upkeep — until shutdown.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use hg_platform::http::server;
use hg_platform::{Component, Platform};
use tokio::task::JoinSet;

/// Components that are up, with the addresses they listen on.
pub struct Running {
    /// Where each component listens (useful with port 0).
    pub addrs: BTreeMap<Component, SocketAddr>,
    tasks: JoinSet<()>,
}

impl Running {
    /// Waits until every server has stopped (after shutdown, once in-flight requests are done).
    pub async fn wait(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Binds and serves `components` with `platform`.
pub async fn start(platform: &Platform, components: &[Component]) -> Result<Running, String> {
    let mut listeners = Vec::new();
    for &c in components {
        let addr = platform.settings.http.bind_addr(c);
        listeners.push((c, server::bind(c, addr).await?));
    }
    let mut addrs = BTreeMap::new();
    for (c, listener) in &listeners {
        let local = listener
            .local_addr()
            .map_err(|e| format!("{c}: cannot read the bound address: {e}"))?;
        addrs.insert(*c, local);
    }
    let gateway_tls = match &platform.settings.gateway.tls {
        Some(files) if components.contains(&Component::Gateway) => Some(server::tls_config(files)?),
        _ => None,
    };
    let mut tasks = JoinSet::new();
    for (c, listener) in listeners {
        let (routes, inner) = crate::build(c, platform, &addrs)?;
        let app = server::component_app(c, platform, routes, inner);
        let shutdown = platform.shutdown.clone();
        let tls = if c == Component::Gateway {
            gateway_tls.clone()
        } else {
            None
        };
        tasks.spawn(async move {
            let result = match tls {
                Some(tls) => server::serve_tls(listener, app, tls, shutdown).await,
                None => server::serve(listener, app, shutdown).await,
            };
            if let Err(e) = result {
                tracing::error!(component = c.name(), error = %e, "server stopped with an error");
            }
        });
    }
    tasks.spawn(hg_platform::events::run_relay(
        platform.db.clone(),
        platform.broker.clone(),
        Duration::from_secs(1),
        platform.shutdown.clone(),
    ));
    if components.contains(&Component::Timeseries) {
        tasks.spawn(crate::maintenance::run(
            platform.clone(),
            platform.settings.telemetry.retention_days,
        ));
    }
    Ok(Running { addrs, tasks })
}
