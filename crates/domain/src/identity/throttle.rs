//! Failed logins against e-mails that have no account (spec/04 "Enumeration"): counted and locked
//! exactly as an account's own failures are (`accounts::record_failure`), so that an unknown e-mail
//! answers `HG-ACCOUNT-LOCKED` on the same attempt, for the same time, as a real one. Rows are keyed
//! by a digest of the lower-cased address; the address itself is not kept.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;

use super::accounts::{AccountKind, FAILURE_MEMORY_HOURS, lock_after};

fn kind_code(kind: AccountKind) -> &'static str {
    match kind {
        AccountKind::Staff => "user",
        AccountKind::Patient => "patient",
    }
}

fn digest(email: &str) -> Vec<u8> {
    Sha256::digest(email.trim().to_lowercase().as_bytes()).to_vec()
}

/// Until when logins with `email` (which has no `kind` account) are locked, if they are.
pub async fn locked_until(
    conn: &mut PgConnection,
    kind: AccountKind,
    email: &str,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    Ok(sqlx::query_scalar!(
        "select locked_until from login_throttle where account_kind = $1 and email_digest = $2",
        kind_code(kind),
        digest(email),
    )
    .fetch_optional(conn)
    .await?
    .flatten())
}

/// Counts a failure against `email`; returns the lock's end when it locked now.
pub async fn record_failure(
    conn: &mut PgConnection,
    kind: AccountKind,
    email: &str,
    threshold: u32,
    minutes: u32,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let failures: i32 = sqlx::query_scalar!(
        "insert into login_throttle as t (account_kind, email_digest, failed_count) values ($1, $2, 1)
         on conflict (account_kind, email_digest) do update set
             failed_count = case when t.last_failed_at < now() - make_interval(hours => $3) then 1
                                 else t.failed_count + 1 end,
             last_failed_at = now()
         returning failed_count",
        kind_code(kind),
        digest(email),
        FAILURE_MEMORY_HOURS,
    )
    .fetch_one(&mut *conn)
    .await?;
    let until = lock_after(failures, threshold, minutes);
    if let Some(until) = until {
        sqlx::query!(
            "update login_throttle set locked_until = $3 where account_kind = $1 and email_digest = $2",
            kind_code(kind),
            digest(email),
            until,
        )
        .execute(&mut *conn)
        .await?;
    }
    if failures == 1 {
        // A first failure starts a row; rows nobody has failed against for two memory spans go.
        sqlx::query!(
            "delete from login_throttle where last_failed_at < now() - make_interval(hours => $1)
               and (locked_until is null or locked_until < now())",
            2 * FAILURE_MEMORY_HOURS,
        )
        .execute(conn)
        .await?;
    }
    Ok(until)
}
