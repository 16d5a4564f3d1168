//! The sender's side of `alert_delivery`: claiming due rows (a lease, so a sender that dies hands
//! them back), recording a success (SENT; the alert created → notified on its first), a failure
//! (retried after an exponentially growing, jittered delay; FAILED with the last error after the
//! last attempt) or a cancellation (the alert was acknowledged first), and reading an alert's
//! deliveries.

use chrono::{DateTime, Duration, Utc};
use hg_platform::db::DbError;
use hg_platform::events::{NewEvent, enqueue};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::alert::history;
use crate::records::{Caller, RecordError};

/// A delivery handed to the sender.
#[derive(Clone, Debug)]
pub struct Due {
    pub id: Uuid,
    pub alert_id: Uuid,
    pub org_id: Uuid,
    pub channel: String,
    pub target: String,
    pub recipient: Option<Uuid>,
    pub push_device_id: Option<Uuid>,
    /// Attempts including this one.
    pub attempts: i32,
    pub reason: String,
    pub alert_type: String,
    pub alert_level: String,
    pub alert_status: String,
    pub alert_created_at: DateTime<Utc>,
    pub locale: Option<String>,
    /// The push subscription (`endpoint`, `keys.p256dh`, `keys.auth`).
    pub subscription: Option<Value>,
}

impl Due {
    /// Whether it is still worth sending: nobody has acknowledged (or closed) the alert.
    pub fn still_needed(&self) -> bool {
        matches!(self.alert_status.as_str(), "created" | "notified")
    }
}

/// Claims up to `limit` due deliveries for `lease` (they come due again if not settled by then)
/// and counts the attempt.
pub async fn claim(pool: &PgPool, limit: i64, lease: Duration) -> Result<Vec<Due>, DbError> {
    let until = Utc::now() + lease;
    let rows = sqlx::query!(
        r#"with due as (
               select id from alert_delivery
                where status = 'QUEUED' and next_attempt_at <= now()
                order by next_attempt_at limit $1 for update skip locked)
           update alert_delivery d
              set attempts = d.attempts + 1, next_attempt_at = $2, updated_at = now()
             from due, alerts a
            where d.id = due.id and a.id = d.alert_id
        returning d.id, d.alert_id, d.org_id, d.channel, d.target, d.recipient_user_id, d.push_device_id,
                  d.attempts, d.reason, a.alert_type, a.alert_level, a.status, a.created_at,
                  (select u.locale from users u where u.id = d.recipient_user_id) as locale,
                  (select pd.subscription from push_devices pd where pd.id = d.push_device_id) as subscription"#,
        limit,
        until,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Due {
            id: r.id,
            alert_id: r.alert_id,
            org_id: r.org_id,
            channel: r.channel,
            target: r.target,
            recipient: r.recipient_user_id,
            push_device_id: r.push_device_id,
            attempts: r.attempts,
            reason: r.reason,
            alert_type: r.alert_type,
            alert_level: r.alert_level,
            alert_status: r.status,
            alert_created_at: r.created_at,
            locale: r.locale,
            subscription: r.subscription,
        })
        .collect())
}

/// Records that `due` was handed over (`receipt`: what the server answered) and, if the alert was
/// still `created`, moves it to `notified` with its history row and event — in one transaction.
pub async fn sent(pool: &PgPool, due: &Due, receipt: Value) -> Result<bool, DbError> {
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "update alert_delivery
            set status = 'SENT', sent_at = now(), last_error = null, next_attempt_at = null,
                response_payload = $2, updated_at = now()
          where id = $1",
        due.id,
        receipt,
    )
    .execute(&mut *tx)
    .await?;
    let notified = mark_notified(&mut tx, due).await?;
    tx.commit().await?;
    Ok(notified)
}

async fn mark_notified(conn: &mut PgConnection, due: &Due) -> Result<bool, DbError> {
    let Some(a) = sqlx::query!(
        "update alerts set status = 'notified', updated_at = now()
          where id = $1 and status = 'created'
      returning org_id, patient_id, alert_type, alert_level",
        due.alert_id
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(false);
    };
    let details = json!({"delivery_id": due.id, "channel": due.channel});
    history(
        conn,
        a.org_id,
        due.alert_id,
        a.patient_id,
        "notified",
        Some("created"),
        "notified",
        &a.alert_level,
        None,
        details,
    )
    .await?;
    enqueue(
        conn,
        NewEvent {
            event_type: "alert.updated".into(),
            aggregate: "alert".into(),
            aggregate_id: Some(due.alert_id),
            org_id: Some(a.org_id),
            actor: Some(json!({"type": "system", "id": "notifier"})),
            request_id: None,
            data: json!({"alert_id": due.alert_id, "patient_id": a.patient_id,
                         "alert_type": a.alert_type, "alert_level": a.alert_level,
                         "status": "notified", "previous_status": "created",
                         "delivery_id": due.id, "channel": due.channel}),
        },
    )
    .await?;
    Ok(true)
}

/// The delay before retry `attempt` (1 for the first retry): `base · 2^(attempt−1)`, at most an
/// hour, scaled by `jitter` (drawn by the caller from 0.8–1.2, so that many failing deliveries do
/// not retry in step).
pub fn backoff(base: std::time::Duration, attempt: i32, jitter: f64) -> Duration {
    let exp = 2f64.powi((attempt - 1).clamp(0, 30));
    let ms = (base.as_millis() as f64 * exp).min(3_600_000.0) * jitter.clamp(0.5, 1.5);
    Duration::milliseconds(ms as i64)
}

/// Records a failed attempt: queued again at `retry_at`, or FAILED when that was the last attempt
/// (`retry_at` none).
pub async fn failed(
    pool: &PgPool,
    due: &Due,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<(), DbError> {
    let error: String = error.chars().take(1000).collect();
    sqlx::query!(
        "update alert_delivery
            set status = case when $3::timestamptz is null then 'FAILED' else 'QUEUED' end,
                last_error = $2, next_attempt_at = $3, updated_at = now()
          where id = $1",
        due.id,
        error,
        retry_at,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Records that `due` will not be sent (`why`: the alert was acknowledged first, the subscription
/// is gone).
pub async fn cancel(pool: &PgPool, due: &Due, why: &str) -> Result<(), DbError> {
    sqlx::query!(
        "update alert_delivery set status = 'CANCELLED', last_error = $2, next_attempt_at = null,
                updated_at = now()
          where id = $1",
        due.id,
        why,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// One delivery, as its alert's readers see it (the target is the channel's address: an e-mail,
/// a number, a push service endpoint).
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Delivery {
    pub id: Uuid,
    pub alert_id: Uuid,
    pub channel: String,
    pub target: String,
    pub recipient_user_id: Option<Uuid>,
    pub status: String,
    pub reason: String,
    pub alert_level: Option<String>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The deliveries of an alert the caller may see, in the order they were (or will be) sent (404
/// like the alert otherwise).
pub async fn of_alert(
    conn: &mut PgConnection,
    caller: &Caller,
    alert: Uuid,
) -> Result<Vec<Delivery>, RecordError> {
    crate::alert::read::visible(conn, caller, alert).await?;
    Ok(rows(conn, alert).await?)
}

/// The deliveries of `alert`, in the order they were (or will be) sent.
pub(crate) async fn rows(conn: &mut PgConnection, alert: Uuid) -> Result<Vec<Delivery>, DbError> {
    Ok(sqlx::query_as!(
        Delivery,
        "select id, alert_id, channel, target, recipient_user_id, status, reason, alert_level,
                attempts, last_error, next_attempt_at, sent_at, created_at, updated_at
           from alert_delivery where alert_id = $1
          order by coalesce(sent_at, next_attempt_at, updated_at), id",
        alert
    )
    .fetch_all(conn)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_up_to_an_hour_within_the_jitter() {
        let base = std::time::Duration::from_secs(5);
        assert_eq!(backoff(base, 1, 1.0), Duration::seconds(5));
        assert_eq!(backoff(base, 2, 1.0), Duration::seconds(10));
        assert_eq!(backoff(base, 4, 1.0), Duration::seconds(40));
        assert_eq!(backoff(base, 20, 1.0), Duration::hours(1));
        assert_eq!(backoff(base, 2, 1.2), Duration::seconds(12));
        assert_eq!(backoff(base, 2, 0.8), Duration::seconds(8));
    }
}
