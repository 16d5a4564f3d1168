//! Assembling a component's application (its routes, health, fallbacks, the standard layers,
//! `/metrics`) and serving it until shutdown, draining in-flight requests.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::health;
use super::middleware::{method_not_allowed, not_found, standard_layers};
use crate::component::Component;
use crate::context::Platform;

/// The complete application of `component` around its own `routes`. `inner` wraps the routes (with
/// health, metrics and fallbacks) in component-specific layers — the gateway's API key check, say —
/// inside the standard ones, so their answers are negotiated, logged and counted like any other.
pub fn component_app(
    component: Component,
    platform: &Platform,
    routes: Router<Platform>,
    inner: impl FnOnce(Router) -> Router,
) -> Router {
    let app = routes
        .merge(health::routes(component))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(platform.clone());
    standard_layers(inner(app), component.name(), component.body_limit())
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

/// Serves on `workers` threads, each with a single-threaded runtime, its own socket listening on
/// `first`'s address (`SO_REUSEPORT`: the kernel spreads connections between them) and its own
/// connection services from `make_app`. A request, the upstream connection it uses and their
/// wake-ups then stay on one thread, as in nginx's worker model, which is what a forwarding proxy
/// needs to be fast. Returns when every worker has stopped after `shutdown`.
pub async fn serve_workers(
    component: Component,
    first: std::net::TcpListener,
    workers: usize,
    make_app: WorkerFactory,
    shutdown: CancellationToken,
) -> Result<(), String> {
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
        let shutdown = shutdown.clone();
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
                        serve_connections(listener, None, app, shutdown).await
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

/// Serves `app` on `listener` until `shutdown` is cancelled, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // Small request/response exchanges must not wait for Nagle's algorithm.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.cancelled_owned())
    .await
}

/// Server-side TLS from a PEM certificate chain and key (HTTP/1.1 and HTTP/2 by ALPN).
pub fn tls_config(
    files: &crate::config::TlsFiles,
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

/// Serves `app` over TLS on `listener` until `shutdown`, then lets open connections finish their
/// requests (up to 30 s).
pub async fn serve_tls(
    listener: TcpListener,
    app: Router,
    tls: std::sync::Arc<rustls::ServerConfig>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    serve_connections(listener, Some(acceptor), router_service(app), shutdown).await
}

/// Serves each connection accepted on `listener` (over TLS with `tls`) with the service `make`
/// builds for it (HTTP/1.1, or HTTP/2 when the client speaks it), until `shutdown`; then lets open
/// connections finish their requests (up to 30 s).
pub async fn serve_connections(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    make: MakeConnService,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (tcp, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
        };
        // Small request/response exchanges must not wait for Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
        let service = make(peer);
        let watcher = graceful.watcher();
        match tls.clone() {
            None => {
                tokio::spawn(serve_connection(tcp, peer, service, watcher));
            }
            Some(acceptor) => {
                tokio::spawn(async move {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                    {
                        Ok(Ok(stream)) => serve_connection(stream, peer, service, watcher).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => {}
                    }
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
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tower::ServiceExt;

    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        service.clone().oneshot(req.map(axum::body::Body::new))
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder.http1().max_buf_size(MAX_BUF_SIZE);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(conn.into_owned()).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
