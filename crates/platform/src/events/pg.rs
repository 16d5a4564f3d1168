//! The broker without RabbitMQ (`heartguard up` with no `AMQP_URL`): queues in PostgreSQL, with the
//! guarantees of RabbitMQ's. `consumer_bindings` holds each consumer's routing patterns (as regular
//! expressions); publishing puts the event in the `consumer_queue` of every consumer bound to its type;
//! a consumer takes its next event with `FOR UPDATE SKIP LOCKED`, handles it and deletes it in one
//! transaction — so a consumer that dies mid-way leaves it in the queue — and a failure is put back
//! with `available_at` later, or marked dead after the consumer's `max_attempts`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::consumer::{
    Consumer, ConsumerError, ConsumerSpec, Handled, QueueStats, claim_and_handle, count,
    pattern_regex,
};
use super::{Broker, BrokerError, EventMessage, OutboxRow};
use crate::db::DbError;

/// Queues in PostgreSQL.
pub struct PgBroker {
    pool: PgPool,
}

impl PgBroker {
    /// Queues in the database of `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// Wakes this process's consumers when it queues an event (others find it within a second).
static QUEUED: std::sync::LazyLock<tokio::sync::watch::Sender<u64>> =
    std::sync::LazyLock::new(|| tokio::sync::watch::Sender::new(0));

/// How often a consumer looks at its queue when nothing woke it.
const POLL: Duration = Duration::from_secs(1);

fn broker_error(e: sqlx::Error) -> BrokerError {
    BrokerError(DbError::from(e).to_string())
}

struct Next {
    attempts: i32,
    event: OutboxRow,
}

impl PgBroker {
    /// Takes, handles and removes the next ready event of `consumer`'s queue; `false` when there
    /// is none.
    async fn next(&self, pool: &PgPool, consumer: &dyn Consumer) -> Result<bool, DbError> {
        let spec = consumer.spec();
        let mut tx = pool.begin().await?;
        let next = sqlx::query!(
            "select q.attempts, o.id, o.event_type, o.org_id, o.actor, o.request_id,
                    o.payload, o.created_at
               from consumer_queue q join outbox_events o on o.id = q.event_id
              where q.consumer = $1 and q.dead_at is null and q.available_at <= now()
              order by q.available_at, q.event_id
              limit 1
              for update of q skip locked",
            spec.name
        )
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| Next {
            attempts: r.attempts,
            event: OutboxRow {
                id: r.id,
                event_type: r.event_type,
                org_id: r.org_id,
                actor: r.actor,
                request_id: r.request_id,
                payload: r.payload,
                created_at: r.created_at,
            },
        });
        let Some(next) = next else {
            return Ok(false);
        };
        let attempts = next.attempts;
        let event = next.event.into_message();
        match claim_and_handle(&mut tx, consumer, &event).await {
            Ok(handled) => {
                sqlx::query!(
                    "delete from consumer_queue where consumer = $1 and event_id = $2",
                    spec.name,
                    event.id,
                )
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                count(
                    spec.name,
                    match handled {
                        Handled::Now => "handled",
                        Handled::Before => "duplicate",
                    },
                );
            }
            Err(e) => {
                tx.rollback().await?;
                self.failed(spec, event.id, attempts, &e).await?;
            }
        }
        Ok(true)
    }

    /// Puts a failed event back for later, or marks it dead.
    async fn failed(
        &self,
        spec: &ConsumerSpec,
        event: Uuid,
        attempts: i32,
        error: &ConsumerError,
    ) -> Result<(), DbError> {
        let attempts = attempts + 1;
        let dead =
            matches!(error, ConsumerError::Reject(_)) || attempts as u32 >= spec.max_attempts;
        sqlx::query!(
            "update consumer_queue set attempts = $3, last_error = $4,
                    available_at = now() + make_interval(secs => $5),
                    dead_at = case when $6 then now() end
              where consumer = $1 and event_id = $2",
            spec.name,
            event,
            attempts,
            error.to_string(),
            spec.retry_delay.as_secs_f64(),
            dead,
        )
        .execute(&self.pool)
        .await?;
        if dead {
            count(spec.name, "dead");
            tracing::error!(consumer = spec.name, event_id = %event, attempts, error = %error, "event dead-lettered");
        } else {
            count(spec.name, "retried");
            tracing::warn!(consumer = spec.name, event_id = %event, attempts, error = %error, "event failed; retrying");
        }
        Ok(())
    }
}

#[async_trait]
impl Broker for PgBroker {
    async fn publish(&self, event: &EventMessage) -> Result<(), BrokerError> {
        let queued = sqlx::query!(
            "insert into consumer_queue (consumer, event_id)
             select distinct b.consumer, $1::uuid from consumer_bindings b where $2 ~ b.regex
             on conflict do nothing",
            event.id,
            &event.event_type,
        )
        .execute(&self.pool)
        .await
        .map_err(broker_error)?
        .rows_affected();
        if queued > 0 {
            QUEUED.send_modify(|n| *n = n.wrapping_add(1));
        }
        Ok(())
    }

    /// The queues are the database's: its own readiness check speaks for them.
    async fn ping(&self) -> Result<(), BrokerError> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "postgresql"
    }

    async fn declare(&self, spec: &ConsumerSpec) -> Result<(), BrokerError> {
        let patterns: Vec<String> = spec.bindings.iter().map(|p| p.to_string()).collect();
        let regexes: Vec<String> = patterns.iter().map(|p| pattern_regex(p)).collect();
        let mut tx = self.pool.begin().await.map_err(broker_error)?;
        sqlx::query!(
            "delete from consumer_bindings where consumer = $1 and pattern <> all($2)",
            spec.name,
            &patterns,
        )
        .execute(&mut *tx)
        .await
        .map_err(broker_error)?;
        sqlx::query!(
            "insert into consumer_bindings (consumer, pattern, regex)
             select $1, p, r from unnest($2::text[], $3::text[]) as t(p, r)
             on conflict (consumer, pattern) do update set regex = excluded.regex",
            spec.name,
            &patterns,
            &regexes,
        )
        .execute(&mut *tx)
        .await
        .map_err(broker_error)?;
        tx.commit().await.map_err(broker_error)
    }

    async fn consume(
        &self,
        pool: PgPool,
        consumer: Arc<dyn Consumer>,
        shutdown: CancellationToken,
    ) {
        let mut queued = QUEUED.subscribe();
        loop {
            match self.next(&pool, consumer.as_ref()).await {
                Ok(true) => {
                    if shutdown.is_cancelled() {
                        break;
                    }
                    continue;
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::debug!(consumer = consumer.spec().name, error = %e, "queue unavailable");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = queued.changed() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }

    async fn stats(&self, spec: &ConsumerSpec) -> Result<QueueStats, BrokerError> {
        let counts = sqlx::query!(
            r#"select count(*) filter (where dead_at is null) as "ready!",
                      count(*) filter (where dead_at is not null) as "dead!"
                 from consumer_queue where consumer = $1"#,
            spec.name
        )
        .fetch_one(&self.pool)
        .await
        .map_err(broker_error)?;
        let (ready, dead) = (counts.ready, counts.dead);
        Ok(QueueStats {
            ready: ready as u64,
            dead: dead as u64,
        })
    }
}
