//! Starting components: bind every listener first (so a taken port fails fast, naming its variable),
//! then start each component's parts from its descriptor (routes, background tasks, event
//! consumers) and serve them all, with the process's own tasks (the outbox relay, metrics upkeep),
//! until shutdown.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use hg_http::server;
use hg_platform::events::ConsumerSpec;
use hg_platform::{Component, Platform};
use tokio::task::JoinSet;

use crate::component;

/// Components that are up, with the addresses they listen on.
pub struct Running {
    /// Where each component listens (useful with port 0).
    pub addrs: BTreeMap<Component, SocketAddr>,
    /// Where the admin component serves `/metrics` (`ADMIN_METRICS_ADDR`), when it runs.
    pub admin_metrics: Option<SocketAddr>,
    tasks: JoinSet<()>,
}

impl Running {
    /// Waits until every server has stopped (after shutdown, once in-flight requests are done).
    pub async fn wait(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}

/// A bound listening socket: most components serve on the shared runtime; the plain-HTTP gateway
/// serves on its own worker threads (see `server::serve_workers`), which measured 35–45 % more
/// throughput than the shared runtime for forwarding.
enum Listener {
    Shared(tokio::net::TcpListener),
    Workers(std::net::TcpListener),
}

impl Listener {
    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            Listener::Shared(l) => l.local_addr(),
            Listener::Workers(l) => l.local_addr(),
        }
    }
}

/// Declares the queues of every consumer of the installation — not only this process's — so that
/// events wait for a consumer whose component runs elsewhere or later. When the broker is down the
/// declarations are retried in the background until it is back.
async fn declare_consumers(platform: &Platform) {
    let specs: Vec<&'static ConsumerSpec> = component::ALL
        .iter()
        .flat_map(|d| d.consumers.iter().copied())
        .collect();
    let mut pending = Vec::new();
    for spec in specs {
        if let Err(e) = platform.broker.declare(spec).await {
            tracing::warn!(consumer = spec.name, error = %e, "cannot declare the consumer's queue yet");
            pending.push(spec);
        }
    }
    if pending.is_empty() {
        return;
    }
    let (broker, shutdown) = (platform.broker.clone(), platform.shutdown.clone());
    tokio::spawn(async move {
        while !pending.is_empty() {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
            let mut still = Vec::new();
            for spec in pending {
                if broker.declare(spec).await.is_err() {
                    still.push(spec);
                }
            }
            pending = still;
        }
    });
}

/// Binds and serves `components` with `platform`.
pub async fn start(platform: &Platform, components: &[Component]) -> Result<Running, String> {
    let gateway = &platform.settings.gateway;
    let mut listeners = Vec::new();
    for &c in components {
        let addr = platform.settings.http.bind_addr(c);
        let listener = if c == Component::Gateway && gateway.tls.is_none() {
            Listener::Workers(server::bind_reuseport(c, addr)?)
        } else {
            Listener::Shared(server::bind(c, addr).await?)
        };
        listeners.push((c, listener));
    }
    let mut addrs = BTreeMap::new();
    for (c, listener) in &listeners {
        let local = listener
            .local_addr()
            .map_err(|e| format!("{c}: cannot read the bound address: {e}"))?;
        addrs.insert(*c, local);
    }
    let gateway_tls = match &gateway.tls {
        Some(files) if components.contains(&Component::Gateway) => Some(server::tls_config(files)?),
        _ => None,
    };
    let mut tasks = JoinSet::new();
    hg_http::auth::keep_jwks_fresh(platform);
    let mut admin_metrics = None;
    if components.contains(&Component::Admin)
        && let Some(addr) = platform.settings.metrics.admin_addr
    {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            format!("admin: cannot listen on {addr} for metrics ({e}); set ADMIN_METRICS_ADDR to another address or `off`")
        })?;
        admin_metrics = Some(
            listener
                .local_addr()
                .map_err(|e| format!("admin metrics: {e}"))?,
        );
        let app = hg_http::health::metrics_routes(platform);
        let listening = server::Listening::of(Component::Admin, platform);
        tasks.spawn(async move {
            if let Err(e) = server::serve(listener, app, listening).await {
                tracing::error!(error = %e, "the admin metrics listener stopped with an error");
            }
        });
    }
    // Every component's own parts: routes, background tasks, consumers.
    let mut started = BTreeMap::new();
    let mut consumers = Vec::new();
    for &c in components {
        let mut parts = component::of(c).start(platform, &addrs)?;
        for task in std::mem::take(&mut parts.tasks) {
            tasks.spawn(task);
        }
        consumers.append(&mut parts.consumers);
        started.insert(c, parts);
    }
    declare_consumers(platform).await;
    for consumer in consumers {
        let (broker, db, shutdown) = (
            platform.broker.clone(),
            platform.db.clone(),
            platform.shutdown.clone(),
        );
        tasks.spawn(async move { broker.consume(db, consumer, shutdown).await });
    }
    // Consumer lag and dead letters as gauges (`/ready` also reports them).
    let specs: Vec<&'static hg_platform::events::ConsumerSpec> = components
        .iter()
        .flat_map(|c| component::of(*c).consumers.iter().copied())
        .collect();
    if !specs.is_empty() {
        let p = platform.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(15));
            loop {
                tokio::select! {
                    _ = p.shutdown.cancelled() => break,
                    _ = tick.tick() => {
                        hg_http::health::consumer_stats(&p, &specs).await;
                    }
                }
            }
        });
    }
    for (c, listener) in listeners {
        let listener = match listener {
            Listener::Workers(first) => {
                let listening = server::Listening::of(c, platform);
                let (platform, addrs) = (platform.clone(), addrs.clone());
                let factory: server::WorkerFactory =
                    std::sync::Arc::new(move || crate::gateway::front(&platform, &addrs));
                let workers = gateway.workers;
                tasks.spawn(async move {
                    if let Err(e) = server::serve_workers(first, workers, factory, listening).await {
                        tracing::error!(component = c.name(), error = %e, "server stopped with an error");
                    }
                });
                continue;
            }
            Listener::Shared(l) => l,
        };
        let app = crate::app(
            c,
            platform,
            started.remove(&c).unwrap_or_else(|| unreachable!()),
        );
        let listening = server::Listening::of(c, platform);
        let tls = if c == Component::Gateway {
            gateway_tls.clone()
        } else {
            None
        };
        tasks.spawn(async move {
            let result = match tls {
                Some(tls) => server::serve_tls(listener, app, tls, listening).await,
                None => server::serve(listener, app, listening).await,
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
    // Histograms keep raw samples until the exporter folds them in; do it regularly, not only when
    // someone scrapes /metrics, so memory stays flat under load.
    let (handle, shutdown) = (platform.metrics.clone(), platform.shutdown.clone());
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => handle.run_upkeep(),
            }
        }
    });
    Ok(Running {
        addrs,
        admin_metrics,
        tasks,
    })
}
