//! Accounts that can sign in — staff users and patients — as the identity flows read and update them.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

/// Which table an account lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountKind {
    Staff,
    Patient,
}

/// The sign-in state of an account.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Account {
    pub id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    /// `active`, `pending` or `blocked` (patients: `active`, or `pending` before e-mail verification).
    pub status: String,
    pub failed_login_count: i32,
    pub locked_until: Option<DateTime<Utc>>,
    pub totp_enabled: bool,
    pub totp_secret_enc: Option<Vec<u8>>,
    pub totp_last_step: Option<i64>,
    /// The patient's organization.
    pub org_id: Option<Uuid>,
}

const STAFF_COLUMNS: &str =
    "id, name, email, password_hash, status, failed_login_count, locked_until,
     totp_enabled, totp_secret_enc, totp_last_step, null::uuid as org_id";

const PATIENT_COLUMNS: &str = "id, person_name as name, email, password_hash,
     case when archived_at is not null then 'blocked' when email_verified then 'active' else 'pending' end as status,
     failed_login_count, locked_until, false as totp_enabled, null::bytea as totp_secret_enc,
     null::bigint as totp_last_step, org_id";

/// The account with this e-mail (case-insensitive).
pub async fn by_email(
    conn: &mut PgConnection,
    kind: AccountKind,
    email: &str,
) -> Result<Option<Account>, sqlx::Error> {
    let sql = match kind {
        AccountKind::Staff => {
            format!("select {STAFF_COLUMNS} from users where lower(email) = lower($1)")
        }
        // Patient e-mails are unique per organization; the one that signs in is the verified
        // login (unique platform-wide), else the newest registration still waiting for its check.
        AccountKind::Patient => format!(
            "select {PATIENT_COLUMNS} from patients
              where lower(email) = lower($1) and password_hash is not null
              order by email_verified desc, created_at desc limit 1"
        ),
    };
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(email)
        .fetch_optional(conn)
        .await
}

/// The account with this id.
pub async fn by_id(
    conn: &mut PgConnection,
    kind: AccountKind,
    id: Uuid,
) -> Result<Option<Account>, sqlx::Error> {
    let sql = match kind {
        AccountKind::Staff => format!("select {STAFF_COLUMNS} from users where id = $1"),
        AccountKind::Patient => format!("select {PATIENT_COLUMNS} from patients where id = $1"),
    };
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await
}

fn table(kind: AccountKind) -> &'static str {
    match kind {
        AccountKind::Staff => "users",
        AccountKind::Patient => "patients",
    }
}

/// How long an account locks after `failures` consecutive failures: nothing below `threshold`, then
/// `minutes`, doubling with every further `threshold` failures, at most a day.
pub fn lock_duration(failures: i32, threshold: u32, minutes: u32) -> Option<Duration> {
    let threshold = threshold.max(1) as i32;
    if failures < threshold {
        return None;
    }
    let doublings = ((failures - threshold) / threshold).min(10) as u32;
    let total = i64::from(minutes) * (1i64 << doublings);
    Some(Duration::minutes(total.min(24 * 60)))
}

/// Failures are forgotten this long after the last one (for accounts and unknown e-mails alike).
pub const FAILURE_MEMORY_HOURS: i32 = 24;

/// Counts a failed login; locks the account when the count reaches the threshold. Returns the lock's
/// end when it locked now. The same rule counts failures against unknown e-mails
/// (`identity::throttle`), so a lockout tells nothing about whether an account exists.
pub async fn record_failure(
    conn: &mut PgConnection,
    kind: AccountKind,
    id: Uuid,
    threshold: u32,
    minutes: u32,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let failures: i32 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "update {} set failed_login_count = case
                    when last_failed_login_at < now() - make_interval(hours => $2) then 1
                    else failed_login_count + 1 end,
                last_failed_login_at = now()
          where id = $1 returning failed_login_count",
        table(kind)
    )))
    .bind(id)
    .bind(FAILURE_MEMORY_HOURS)
    .fetch_one(&mut *conn)
    .await?;
    let Some(until) = lock_after(failures, threshold, minutes) else {
        return Ok(None);
    };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "update {} set locked_until = $2 where id = $1",
        table(kind)
    )))
    .bind(id)
    .bind(until)
    .execute(conn)
    .await?;
    Ok(Some(until))
}

/// When `failures` consecutive failures lock an e-mail: at each multiple of the threshold (the
/// failures in between keep the current lock).
pub fn lock_after(failures: i32, threshold: u32, minutes: u32) -> Option<DateTime<Utc>> {
    let lock = lock_duration(failures, threshold, minutes)?;
    (failures % threshold.max(1) as i32 == 0).then(|| Utc::now() + lock)
}

/// Clears failures after a successful login, records its time and, when given, stores an upgraded
/// password hash.
pub async fn record_success(
    conn: &mut PgConnection,
    kind: AccountKind,
    id: Uuid,
    upgraded_hash: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "update {} set failed_login_count = 0, locked_until = null, last_login_at = now(),
                password_hash = coalesce($2, password_hash)
          where id = $1",
        table(kind)
    )))
    .bind(id)
    .bind(upgraded_hash)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets a new password hash and clears any lock.
pub async fn set_password(
    conn: &mut PgConnection,
    kind: AccountKind,
    id: Uuid,
    hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "update {} set password_hash = $2, failed_login_count = 0, locked_until = null where id = $1",
        table(kind)
    )))
    .bind(id)
    .bind(hash)
    .execute(conn)
    .await?;
    Ok(())
}

/// One organization membership as login and `me` show it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, PartialEq, utoipa::ToSchema)]
pub struct OrgMembership {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub role_code: String,
}

/// A staff user as login and `me` show it.
#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct StaffView {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub status: String,
    pub roles: Vec<String>,
    pub organizations: Vec<OrgMembership>,
    pub totp_enabled: bool,
}

/// Global roles of a user.
pub async fn global_roles(conn: &mut PgConnection, user: Uuid) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "select r.name from user_role ur join roles r on r.id = ur.role_id where ur.user_id = $1 order by r.name",
        user,
    )
    .fetch_all(conn)
    .await
}

/// Memberships of a user in organizations that are not archived.
pub async fn memberships(
    conn: &mut PgConnection,
    user: Uuid,
) -> Result<Vec<OrgMembership>, sqlx::Error> {
    sqlx::query_as!(
        OrgMembership,
        "select o.id, o.code, o.name, m.org_role as role_code
           from user_org_membership m join organizations o on o.id = m.org_id
          where m.user_id = $1 and o.archived_at is null
          order by o.code",
        user
    )
    .fetch_all(conn)
    .await
}

/// The staff view of `user`, if it exists.
pub async fn staff_view(
    conn: &mut PgConnection,
    user: Uuid,
) -> Result<Option<StaffView>, sqlx::Error> {
    let row = sqlx::query!(
        "select id, name, email, status, totp_enabled from users where id = $1",
        user
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(StaffView {
        id: row.id,
        name: row.name,
        email: row.email,
        status: row.status,
        roles: global_roles(conn, row.id).await?,
        organizations: memberships(conn, row.id).await?,
        totp_enabled: row.totp_enabled,
    }))
}

/// A patient as login and `me` show them.
#[derive(Clone, Debug, Serialize, PartialEq, sqlx::FromRow, utoipa::ToSchema)]
pub struct PatientView {
    pub id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub org_id: Uuid,
    pub org_code: String,
    pub email_verified: bool,
}

/// The patient view of `patient`, if it exists.
pub async fn patient_view(
    conn: &mut PgConnection,
    patient: Uuid,
) -> Result<Option<PatientView>, sqlx::Error> {
    sqlx::query_as!(
        PatientView,
        "select p.id, p.person_name as name, p.email, p.org_id, o.code as org_code,
             p.email_verified from patients p join organizations o on o.id = p.org_id where p.id =
             $1",
        patient,
    )
    .fetch_optional(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_start_at_the_threshold_and_double() {
        assert_eq!(lock_duration(4, 5, 15), None);
        assert_eq!(lock_duration(5, 5, 15), Some(Duration::minutes(15)));
        assert_eq!(lock_duration(9, 5, 15), Some(Duration::minutes(15)));
        assert_eq!(lock_duration(10, 5, 15), Some(Duration::minutes(30)));
        assert_eq!(lock_duration(15, 5, 15), Some(Duration::minutes(60)));
        assert_eq!(lock_duration(500, 5, 15), Some(Duration::minutes(1440)));
    }
}
