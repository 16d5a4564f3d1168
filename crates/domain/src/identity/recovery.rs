//! Passwords and e-mail addresses: change (knowing the current password), reset by an e-mailed
//! one-time link, and verification of an address. Links are single-use, expire, and are stored only as
//! digests; the e-mails themselves go out through outbox events the notifier consumes.

use chrono::{DateTime, Duration, Utc};
use hg_platform::Platform;
use hg_platform::audit::{self, AuditEntry};
use hg_platform::auth;
use hg_platform::events::{NewEvent, enqueue};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::accounts::{self, AccountKind};
use super::sessions::{self, Subject, actor_type};
use super::{AuthError, RequestMeta, login, opaque_token, policy, token_digest};
use crate::password::{self, Check};

/// The public base URL links in e-mails point to.
pub fn public_base(platform: &Platform) -> String {
    platform
        .settings
        .backend
        .https_url
        .as_ref()
        .map(|u| u.as_str().trim_end_matches('/').to_owned())
        .unwrap_or_else(|| {
            format!(
                "http://127.0.0.1:{}",
                platform.settings.http.port(hg_platform::Component::Admin)
            )
        })
}

fn subject_columns(subject: Subject) -> (Option<Uuid>, Option<Uuid>) {
    match subject {
        Subject::Staff(id) => (Some(id), None),
        Subject::Patient(id) => (None, Some(id)),
    }
}

fn subject_kind(subject: Subject) -> AccountKind {
    match subject {
        Subject::Staff(_) => AccountKind::Staff,
        Subject::Patient(_) => AccountKind::Patient,
    }
}

/// Creates a one-time link of `kind` for `subject` (spending earlier unused ones of the same kind) and
/// writes the e-mail event `event_type`.
#[allow(clippy::too_many_arguments)]
async fn send_link(
    conn: &mut PgConnection,
    platform: &Platform,
    subject: Subject,
    email: &str,
    name: &str,
    kind: &str,
    ttl: Duration,
    path: &str,
    event_type: &str,
    meta: &RequestMeta,
) -> Result<(), AuthError> {
    let (user, patient) = subject_columns(subject);
    sqlx::query(
        "update auth_tokens set expires_at = least(expires_at, now())
          where kind = $1 and used_at is null and (user_id = $2 or patient_id = $3)",
    )
    .bind(kind)
    .bind(user)
    .bind(patient)
    .execute(&mut *conn)
    .await?;
    let (token, digest) = opaque_token();
    let expires = Utc::now() + ttl;
    sqlx::query(
        "insert into auth_tokens (kind, user_id, patient_id, token_hash, expires_at) values ($1, $2, $3, $4, $5)",
    )
    .bind(kind)
    .bind(user)
    .bind(patient)
    .bind(digest)
    .bind(expires)
    .execute(&mut *conn)
    .await?;
    enqueue(
        conn,
        NewEvent {
            event_type: event_type.to_owned(),
            aggregate: "auth".to_owned(),
            aggregate_id: Some(subject.id()),
            org_id: None,
            actor: None,
            request_id: meta.request_id.clone(),
            data: json!({
                "principal_type": match subject { Subject::Staff(_) => "user", Subject::Patient(_) => "patient" },
                "principal_id": subject.id(),
                "email": email,
                "name": name,
                "link": format!("{}{path}?token={token}", public_base(platform)),
                "expires_at": expires,
            }),
        },
    )
    .await?;
    Ok(())
}

/// Sends (through the outbox) an e-mail verification link to a new or changed address.
pub async fn request_verification(
    conn: &mut PgConnection,
    platform: &Platform,
    subject: Subject,
    email: &str,
    name: &str,
    meta: &RequestMeta,
) -> Result<(), AuthError> {
    let ttl = Duration::hours(i64::from(
        platform.settings.auth.email_verification_ttl_hours,
    ));
    send_link(
        conn,
        platform,
        subject,
        email,
        name,
        "email_verification",
        ttl,
        "/verify-email",
        "auth.email_verification_requested",
        meta,
    )
    .await
}

/// Changes the password of a signed-in account, ending its other sessions.
pub async fn change_password(
    platform: &Platform,
    subject: Subject,
    current_family: Option<Uuid>,
    current: &str,
    new: &str,
    meta: &RequestMeta,
) -> Result<(), AuthError> {
    let mut tx = platform.db.begin().await?;
    let account = accounts::by_id(&mut tx, subject_kind(subject), subject.id())
        .await?
        .ok_or(AuthError::InvalidCredentials)?;
    let stored = account.password_hash.as_deref().unwrap_or_default();
    if password::check_blocking(current, stored).await == Check::Mismatch {
        return Err(AuthError::invalid(
            "current_password",
            "is not the account's password",
        ));
    }
    policy::check(new, account.email.as_deref().unwrap_or(""))
        .map_err(|p| AuthError::invalid("new_password", p))?;
    let hash = password::hash_blocking(new)
        .await
        .map_err(|_| AuthError::NotConfigured("password hashing"))?;
    accounts::set_password(&mut tx, subject_kind(subject), subject.id(), &hash).await?;
    sessions::revoke_all(&mut tx, platform, subject, current_family, "password").await?;
    audit::record(
        &mut tx,
        AuditEntry {
            actor_id: Some(subject.id()),
            actor_label: account.email.clone(),
            org_id: account.org_id,
            ip: meta.ip,
            request_id: meta.request_id.clone(),
            ..AuditEntry::new(actor_type(subject), "PASSWORD_CHANGE")
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Starts a password reset. Answers the same whether the address exists or not.
pub async fn forgot_password(
    platform: &Platform,
    kind: AccountKind,
    email: &str,
    meta: &RequestMeta,
) -> Result<(), AuthError> {
    login::limit_attempts(platform, meta).await?;
    let mut tx = platform.db.begin().await?;
    let Some(account) = accounts::by_email(&mut tx, kind, email.trim()).await? else {
        return Ok(());
    };
    if account.status == "blocked" {
        return Ok(());
    }
    let subject = match kind {
        AccountKind::Staff => Subject::Staff(account.id),
        AccountKind::Patient => Subject::Patient(account.id),
    };
    let ttl = Duration::minutes(i64::from(platform.settings.auth.password_reset_ttl_minutes));
    send_link(
        &mut tx,
        platform,
        subject,
        account.email.as_deref().unwrap_or(email),
        &account.name,
        "password_reset",
        ttl,
        "/reset-password",
        "auth.password_reset_requested",
        meta,
    )
    .await?;
    audit::record(
        &mut tx,
        AuditEntry {
            actor_id: Some(account.id),
            actor_label: account.email.clone(),
            org_id: account.org_id,
            ip: meta.ip,
            request_id: meta.request_id.clone(),
            ..AuditEntry::new(actor_type(subject), "PASSWORD_RESET_REQUESTED")
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct LinkRow {
    id: Uuid,
    user_id: Option<Uuid>,
    patient_id: Option<Uuid>,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
}

/// Spends the one-time link `token` of `kind`, returning whom it was for.
async fn spend_link(
    conn: &mut PgConnection,
    kind: &str,
    token: &str,
) -> Result<Subject, AuthError> {
    let row: Option<LinkRow> = sqlx::query_as(
        "select id, user_id, patient_id, expires_at, used_at from auth_tokens
          where token_hash = $1 and kind = $2 for update",
    )
    .bind(token_digest(token.trim()))
    .bind(kind)
    .fetch_optional(&mut *conn)
    .await?;
    let row = row.ok_or(AuthError::LinkNotFound)?;
    if row.used_at.is_some() {
        return Err(AuthError::LinkUsed);
    }
    if row.expires_at <= Utc::now() {
        return Err(AuthError::LinkExpired);
    }
    sqlx::query("update auth_tokens set used_at = now() where id = $1")
        .bind(row.id)
        .execute(&mut *conn)
        .await?;
    match (row.user_id, row.patient_id) {
        (Some(u), _) => Ok(Subject::Staff(u)),
        (None, Some(p)) => Ok(Subject::Patient(p)),
        _ => Err(AuthError::LinkNotFound),
    }
}

/// Sets a new password with a reset link; ends every session of the account.
pub async fn reset_password(
    platform: &Platform,
    token: &str,
    new: &str,
    meta: &RequestMeta,
) -> Result<(), AuthError> {
    let mut tx = platform.db.begin().await?;
    let subject = spend_link(&mut tx, "password_reset", token).await?;
    let account = accounts::by_id(&mut tx, subject_kind(subject), subject.id())
        .await?
        .ok_or(AuthError::LinkNotFound)?;
    policy::check(new, account.email.as_deref().unwrap_or(""))
        .map_err(|p| AuthError::invalid("new_password", p))?;
    let hash = password::hash_blocking(new)
        .await
        .map_err(|_| AuthError::NotConfigured("password hashing"))?;
    accounts::set_password(&mut tx, subject_kind(subject), subject.id(), &hash).await?;
    sessions::revoke_all(&mut tx, platform, subject, None, "password").await?;
    auth::revoke_all_before_now(platform.cache.as_ref(), subject.id()).await?;
    audit::record(
        &mut tx,
        AuditEntry {
            actor_id: Some(subject.id()),
            actor_label: account.email.clone(),
            org_id: account.org_id,
            ip: meta.ip,
            request_id: meta.request_id.clone(),
            ..AuditEntry::new(actor_type(subject), "PASSWORD_RESET")
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Confirms an e-mail address with a verification link; a pending staff account becomes active.
pub async fn verify_email(
    platform: &Platform,
    token: &str,
    meta: &RequestMeta,
) -> Result<Subject, AuthError> {
    let mut tx = platform.db.begin().await?;
    let subject = spend_link(&mut tx, "email_verification", token).await?;
    match subject {
        Subject::Staff(id) => {
            sqlx::query(
                "update users set email_verified_at = now(),
                        status = case when status = 'pending' then 'active' else status end
                  where id = $1",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        Subject::Patient(id) => {
            sqlx::query("update patients set email_verified = true where id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
    }
    audit::record(
        &mut tx,
        AuditEntry {
            actor_id: Some(subject.id()),
            ip: meta.ip,
            request_id: meta.request_id.clone(),
            ..AuditEntry::new(actor_type(subject), "EMAIL_VERIFIED")
        },
    )
    .await?;
    tx.commit().await?;
    Ok(subject)
}

/// Sends a new verification link to a signed-in account whose address is not verified yet.
pub async fn resend_verification(
    platform: &Platform,
    subject: Subject,
    meta: &RequestMeta,
) -> Result<(), AuthError> {
    let mut tx = platform.db.begin().await?;
    let verified: Option<(bool, Option<String>, String)> = match subject {
        Subject::Staff(id) => {
            sqlx::query_as(
                "select email_verified_at is not null, email, name from users where id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
        }
        Subject::Patient(id) => {
            sqlx::query_as("select email_verified, email, person_name from patients where id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
        }
    };
    let (done, email, name) = verified.ok_or(AuthError::InvalidCredentials)?;
    let email =
        email.ok_or_else(|| AuthError::invalid("email", "the account has no e-mail address"))?;
    if done {
        return Err(AuthError::EmailAlreadyVerified);
    }
    request_verification(&mut tx, platform, subject, &email, &name, meta).await?;
    tx.commit().await?;
    Ok(())
}
