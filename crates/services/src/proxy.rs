//! Forwarding HTTP requests to another server, used by the gateway (to the services) and by the admin
//! component's public API edge (to the gateway): method, path, query, end-to-end headers and body go
//! through unchanged and streamed both ways; hop-by-hop headers are dropped; `X-Forwarded-For`,
//! `X-Forwarded-Proto` and `X-Request-ID` are set. Connections are kept alive: in a shared pool
//! ([`Forwarder::forward`]), or per client connection ([`Forwarder::forward_pinned`], the gateway's
//! plain-HTTP workers).

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use axum::body::Body;
use axum::body::HttpBody as _;
use axum::extract::Request;
use axum::response::Response;
use hg_http::client_ip::X_FORWARDED_FOR;
use hg_http::connection::{BodyProgress, BodyTimeout};
use hg_http::request_id::X_REQUEST_ID;
use http::header::{CONNECTION, HOST};
use http::uri::{Authority, Scheme};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use hyper::client::conn::http1::SendRequest;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

/// The `X-Forwarded-Proto` header.
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Headers meaningful only for one hop (RFC 9110 §7.6.1), never forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Why a forward failed.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// Nothing listens at the upstream (or it refused the connection).
    #[error("upstream unreachable: {0}")]
    Connect(String),
    /// The upstream did not answer in time.
    #[error("upstream did not answer within {0:?}")]
    Timeout(Duration),
    /// The exchange broke after connecting.
    #[error("upstream failed: {0}")]
    Failed(String),
    /// The client's request body failed while it was being forwarded: it came too slowly, was too
    /// large or broke off. The upstream is not at fault.
    #[error("the client's request body failed: {0:?}")]
    ClientBody(ClientBody),
}

/// How a client's request body failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientBody {
    /// It did not arrive within `HTTP_BODY_TIMEOUT_SECS`.
    Timeout(Duration),
    /// It was larger than the route accepts.
    TooLarge,
    /// The client broke it off or sent it malformed.
    Broken,
}

impl ForwardError {
    /// Classifies a failed exchange: the client's body, or the upstream.
    fn of(err: &(dyn std::error::Error + 'static)) -> Self {
        let mut next = Some(err);
        let mut user_body = false;
        while let Some(e) = next {
            if let Some(t) = e.downcast_ref::<BodyTimeout>() {
                return Self::ClientBody(ClientBody::Timeout(t.0));
            }
            if e.is::<http_body_util::LengthLimitError>() {
                return Self::ClientBody(ClientBody::TooLarge);
            }
            user_body |= e
                .downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_user);
            next = e.source();
        }
        if user_body {
            Self::ClientBody(ClientBody::Broken)
        } else {
            Self::Failed(err.to_string())
        }
    }

    /// The answer when the client, not the upstream, is at fault.
    pub fn client_error(&self) -> Option<hg_http::ApiError> {
        use hg_http::ApiError;
        match self {
            Self::ClientBody(ClientBody::Timeout(d)) => Some(ApiError::body_timeout(*d)),
            Self::ClientBody(ClientBody::TooLarge) => Some(ApiError::payload_too_large()),
            Self::ClientBody(ClientBody::Broken) => {
                Some(ApiError::bad_payload("the request body could not be read"))
            }
            _ => None,
        }
    }
}

/// Waits for an upstream's answer `fut`: as long as the client is still sending the request body
/// (`progress`; bounded by `HTTP_BODY_TIMEOUT_SECS`), then at most `timeout` more. A slow client
/// is thus never taken for a slow upstream.
async fn answer<F: std::future::Future>(
    fut: F,
    progress: Option<&BodyProgress>,
    timeout: Duration,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    tokio::pin!(fut);
    if let Some(progress) = progress {
        tokio::select! {
            biased;
            r = &mut fut => return Ok(r),
            _ = progress.finished() => {}
        }
    }
    tokio::time::timeout(timeout, fut).await
}

/// Where an upstream is: scheme and `host:port`, parsed once when the forwarder is set up rather
/// than on every request.
#[derive(Clone, Debug)]
pub struct Origin {
    scheme: Scheme,
    authority: Authority,
    /// `authority` as a `Host` header.
    host: HeaderValue,
}

impl Origin {
    /// Parses `http://host:port` or `https://host:port` (nothing after the authority).
    pub fn parse(text: &str) -> Result<Self, String> {
        let uri: Uri = text
            .parse()
            .map_err(|e| format!("{text:?} is not an http(s) origin: {e}"))?;
        let parts = uri.into_parts();
        match (parts.scheme, parts.authority) {
            (Some(scheme), Some(authority))
                if (scheme == Scheme::HTTP || scheme == Scheme::HTTPS)
                    && parts
                        .path_and_query
                        .as_ref()
                        .is_none_or(|p| p.as_str() == "/") =>
            {
                let host = HeaderValue::from_str(authority.as_str())
                    .map_err(|e| format!("{text:?}: not a valid host: {e}"))?;
                Ok(Self {
                    scheme,
                    authority,
                    host,
                })
            }
            _ => Err(format!(
                "{text:?} is not an http(s) origin (scheme://host:port)"
            )),
        }
    }

    /// The URI of `path_and_query` at this origin.
    fn uri(&self, path_and_query: &str) -> Result<Uri, ForwardError> {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|e| ForwardError::Failed(format!("bad upstream URI: {e}")))
    }
}

/// One forward: where to, and what to add.
pub struct Target<'a> {
    /// The upstream.
    pub origin: &'a Origin,
    /// Path and query to request there.
    pub path_and_query: &'a str,
    /// How long the upstream may take to send its response head.
    pub timeout: Duration,
    /// The address the request came from (our TCP peer), appended to `X-Forwarded-For`.
    pub peer: IpAddr,
    /// Whether the peer is a trusted proxy whose `X-Forwarded-For` is kept; otherwise the header is
    /// replaced, so a client cannot forge its address.
    pub trust_forwarded: bool,
    /// `http` or `https`, as the client reached us.
    pub proto: &'static str,
    /// Headers to set (e.g. the internal API key) or remove (`None`) before forwarding.
    pub set_headers: &'a [(HeaderName, Option<HeaderValue>)],
}

/// A pooled HTTP/1.1 client (plain and TLS) for forwarding.
#[derive(Clone)]
pub struct Forwarder {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>,
}

impl Forwarder {
    /// A forwarder trusting the system's roots, or only `ca_pem` when given.
    pub fn new(ca_pem: Option<&[u8]>) -> Result<Self, String> {
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let builder = match ca_pem {
            Some(pem) => {
                use rustls::pki_types::CertificateDer;
                use rustls::pki_types::pem::PemObject;
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(pem) {
                    let cert = cert.map_err(|e| format!("CA certificate: {e}"))?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("CA certificate: {e}"))?;
                }
                builder.with_tls_config(
                    rustls::ClientConfig::builder()
                        .with_root_certificates(roots)
                        .with_no_client_auth(),
                )
            }
            None => builder
                .with_native_roots()
                .map_err(|e| format!("system CA certificates: {e}"))?,
        };
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let connector = builder.https_or_http().enable_http1().wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            // Well below the servers' HTTP_IDLE_TIMEOUT_SECS (default 60), so a kept connection is
            // not reused just as the server closes it.
            .pool_idle_timeout(Duration::from_secs(20))
            .pool_max_idle_per_host(256)
            .build(connector);
        Ok(Self { client })
    }

    /// Sends `req` to `target` and returns the upstream's response with its body streaming.
    pub async fn forward(
        &self,
        req: Request,
        target: Target<'_>,
    ) -> Result<Response, ForwardError> {
        let (mut parts, body) = req.into_parts();
        prepare(&mut parts, &target);
        parts.uri = target.origin.uri(target.path_and_query)?;
        // A pooled connection the upstream has just closed fails the request sent on it. A request
        // that is safe to repeat and has no body (nothing consumed) is sent once more.
        let mut replay = Replay::of(&parts, &body);
        let progress = parts.extensions.get::<BodyProgress>().cloned();
        let mut upstream = http::Request::from_parts(parts, body);
        let response = loop {
            let sent = self.client.request(upstream);
            match answer(sent, progress.as_ref(), target.timeout).await {
                Err(_) => return Err(ForwardError::Timeout(target.timeout)),
                Ok(Err(e)) if e.is_connect() => return Err(ForwardError::Connect(e.to_string())),
                Ok(Err(e)) => match replay.take() {
                    Some(again) => {
                        tracing::debug!(error = %e, "upstream connection failed; sending again");
                        upstream = again.request();
                    }
                    None => return Err(ForwardError::of(&e)),
                },
                Ok(Ok(r)) => break r,
            }
        };
        Ok(finish(response))
    }

    /// Like [`forward`](Self::forward), but over upstream connections that belong to one client
    /// connection (`pinned`): the connection a client's previous request used is used again, with
    /// no shared pool to check out from, so a forward costs about what it costs nginx. The gateway
    /// does this for its own clients; TLS upstreams go through the shared pool.
    pub async fn forward_pinned(
        &self,
        pinned: &Pinned,
        req: Request,
        target: Target<'_>,
    ) -> Result<Response, ForwardError> {
        if target.origin.scheme != Scheme::HTTP {
            return self.forward(req, target).await;
        }
        let (mut parts, body) = req.into_parts();
        prepare(&mut parts, &target);
        parts.uri = Uri::try_from(target.path_and_query)
            .map_err(|e| ForwardError::Failed(format!("bad upstream URI: {e}")))?;
        parts.headers.insert(HOST, target.origin.host.clone());
        let mut replay = Replay::of(&parts, &body);
        let progress = parts.extensions.get::<BodyProgress>().cloned();
        let deadline = tokio::time::Instant::now() + target.timeout;
        let authority = &target.origin.authority;
        let connect = || connect(authority, deadline, target.timeout);
        let (mut sender, mut reused) = match pinned.take(authority) {
            Some(s) => (s, true),
            None => (connect().await?, false),
        };
        let mut upstream = http::Request::from_parts(parts, body);
        let response = loop {
            // A kept connection the upstream has closed since is found out here, before sending.
            if sender.ready().await.is_err() {
                sender = connect().await?;
                reused = false;
            }
            let sent = sender.send_request(upstream);
            match answer(sent, progress.as_ref(), target.timeout).await {
                Err(_) => return Err(ForwardError::Timeout(target.timeout)),
                Ok(Ok(r)) => break r,
                Ok(Err(e)) => match replay.take().filter(|_| reused) {
                    Some(again) => {
                        tracing::debug!(error = %e, "kept upstream connection failed; sending again");
                        upstream = again.request();
                        sender = connect().await?;
                        reused = false;
                    }
                    None => return Err(ForwardError::of(&e)),
                },
            }
        };
        pinned.put(authority, sender);
        Ok(finish(response))
    }
}

/// Upstream connections kept for one client connection, at most one per upstream (a few more
/// only while an HTTP/2 client has requests in flight at once). They close with it.
#[derive(Default)]
pub struct Pinned {
    idle: Mutex<Vec<(Authority, SendRequest<Body>)>>,
}

impl Pinned {
    /// At most this many idle connections are kept.
    const MAX_IDLE: usize = 8;

    /// A kept connection to `authority` that can take a request now. One still busy with an
    /// earlier response (an HTTP/2 client's concurrent requests) is left for later rather than
    /// waited for; closed ones are dropped.
    fn take(&self, authority: &Authority) -> Option<SendRequest<Body>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.retain(|(_, s)| !s.is_closed());
        let i = idle
            .iter()
            .position(|(a, s)| a == authority && s.is_ready())?;
        Some(idle.swap_remove(i).1)
    }

    fn put(&self, authority: &Authority, sender: SendRequest<Body>) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < Self::MAX_IDLE {
            idle.push((authority.clone(), sender));
        }
    }
}

/// Opens an HTTP/1.1 connection to `authority` (plain TCP) and runs it in its own task.
async fn connect(
    authority: &Authority,
    deadline: tokio::time::Instant,
    timeout: Duration,
) -> Result<SendRequest<Body>, ForwardError> {
    let connecting = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(authority.as_str()));
    let tcp = match tokio::time::timeout_at(deadline, connecting).await {
        Err(_) => return Err(ForwardError::Timeout(timeout)),
        Ok(Err(_)) => {
            return Err(ForwardError::Connect(format!(
                "no answer from {authority} within {CONNECT_TIMEOUT:?}"
            )));
        }
        Ok(Ok(Err(e))) => return Err(ForwardError::Connect(format!("{authority}: {e}"))),
        Ok(Ok(Ok(tcp))) => tcp,
    };
    let _ = tcp.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(hg_http::server::MAX_BUF_SIZE)
        .handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| ForwardError::Failed(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}

/// How long connecting to an upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// What is needed to send a request again: only kept for one that is safe to repeat and has no
/// body.
struct Replay {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

impl Replay {
    fn of(parts: &http::request::Parts, body: &Body) -> Option<Self> {
        (matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
            && body.is_end_stream())
        .then(|| Self {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
        })
    }

    fn request(self) -> http::Request<Body> {
        let mut again = http::Request::new(Body::empty());
        *again.method_mut() = self.method;
        *again.uri_mut() = self.uri;
        *again.headers_mut() = self.headers;
        again
    }
}

/// The request as it goes upstream, but for its URI: end-to-end headers only, forwarding headers
/// set, the request id passed on, `target.set_headers` applied.
fn prepare(parts: &mut http::request::Parts, target: &Target<'_>) {
    parts.version = http::Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(HOST);
    if !target.trust_forwarded {
        parts.headers.remove(&X_FORWARDED_FOR);
    }
    append_forwarded_for(&mut parts.headers, target.peer);
    if !parts.headers.contains_key(&X_FORWARDED_PROTO) {
        parts.headers.insert(
            X_FORWARDED_PROTO.clone(),
            HeaderValue::from_static(target.proto),
        );
    }
    if let Some(rid) = parts.extensions.get::<hg_http::RequestId>() {
        parts
            .headers
            .insert(X_REQUEST_ID.clone(), rid.header_value());
    }
    for (name, value) in target.set_headers {
        match value {
            Some(v) => {
                parts.headers.insert(name.clone(), v.clone());
            }
            None => {
                parts.headers.remove(name);
            }
        }
    }
}

/// The upstream's response as it goes back: hop-by-hop headers dropped, body streaming.
fn finish<B>(response: http::Response<B>) -> Response
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, Body::new(body))
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // The common case — none of them present — costs one pass over the names, no hashing.
    if !headers.keys().any(|k| HOP_BY_HOP.contains(&k.as_str())) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

fn append_forwarded_for(headers: &mut HeaderMap, peer: IpAddr) {
    use std::fmt::Write as _;
    let mut value = String::with_capacity(48);
    for hop in headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
    {
        value.push_str(hop);
        value.push_str(", ");
    }
    let _ = write!(value, "{peer}");
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(X_FORWARDED_FOR.clone(), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_named_in_connection_are_dropped() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, "keep-alive, x-secret-hop".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert("x-secret-hop", "1".parse().unwrap());
        h.insert("transfer-encoding", "chunked".parse().unwrap());
        h.insert("x-end-to-end", "kept".parse().unwrap());
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert_eq!(h["x-end-to-end"], "kept");
    }

    #[test]
    fn the_peer_is_appended_to_x_forwarded_for() {
        let mut h = HeaderMap::new();
        append_forwarded_for(&mut h, "10.0.0.1".parse().unwrap());
        assert_eq!(h[&X_FORWARDED_FOR], "10.0.0.1");
        append_forwarded_for(&mut h, "10.0.0.2".parse().unwrap());
        assert_eq!(h[&X_FORWARDED_FOR], "10.0.0.1, 10.0.0.2");
    }
}
