//! The consumer framework (spec/05 "Events"): a consumer names itself and the event types it wants,
//! and handles one event inside a transaction. The broker ([`super::Broker::consume`]) gives it a
//! durable queue bound to those types and the guarantees around the handler:
//!
//! * the event's `processed_events` row is written in the handler's transaction, first — an event
//!   delivered twice is handled once, and a second consumer process waits for the first;
//! * the message is acknowledged only after the commit, so a consumer that dies before it is
//!   handed the event again;
//! * a failure ([`ConsumerError::Retry`]) is retried after [`ConsumerSpec::retry_delay`], and after
//!   [`ConsumerSpec::max_attempts`] failures (or at once for [`ConsumerError::Reject`]) the event is
//!   dead-lettered, where [`QueueStats::dead`] counts it.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgConnection;

use super::EventMessage;
use crate::db::DbError;

/// What a consumer is: its name (queue and `processed_events` key) and the event types it gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerSpec {
    /// Unique name, e.g. `alert-engine`: `[a-z0-9-]`.
    pub name: &'static str,
    /// Routing patterns of the event types it gets (`alert.created`, `telemetry.*`, `audit.#`):
    /// words separated by dots, `*` one word, `#` any number of words.
    pub bindings: &'static [&'static str],
    /// Messages RabbitMQ hands the consumer ahead of its acknowledgements.
    pub prefetch: u16,
    /// Failed attempts before an event is dead-lettered.
    pub max_attempts: u32,
    /// How long a failed event waits before it is delivered again.
    pub retry_delay: Duration,
}

impl ConsumerSpec {
    /// A consumer with the default prefetch (16), attempts (5) and retry delay (5 s).
    pub const fn new(name: &'static str, bindings: &'static [&'static str]) -> Self {
        Self {
            name,
            bindings,
            prefetch: 16,
            max_attempts: 5,
            retry_delay: Duration::from_secs(5),
        }
    }

    /// Whether an event of `event_type` reaches this consumer.
    pub fn matches(&self, event_type: &str) -> bool {
        self.bindings.iter().any(|p| pattern_matches(p, event_type))
    }
}

/// Why a consumer could not handle an event.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// It may work later (a dependency is down): retried after the delay.
    #[error("{0}")]
    Retry(String),
    /// It never will (a malformed event): dead-lettered at once.
    #[error("{0}")]
    Reject(String),
}

impl From<DbError> for ConsumerError {
    fn from(e: DbError) -> Self {
        ConsumerError::Retry(e.to_string())
    }
}

impl From<sqlx::Error> for ConsumerError {
    fn from(e: sqlx::Error) -> Self {
        ConsumerError::Retry(DbError::from(e).to_string())
    }
}

/// A consumer of domain events.
#[async_trait]
pub trait Consumer: Send + Sync {
    /// Its name and bindings.
    fn spec(&self) -> &ConsumerSpec;
    /// Handles one event inside the transaction `conn` (committed by the framework when this
    /// returns `Ok`, rolled back otherwise). It is never called twice for one event id once a call
    /// has committed.
    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &EventMessage,
    ) -> Result<(), ConsumerError>;
}

/// How many events a consumer's queue holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Waiting to be handled (retries included).
    pub ready: u64,
    /// Dead-lettered.
    pub dead: u64,
}

/// What [`claim_and_handle`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Handled {
    /// The consumer handled the event.
    Now,
    /// It had been handled before (a redelivery): nothing was done.
    Before,
}

/// Claims `event` for `consumer` in the transaction `conn` (its `processed_events` row) and, unless
/// it was handled before, hands it to the consumer. The caller commits, then acknowledges.
pub async fn claim_and_handle(
    conn: &mut PgConnection,
    consumer: &dyn Consumer,
    event: &EventMessage,
) -> Result<Handled, ConsumerError> {
    let claimed = sqlx::query!(
        "insert into processed_events (consumer, event_id) values ($1, $2) on conflict do nothing",
        consumer.spec().name,
        event.id,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if claimed == 0 {
        return Ok(Handled::Before);
    }
    consumer.handle(conn, event).await?;
    Ok(Handled::Now)
}

/// Counts a handled, duplicate, retried or dead-lettered event.
pub(crate) fn count(consumer: &'static str, outcome: &'static str) {
    metrics::counter!("consumer_events_total", "consumer" => consumer, "outcome" => outcome)
        .increment(1);
}

fn escape(word: &str) -> String {
    word.chars()
        .flat_map(|c| {
            let special = !(c.is_ascii_alphanumeric() || c == '_' || c == '-');
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// The regular expression (PostgreSQL and POSIX alike) of an AMQP topic pattern: `*` is one word,
/// `#` any number of words, words are separated by dots.
pub fn pattern_regex(pattern: &str) -> String {
    let words: Vec<&str> = pattern.split('.').collect();
    let last = words.len() - 1;
    let mut re = String::from("^");
    for (i, w) in words.iter().enumerate() {
        // A `#` carries its own separator; a word after a leading or middle `#` needs none.
        if i > 0 && words[i - 1] != "#" && !(*w == "#" && i == last) {
            re.push_str("\\.");
        }
        match *w {
            "#" if words.len() == 1 => re.push_str(".*"),
            "#" if i == last => re.push_str("(\\..*)?"),
            "#" => re.push_str("(.*\\.)?"),
            "*" => re.push_str("[^.]+"),
            word => re.push_str(&escape(word)),
        }
    }
    re.push('$');
    re
}

/// Whether `event_type` matches the topic `pattern`.
pub fn pattern_matches(pattern: &str, event_type: &str) -> bool {
    fn go(p: &[&str], t: &[&str]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(&"#"), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(&"*"), Some(_)) => go(&p[1..], &t[1..]),
            (Some(w), Some(x)) if w == x => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let t: Vec<&str> = event_type.split('.').collect();
    go(&p, &t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_patterns_match_like_rabbitmq() {
        let cases = [
            ("alert.created", "alert.created", true),
            ("alert.created", "alert.escalated", false),
            ("alert.*", "alert.created", true),
            ("alert.*", "alert", false),
            ("alert.*", "alert.a.b", false),
            ("alert.#", "alert", true),
            ("alert.#", "alert.a.b", true),
            ("#.created", "alert.created", true),
            ("#.created", "created", true),
            ("#.created", "alert.createdx", false),
            ("a.#.b", "a.b", true),
            ("a.#.b", "a.x.y.b", true),
            ("a.#.b", "a.x.y", false),
            ("#", "anything.at.all", true),
            ("*.ingested", "telemetry.ingested", true),
        ];
        for (pattern, event, expected) in cases {
            assert_eq!(
                pattern_matches(pattern, event),
                expected,
                "{pattern} vs {event}"
            );
        }
        assert_eq!(pattern_regex("alert.*"), "^alert\\.[^.]+$");
        assert_eq!(pattern_regex("a.#.b"), "^a\\.(.*\\.)?b$");
        assert_eq!(pattern_regex("alert.#"), "^alert(\\..*)?$");
        assert_eq!(pattern_regex("#.created"), "^(.*\\.)?created$");
        assert_eq!(pattern_regex("#"), "^.*$");
    }
}
