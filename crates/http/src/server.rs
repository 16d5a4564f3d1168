//! Assembling a component's application (its routes, health, fallbacks, the standard layers,
//! `/metrics`) and serving it until shutdown, draining in-flight requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::connection::{BodyProgress, ConnState, GuardedBody, GuardedIo, TimedBody};
use super::health;
use super::middleware::{method_not_allowed, not_found, standard_layers};
use hg_platform::component::Component;
use hg_platform::config::ConnectionConfig;
use hg_platform::context::Platform;
use hg_platform::events::ConsumerSpec;

/// The complete application of `component` around its own `routes` (its `/ready` also reports the
/// queues of the `consumers` it runs). `inner` wraps the routes (with
/// health, metrics and fallbacks) in component-specific layers — the gateway's API key check, say —
/// inside the standard ones, so their answers are negotiated, logged and counted like any other.
pub fn component_app(
    component: Component,
    platform: &Platform,
    routes: Router<Platform>,
    consumers: &'static [&'static ConsumerSpec],
    inner: impl FnOnce(Router) -> Router,
) -> Router {
    let app = routes
        .merge(health::routes(component, consumers))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(platform.clone());
    // Components read every body they accept before their handlers run; the proxies (gateway,
    // admin edge) stream theirs on, and so will media uploads.
    let read_limit = match component {
        Component::Gateway | Component::Admin | Component::Media => super::middleware::SMALL_BODY,
        _ => component.body_limit() as u64,
    };
    standard_layers(
        inner(app),
        component.name(),
        component.body_limit(),
        read_limit,
    )
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

/// Binds `addr` with `SO_REUSEPORT`, so that more sockets can listen on the same address for
/// [`serve_workers`].
pub fn bind_reuseport(
    component: Component,
    addr: SocketAddr,
) -> Result<std::net::TcpListener, String> {
    let fail = |e: std::io::Error| {
        format!(
            "{}: cannot listen on {addr} ({e}); set {} to another port",
            component.name(),
            component.port_var()
        )
    };
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(fail)?;
    socket.set_reuseaddr(true).map_err(fail)?;
    socket.set_reuseport(true).map_err(fail)?;
    socket.set_nodelay(true).map_err(fail)?;
    socket.bind(addr).map_err(fail)?;
    let listener = socket.listen(1024).map_err(fail)?;
    listener.into_std().map_err(fail)
}

/// The service answering one connection's requests.
pub type ConnService = tower::util::BoxCloneSyncService<
    axum::extract::Request,
    axum::response::Response,
    std::convert::Infallible,
>;

/// Makes the service for a connection from the given peer.
pub type MakeConnService = std::sync::Arc<dyn Fn(SocketAddr) -> ConnService + Send + Sync>;

/// Builds one worker's [`MakeConnService`].
pub type WorkerFactory = std::sync::Arc<dyn Fn() -> Result<MakeConnService, String> + Send + Sync>;

/// The most a served connection buffers each way (hyper's default is about 400 KiB). Each chunk of a
/// streamed body holds on to the buffer it was cut from while it waits to be sent on, so smaller
/// buffers keep a proxied upload's memory low.
pub const MAX_BUF_SIZE: usize = 64 * 1024;

/// Connections served by `app`, which sees each request's peer as `ConnectInfo`.
fn router_service(app: Router) -> MakeConnService {
    use tower::ServiceExt;
    std::sync::Arc::new(move |peer| {
        ConnService::new(
            app.clone()
                .map_request(move |mut req: axum::extract::Request| {
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    req
                }),
        )
    })
}

/// What a listener needs besides its service: its component (for metrics and logs), the connection
/// limits (`HTTP_*`, see [`ConnectionConfig`]) and the shutdown signal.
#[derive(Clone)]
pub struct Listening {
    /// The component served.
    pub component: Component,
    /// Timeouts and the connection bound.
    pub limits: ConnectionConfig,
    /// Open connections of this listener (shared by a component's worker threads).
    pub open: Arc<Semaphore>,
    /// Stops accepting when cancelled.
    pub shutdown: CancellationToken,
}

impl Listening {
    /// The settings of `component`'s listener under `platform`.
    pub fn of(component: Component, platform: &Platform) -> Self {
        let limits = platform.settings.connections.clone();
        Self {
            component,
            open: Arc::new(Semaphore::new(limits.max_connections)),
            limits,
            shutdown: platform.shutdown.clone(),
        }
    }
}

/// Serves on `workers` threads, each with a single-threaded runtime, its own socket listening on
/// `first`'s address (`SO_REUSEPORT`: the kernel spreads connections between them) and its own
/// connection services from `make_app`. A request, the upstream connection it uses and their
/// wake-ups then stay on one thread, as in nginx's worker model, which is what a forwarding proxy
/// needs to be fast. Returns when every worker has stopped after shutdown.
pub async fn serve_workers(
    first: std::net::TcpListener,
    workers: usize,
    make_app: WorkerFactory,
    listening: Listening,
) -> Result<(), String> {
    let component = listening.component;
    let addr = first
        .local_addr()
        .map_err(|e| format!("{component}: {e}"))?;
    let mut listeners = vec![first];
    for _ in 1..workers.max(1) {
        listeners.push(bind_reuseport(component, addr)?);
    }
    let mut done = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let app = make_app()?;
        let listening = listening.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        done.push(rx);
        std::thread::Builder::new()
            .name(format!("{}-worker-{i}", component.name()))
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot start a worker runtime");
                        return;
                    }
                };
                runtime.block_on(async move {
                    let result = async {
                        listener.set_nonblocking(true)?;
                        let listener = TcpListener::from_std(listener)?;
                        serve_connections(listener, None, app, listening).await
                    }
                    .await;
                    if let Err(e) = result {
                        tracing::error!(component = component.name(), error = %e, "worker stopped with an error");
                    }
                });
                let _ = tx.send(());
            })
            .map_err(|e| format!("{component}: cannot start a worker thread: {e}"))?;
    }
    for rx in done {
        let _ = rx.await;
    }
    Ok(())
}

/// Serves `app` on `listener` until shutdown, then lets in-flight requests finish (up to 30 s).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    listening: Listening,
) -> std::io::Result<()> {
    serve_connections(listener, None, router_service(app), listening).await
}

/// Server-side TLS from a PEM certificate chain and key (HTTP/1.1 and HTTP/2 by ALPN).
pub fn tls_config(
    files: &hg_platform::config::TlsFiles,
) -> Result<std::sync::Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("GATEWAY_TLS_CERT {}: {e}", files.cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| format!("GATEWAY_TLS_KEY {}: {e}", files.key.display()))?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("GATEWAY_TLS_CERT/GATEWAY_TLS_KEY: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(std::sync::Arc::new(config))
}

/// Serves `app` over TLS on `listener` until shutdown, then lets open connections finish their
/// requests (up to 30 s).
pub async fn serve_tls(
    listener: TcpListener,
    app: Router,
    tls: std::sync::Arc<rustls::ServerConfig>,
    listening: Listening,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    serve_connections(listener, Some(acceptor), router_service(app), listening).await
}

/// The answer to a connection beyond `HTTP_MAX_CONNECTIONS` (plain HTTP only; a TLS one is closed).
fn too_many_connections() -> Vec<u8> {
    let body = r#"{"status":"error","code":503,"error":{"id":"HG-TOO-MANY-CONNECTIONS","message":"the server has too many open connections; retry later"}}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves each connection accepted on `listener` (over TLS with `tls`) with the service `make`
/// builds for it (HTTP/1.1, or HTTP/2 when the client speaks it), within the limits of
/// `listening` (see [`super::connection`]), until shutdown; then lets open connections finish
/// their requests (up to 30 s).
pub async fn serve_connections(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    make: MakeConnService,
    listening: Listening,
) -> std::io::Result<()> {
    let component = listening.component.name();
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let limits = Arc::new(listening.limits);
    loop {
        let (mut tcp, peer) = tokio::select! {
            _ = listening.shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    // Out of descriptors, say: let some close before trying again.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = listening.open.clone().try_acquire_owned() else {
            metrics::counter!("http_connections_rejected_total", "component" => component)
                .increment(1);
            tracing::warn!(%peer, "too many open connections; refusing one");
            let plain = tls.is_none();
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                if plain {
                    let _ = tokio::time::timeout(Duration::from_secs(1), async {
                        let _ = tcp.write_all(&too_many_connections()).await;
                        let _ = tcp.shutdown().await;
                    })
                    .await;
                }
            });
            continue;
        };
        // Small request/response exchanges must not wait for Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
        let service = make(peer);
        let watcher = graceful.watcher();
        let limits = limits.clone();
        match tls.clone() {
            None => {
                tokio::spawn(async move {
                    serve_connection(tcp, peer, service, watcher, &limits, component).await;
                    drop(permit);
                });
            }
            Some(acceptor) => {
                tokio::spawn(async move {
                    let handshake = limits.header_timeout.max(Duration::from_secs(1));
                    match tokio::time::timeout(handshake, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            serve_connection(stream, peer, service, watcher, &limits, component)
                                .await
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => {}
                    }
                    drop(permit);
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open 30 s after shutdown; closing them");
    }
    Ok(())
}

async fn serve_connection<I>(
    io: I,
    peer: SocketAddr,
    service: ConnService,
    watcher: hyper_util::server::graceful::Watcher,
    limits: &ConnectionConfig,
    component: &'static str,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tower::ServiceExt;

    let state = ConnState::new(limits);
    let body_timeout = limits.body_timeout;
    let conn_state = state.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let in_flight = conn_state.begin();
        let progress = BodyProgress::default();
        let mut req = req.map(|b| {
            axum::body::Body::new(TimedBody::new(
                axum::body::Body::new(b),
                body_timeout,
                progress.clone(),
            ))
        });
        let http1 = req.version() < http::Version::HTTP_2;
        req.extensions_mut().insert(progress.clone());
        let answer = service.clone().oneshot(req);
        async move {
            let mut resp = answer.await?;
            // Answered before the body was read (413, a late body): the connection cannot carry
            // another request, and the client must not try.
            if http1 && !progress.is_done() {
                resp.headers_mut().insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
            }
            Ok::<_, std::convert::Infallible>(
                resp.map(|b| axum::body::Body::new(GuardedBody::new(b, in_flight))),
            )
        }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder.http1().max_buf_size(MAX_BUF_SIZE);
    let conn = builder
        .serve_connection_with_upgrades(TokioIo::new(GuardedIo::new(io, state.clone())), service);
    tokio::select! {
        result = watcher.watch(conn.into_owned()) => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        }
        why = state.expired() => {
            metrics::counter!("http_connections_timed_out_total", "component" => component, "reason" => why.label())
                .increment(1);
            tracing::debug!(%peer, reason = why.label(), "closing a connection that timed out");
        }
    }
}
