//! Bounds on what one client connection may hold (spec/04 "Rate limiting": slow and idle clients):
//!
//! * a connection that sends nothing, or only part of a request head, is closed
//!   `HTTP_HEADER_TIMEOUT_SECS` after it opened or after the head's first byte;
//! * a kept-alive connection is closed after `HTTP_IDLE_TIMEOUT_SECS` without a request;
//! * a request body must arrive within `HTTP_BODY_TIMEOUT_SECS` of its head: reading it later fails
//!   with [`BodyTimeout`], which the extractors answer 400 `HG-BODY-TIMEOUT`;
//! * while a request is being handled (its response included, however long it streams) neither
//!   connection timeout runs: handlers and upstream timeouts govern that time.
//!
//! [`ConnState`] is shared by the connection's byte stream ([`GuardedIo`], which notes when a head
//! starts), its service (which counts requests in flight with [`InFlight`]) and the watchdog
//! ([`ConnState::expired`]) whose completion closes the connection.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use hyper::body::{Body as _, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

use hg_platform::config::ConnectionConfig;

/// Why a connection was closed by its watchdog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// The request head (or the first one) did not arrive in time.
    Header,
    /// No request came on a kept-alive connection.
    Idle,
}

impl Expiry {
    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            Expiry::Header => "header",
            Expiry::Idle => "idle",
        }
    }
}

struct Inner {
    in_flight: u32,
    /// When the head being waited for started: the connection's start, or the first byte read while
    /// no request was in flight.
    head_started: Option<Instant>,
    /// When the last request finished.
    last_done: Instant,
}

/// What one connection is doing, as its timeouts need to know.
pub struct ConnState {
    inner: Mutex<Inner>,
    /// Signalled when the last request in flight finishes.
    idle: Notify,
    header_timeout: Duration,
    idle_timeout: Duration,
}

impl ConnState {
    /// The state of a connection accepted now.
    pub fn new(cfg: &ConnectionConfig) -> Arc<Self> {
        let now = Instant::now();
        Arc::new(Self {
            inner: Mutex::new(Inner {
                in_flight: 0,
                head_started: Some(now),
                last_done: now,
            }),
            idle: Notify::new(),
            header_timeout: cfg.header_timeout,
            idle_timeout: cfg.idle_timeout,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bytes_read(&self) {
        let mut inner = self.lock();
        if inner.in_flight == 0 && inner.head_started.is_none() {
            inner.head_started = Some(Instant::now());
        }
    }

    /// Notes a request whose head has arrived; the returned guard ends it when dropped.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        let mut inner = self.lock();
        inner.in_flight += 1;
        inner.head_started = None;
        InFlight(self.clone())
    }

    fn end(&self) {
        let mut inner = self.lock();
        inner.in_flight = inner.in_flight.saturating_sub(1);
        if inner.in_flight == 0 {
            inner.last_done = Instant::now();
            drop(inner);
            self.idle.notify_one();
        }
    }

    /// Completes when the connection has waited too long for a request head or sat idle too long.
    pub async fn expired(&self) -> Expiry {
        loop {
            let due = {
                let inner = self.lock();
                if inner.in_flight > 0 {
                    None
                } else if let Some(start) = inner.head_started {
                    Some((start + self.header_timeout, Expiry::Header))
                } else {
                    Some((inner.last_done + self.idle_timeout, Expiry::Idle))
                }
            };
            match due {
                None => self.idle.notified().await,
                Some((at, why)) if at <= Instant::now() => return why,
                Some((at, _)) => tokio::time::sleep_until(at).await,
            }
        }
    }
}

/// A request in flight on a connection; ends when dropped (with the response body, or with the
/// request's future when the client goes away first).
pub struct InFlight(Arc<ConnState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// A connection's byte stream, reporting reads to its [`ConnState`].
pub struct GuardedIo<I> {
    io: I,
    state: Arc<ConnState>,
}

impl<I> GuardedIo<I> {
    /// Wraps `io`.
    pub fn new(io: I, state: Arc<ConnState>) -> Self {
        Self { io, state }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for GuardedIo<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.bytes_read();
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for GuardedIo<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// The request body did not arrive within `HTTP_BODY_TIMEOUT_SECS`.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {} s", .0.as_secs())]
pub struct BodyTimeout(pub Duration);

/// Whether `err` or one of its sources is `E`.
pub fn caused_by<E: std::error::Error + 'static>(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.is::<E>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// How far a request body has come, for a proxy that must not count the time the client takes to
/// send it against its upstream's deadline (kept in the request's extensions).
#[derive(Clone, Default)]
pub struct BodyProgress(Arc<ProgressInner>);

#[derive(Default)]
struct ProgressInner {
    done: std::sync::atomic::AtomicBool,
    notify: Notify,
}

impl BodyProgress {
    fn finish(&self) {
        if !self.0.done.swap(true, std::sync::atomic::Ordering::AcqRel) {
            self.0.notify.notify_waiters();
        }
    }

    /// Whether the body has been read to its end (or failed).
    pub fn is_done(&self) -> bool {
        self.0.done.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Completes once the body has been read to its end (or failed).
    pub async fn finished(&self) {
        loop {
            let notified = self.0.notify.notified();
            if self.0.done.load(std::sync::atomic::Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

/// A request body that fails with [`BodyTimeout`] when it has not ended by its deadline.
pub struct TimedBody {
    inner: Body,
    deadline: Pin<Box<Sleep>>,
    limit: Duration,
    progress: BodyProgress,
}

impl TimedBody {
    /// `inner`, due within `limit` from now; `progress` learns when it ends.
    pub fn new(inner: Body, limit: Duration, progress: BodyProgress) -> Self {
        if inner.is_end_stream() {
            progress.finish();
        }
        Self {
            inner,
            deadline: Box::pin(tokio::time::sleep(limit)),
            limit,
            progress,
        }
    }
}

impl hyper::body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                this.progress.finish();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                this.progress.finish();
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(Some(Ok(frame))) => {
                if this.inner.is_end_stream() {
                    this.progress.finish();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.progress.finish();
                    Poll::Ready(Some(Err(Box::new(BodyTimeout(this.limit)))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// How much of a too-large body a proxy reads and throws away before answering 413, so the client,
/// which may still be sending, gets to read the answer instead of a reset connection (nginx's
/// "lingering close"). Past it the answer goes out at once.
pub const DISCARD_AFTER_LIMIT: u64 = 8 * 1024 * 1024;

/// Why [`read_limited`] returned no body.
#[derive(Debug)]
pub enum ReadError {
    /// The body is longer than the limit (the rest was read and dropped, up to
    /// [`DISCARD_AFTER_LIMIT`]).
    TooLarge,
    /// Reading failed (a late body, a client that broke off).
    Failed(axum::Error),
}

/// Reads `body` whole when it has at most `limit` bytes. A longer one is read on, and dropped, up to
/// [`DISCARD_AFTER_LIMIT`] more bytes before [`ReadError::TooLarge`] is returned.
pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, ReadError> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut kept = bytes::BytesMut::new();
    let mut seen: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(ReadError::Failed)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len() as u64;
        if seen <= limit as u64 {
            kept.extend_from_slice(&data);
        } else if seen > limit as u64 + DISCARD_AFTER_LIMIT {
            return Err(ReadError::TooLarge);
        }
    }
    if seen > limit as u64 {
        Err(ReadError::TooLarge)
    } else {
        Ok(kept.freeze())
    }
}

/// A response body that keeps its request [`InFlight`] until it has been sent (or dropped).
pub struct GuardedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl GuardedBody {
    /// `inner`, ending `in_flight` when done.
    pub fn new(inner: Body, in_flight: InFlight) -> Self {
        Self {
            inner,
            _in_flight: in_flight,
        }
    }
}

impl hyper::body::Body for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(header: u64, idle: u64) -> ConnectionConfig {
        ConnectionConfig {
            header_timeout: Duration::from_secs(header),
            body_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(idle),
            max_connections: 10,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_expires_after_the_header_timeout() {
        let state = ConnState::new(&cfg(2, 30));
        let start = Instant::now();
        assert_eq!(state.expired().await, Expiry::Header);
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn requests_in_flight_hold_the_timeouts_and_idle_follows_them() {
        let state = ConnState::new(&cfg(2, 30));
        let guard = state.begin();
        let watch = {
            let state = state.clone();
            tokio::spawn(async move { (state.expired().await, Instant::now()) })
        };
        tokio::time::sleep(Duration::from_secs(100)).await;
        assert!(
            !watch.is_finished(),
            "a request in flight is never timed out"
        );
        let done = Instant::now();
        drop(guard);
        let (why, at) = watch.await.unwrap();
        assert_eq!(why, Expiry::Idle);
        assert_eq!(at - done, Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_started_while_idle_gets_the_header_timeout() {
        let state = ConnState::new(&cfg(2, 30));
        drop(state.begin());
        tokio::time::sleep(Duration::from_secs(10)).await;
        state.bytes_read();
        let start = Instant::now();
        assert_eq!(state.expired().await, Expiry::Header);
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_body_fails_with_body_timeout() {
        let (mut tx, body) = {
            let (tx, rx) =
                futures::channel::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(1);
            (tx, Body::new(http_body_util::StreamBody::new(rx)))
        };
        let progress = BodyProgress::default();
        let timed = TimedBody::new(body, Duration::from_secs(3), progress.clone());
        use futures::SinkExt;
        tx.send(Ok(Frame::data(Bytes::from_static(b"part"))))
            .await
            .unwrap();
        let err = axum::body::to_bytes(Body::new(timed), 1024)
            .await
            .unwrap_err();
        assert!(caused_by::<BodyTimeout>(&err), "{err}");
        tokio::time::timeout(Duration::from_millis(1), progress.finished())
            .await
            .expect("the progress ends with the body");
    }
}
