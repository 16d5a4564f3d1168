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
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tower::ServiceExt;

    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
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
        let acceptor = acceptor.clone();
        let app = app.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
            let service = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    app.clone().oneshot(req.map(axum::body::Body::new))
                },
            );
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
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
