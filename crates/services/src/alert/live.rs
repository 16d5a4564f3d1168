//! The live feed's HTTP side: Server-Sent Events from a [`Feed`], polled every 250 ms, with a
//! comment line every 15 s so proxies keep an idle connection open. The connection ends when the
//! client leaves or the process shuts down.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use hg_domain::alert::feed::{Change, Feed};
use hg_platform::Platform;

use crate::common::Caller;

/// How often a connection asks for new changes.
const POLL: Duration = Duration::from_millis(250);

struct Live {
    platform: Platform,
    caller: Caller,
    feed: Feed,
    pending: VecDeque<Change>,
}

impl Live {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            if let Some(c) = self.pending.pop_front() {
                let event = Event::default()
                    .id(c.id.to_string())
                    .event("alert")
                    .json_data(&c)
                    .unwrap_or_else(|_| Event::default().comment("unserializable change"));
                return Some((Ok(event), self));
            }
            match self.platform.db.acquire().await {
                Ok(mut conn) => match self.feed.next(&mut conn, &self.caller).await {
                    Ok(changes) => self.pending.extend(changes),
                    Err(e) => tracing::warn!(error = %e, "the alert feed could not read; retrying"),
                },
                Err(e) => tracing::warn!(error = %e, "the alert feed has no connection; retrying"),
            }
            if self.pending.is_empty() {
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = self.platform.shutdown.cancelled() => return None,
                }
            }
        }
    }
}

/// The SSE answer for `caller` from `feed`.
pub fn sse(platform: Platform, caller: Caller, feed: Feed) -> Response {
    metrics::counter!("alert_feed_connections_total").increment(1);
    let live = Live {
        platform,
        caller,
        feed,
        pending: VecDeque::new(),
    };
    let events = futures::stream::unfold(live, Live::next);
    let mut resp = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    // Through nginx: do not buffer the stream.
    resp.headers_mut()
        .insert("x-accel-buffering", http::HeaderValue::from_static("no"));
    resp
}
