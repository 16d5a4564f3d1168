//! The notification component. Its routes arrive with issue 14; today it runs the account-mail
//! consumer: password-reset, verification and invitation e-mails (and the note to an address that
//! someone tried to register again), each with its one-time token made here, at sending time
//! (`hg_domain::identity::mail`).
//!
//! Until the consumer framework (issue 11) gives it a queue, the consumer reads its events from the
//! outbox itself — durable in every mode, `heartguard up` included — and records each one it has
//! handled in `processed_events` in the same transaction as the token it made: an event is mailed
//! once, a failed send is retried with backoff, and two notification processes never mail the same
//! event twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hg_domain::identity::mail::{self, Outcome};
use hg_platform::Platform;
use hg_platform::db::DbError;
use hg_platform::mail::{DirMailer, Mailer};
use serde_json::Value;
use tokio::time::Instant;
use uuid::Uuid;

/// The consumer's name in `processed_events`.
pub const CONSUMER: &str = "account-mail";

/// How far back the consumer looks: older account e-mails would carry expired links anyway.
const LOOK_BACK_DAYS: i32 = 7;

/// Attempts before an e-mail is given up (the last error is logged and audited).
const MAX_ATTEMPTS: u32 = 8;

/// The mailer configured for this process: `MAIL_SINK_DIR`, or none.
pub fn mailer(platform: &Platform) -> Option<Arc<dyn Mailer>> {
    let notify = &platform.settings.notify;
    notify.mail_sink_dir.as_ref().map(|dir| {
        Arc::new(DirMailer::new(dir.clone(), notify.mail_from.clone())) as Arc<dyn Mailer>
    })
}

#[derive(sqlx::FromRow)]
struct Pending {
    id: Uuid,
    event_type: String,
    payload: Value,
}

/// Retry state of events whose e-mail failed.
#[derive(Default)]
struct Retries(HashMap<Uuid, (u32, Instant)>);

impl Retries {
    fn due(&self, id: &Uuid) -> bool {
        self.0.get(id).is_none_or(|(_, at)| *at <= Instant::now())
    }

    /// Notes a failure; returns the number of attempts so far.
    fn failed(&mut self, id: Uuid) -> u32 {
        let entry = self.0.entry(id).or_insert((0, Instant::now()));
        entry.0 += 1;
        let backoff = Duration::from_secs(2u64.pow(entry.0.min(9)));
        entry.1 = Instant::now() + backoff;
        entry.0
    }
}

/// Handles the pending account-mail events once; returns how many it looked at.
pub async fn run_once(platform: &Platform, mailer: &dyn Mailer) -> Result<usize, DbError> {
    let mut retries = Retries::default();
    pass(platform, mailer, &mut retries).await
}

async fn pass(
    platform: &Platform,
    mailer: &dyn Mailer,
    retries: &mut Retries,
) -> Result<usize, DbError> {
    let pending: Vec<Pending> = sqlx::query_as(
        "select o.id, o.event_type, o.payload from outbox_events o
          where o.event_type = any($1) and o.created_at > now() - make_interval(days => $2)
            and not exists (select 1 from processed_events p
                             where p.consumer = $3 and p.event_id = o.id)
          order by o.created_at, o.id limit 100",
    )
    .bind(mail::EVENT_TYPES)
    .bind(LOOK_BACK_DAYS)
    .bind(CONSUMER)
    .fetch_all(&platform.db)
    .await?;
    let seen = pending.len();
    for event in pending {
        if !retries.due(&event.id) {
            continue;
        }
        match handle(platform, mailer, &event).await {
            Ok(_) => {
                retries.0.remove(&event.id);
            }
            Err(e) => {
                let attempts = retries.failed(event.id);
                tracing::warn!(event_id = %event.id, event_type = %event.event_type, attempts, error = %e, "account e-mail not sent");
                if attempts >= MAX_ATTEMPTS {
                    give_up(platform, &event, &e.to_string()).await?;
                    retries.0.remove(&event.id);
                }
            }
        }
    }
    Ok(seen)
}

async fn handle(
    platform: &Platform,
    mailer: &dyn Mailer,
    event: &Pending,
) -> Result<Outcome, hg_domain::identity::AuthError> {
    let mut tx = platform.db.begin().await?;
    // Claims the event: a second consumer waits here and then finds it handled.
    let claimed = sqlx::query(
        "insert into processed_events (consumer, event_id) values ($1, $2) on conflict do nothing",
    )
    .bind(CONSUMER)
    .bind(event.id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if claimed == 0 {
        return Ok(Outcome::Nothing);
    }
    let outcome =
        mail::deliver(&mut tx, platform, mailer, &event.event_type, &event.payload).await?;
    tx.commit().await?;
    metrics::counter!("account_emails_total", "type" => event.event_type.clone(), "outcome" => match outcome {
        Outcome::Sent => "sent",
        Outcome::Nothing => "nothing",
    })
    .increment(1);
    Ok(outcome)
}

async fn give_up(platform: &Platform, event: &Pending, error: &str) -> Result<(), DbError> {
    let mut tx = platform.db.begin().await?;
    sqlx::query(
        "insert into processed_events (consumer, event_id) values ($1, $2) on conflict do nothing",
    )
    .bind(CONSUMER)
    .bind(event.id)
    .execute(&mut *tx)
    .await?;
    hg_platform::audit::record(
        &mut tx,
        hg_platform::audit::AuditEntry {
            entity: Some("outbox_event".into()),
            entity_id: Some(event.id.to_string()),
            details: serde_json::json!({"event_type": event.event_type, "error": error}),
            ..hg_platform::audit::AuditEntry::new(
                hg_platform::audit::ActorType::System,
                "ACCOUNT_EMAIL_FAILED",
            )
        },
    )
    .await?;
    tx.commit().await?;
    metrics::counter!("account_emails_total", "type" => event.event_type.clone(), "outcome" => "failed")
        .increment(1);
    Ok(())
}

/// Runs the account-mail consumer until shutdown: a pass soon after this process enqueues an event,
/// and one every second for events other processes wrote.
pub async fn run(platform: Platform, mailer: Arc<dyn Mailer>) {
    let mut wake = hg_platform::events::enqueued();
    let mut retries = Retries::default();
    tracing::info!(transport = mailer.kind(), "account e-mails are sent");
    loop {
        if let Err(e) = pass(&platform, mailer.as_ref(), &mut retries).await {
            tracing::debug!(error = %e, "account-mail consumer: database unavailable");
        }
        tokio::select! {
            _ = platform.shutdown.cancelled() => break,
            _ = tokio::time::timeout(Duration::from_secs(1), wake.changed()) => {
                // Let the enqueuing transaction commit.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}
