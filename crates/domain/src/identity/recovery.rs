//! Passwords and e-mail addresses: change (knowing the current password), reset by an e-mailed
//! one-time link, and verification of an address. Links are single-use, expire, and are stored only as
//! digests; the e-mails themselves go out through outbox events the notifier consumes.

use chrono::{DateTime, Utc};
use hg_platform::audit::Action;
use hg_platform::audit::{ActorType, AuditEntry};
use hg_platform::auth;
use hg_platform::events::{NewEvent, enqueue};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::Identity;
use super::accounts::{self, AccountKind};
use super::sessions::{self, Subject, actor_type};
use super::{AuthError, RequestMeta, login, mail, policy, token_digest};
use crate::password::{self, Check};

fn subject_kind(subject: Subject) -> AccountKind {
    match subject {
        Subject::Staff(_) => AccountKind::Staff,
        Subject::Patient(_) => AccountKind::Patient,
    }
}

/// Asks (through the outbox) for an e-mail verification link to be sent to a new or changed
/// address. The event names the account; the link is made where the e-mail is sent
/// (`identity::mail`).
pub async fn request_verification(
    conn: &mut PgConnection,
    subject: Subject,
    meta: &RequestMeta,
) -> Result<(), AuthError> {
    enqueue(
        conn,
        NewEvent {
            event_type: mail::VERIFICATION.to_owned(),
            aggregate: "auth".to_owned(),
            aggregate_id: Some(subject.id()),
            org_id: None,
            actor: None,
            request_id: meta.request_id.clone(),
            data: json!({
                "principal_type": mail::kind_code(subject_kind(subject)),
                "principal_id": subject.id(),
            }),
        },
    )
    .await?;
    Ok(())
}

/// Changes the password of a signed-in account, ending its other sessions.
pub async fn change_password(
    ctx: &Identity,
    subject: Subject,
    current_family: Option<Uuid>,
    current: &str,
    new: &str,
    meta: &RequestMeta,
) -> Result<(), AuthError> {
    let mut tx = ctx.db.begin().await?;
    let account = accounts::by_id(&mut tx, subject_kind(subject), subject.id())
        .await?
        .ok_or(AuthError::InvalidCredentials)?;
    // Guessing the current password counts like failed logins: the same lock stops it.
    if let Some(until) = account.locked_until.filter(|u| *u > Utc::now()) {
        return Err(AuthError::Locked {
            retry_after_secs: (until - Utc::now()).num_seconds().max(1) as u64,
        });
    }
    let stored = account.password_hash.as_deref().unwrap_or_default();
    if password::check_blocking(current, stored).await == Check::Mismatch {
        let cfg = &ctx.settings;
        accounts::record_failure(
            &mut tx,
            subject_kind(subject),
            subject.id(),
            cfg.lockout_threshold,
            cfg.lockout_minutes,
        )
        .await?;
        AuditEntry::new(actor_type(subject), Action::PasswordChangeFailed)
            .actor(Some(subject.id()), account.email.clone())
            .org(account.org_id)
            .request(meta)
            .details(json!({"reason": "wrong_current_password"}))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
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
    sessions::revoke_all(
        &mut tx,
        ctx.cache.as_ref(),
        subject,
        current_family,
        "password",
    )
    .await?;
    AuditEntry::new(actor_type(subject), Action::PasswordChange)
        .actor(Some(subject.id()), account.email.clone())
        .org(account.org_id)
        .request(meta)
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Starts a password reset. Does the same work whether the address has an account or not — one
/// event and one audit entry — so neither the answer nor its time tells: whether there is an
/// account to mail a link to is found out where the e-mail is sent (`identity::mail`).
pub async fn forgot_password(
    ctx: &Identity,
    kind: AccountKind,
    email: &str,
    meta: &RequestMeta,
) -> Result<(), AuthError> {
    login::limit_attempts(ctx, meta).await?;
    let email = email.trim();
    let mut tx = ctx.db.begin().await?;
    enqueue(
        &mut tx,
        NewEvent {
            event_type: mail::PASSWORD_RESET.to_owned(),
            aggregate: "auth".to_owned(),
            aggregate_id: None,
            org_id: None,
            actor: None,
            request_id: meta.request_id.clone(),
            data: json!({"account": mail::kind_code(kind), "email": email}),
        },
    )
    .await?;
    AuditEntry::new(
        match kind {
            AccountKind::Staff => ActorType::User,
            AccountKind::Patient => ActorType::Patient,
        },
        Action::PasswordResetRequested,
    )
    .actor(None, Some(email.to_owned()))
    .request(meta)
    .record(&mut tx)
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
    let row: Option<LinkRow> = sqlx::query_as!(
        LinkRow,
        "select id, user_id, patient_id, expires_at, used_at from auth_tokens
          where token_hash = $1 and kind = $2 for update",
        token_digest(token.trim()),
        kind
    )
    .fetch_optional(&mut *conn)
    .await?;
    let row = row.ok_or(AuthError::LinkNotFound)?;
    if row.used_at.is_some() {
        return Err(AuthError::LinkUsed);
    }
    if row.expires_at <= Utc::now() {
        return Err(AuthError::LinkExpired);
    }
    sqlx::query!(
        "update auth_tokens set used_at = now() where id = $1",
        row.id,
    )
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
    ctx: &Identity,
    token: &str,
    new: &str,
    meta: &RequestMeta,
) -> Result<(), AuthError> {
    let mut tx = ctx.db.begin().await?;
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
    sessions::revoke_all(&mut tx, ctx.cache.as_ref(), subject, None, "password").await?;
    auth::revoke_all_before_now(ctx.cache.as_ref(), subject.id()).await?;
    AuditEntry::new(actor_type(subject), Action::PasswordReset)
        .actor(Some(subject.id()), account.email.clone())
        .org(account.org_id)
        .request(meta)
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Confirms an e-mail address with a verification link; a pending staff account becomes active.
pub async fn verify_email(
    ctx: &Identity,
    token: &str,
    meta: &RequestMeta,
) -> Result<Subject, AuthError> {
    let mut tx = ctx.db.begin().await?;
    let subject = spend_link(&mut tx, "email_verification", token).await?;
    match subject {
        Subject::Staff(id) => {
            sqlx::query!(
                "update users set email_verified_at = now(),
                        status = case when status = 'pending' then 'active' else status end
                  where id = $1",
                id,
            )
            .execute(&mut *tx)
            .await?;
        }
        Subject::Patient(id) => {
            // Refused when the address already signs in as another patient
            // (`patients_login_email_key`): told to the address's owner, who holds the link.
            sqlx::query!(
                "update patients set email_verified = true where id = $1",
                id,
            )
            .execute(&mut *tx)
            .await
            .map_err(|e| match hg_platform::db::DbError::from(e) {
                hg_platform::db::DbError::UniqueViolation { .. } => AuthError::EmailTaken,
                other => AuthError::Db(other),
            })?;
        }
    }
    AuditEntry::new(actor_type(subject), Action::EmailVerified)
        .actor(Some(subject.id()), None)
        .request(meta)
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(subject)
}

/// Sends a new verification link to a signed-in account whose address is not verified yet.
pub async fn resend_verification(
    ctx: &Identity,
    subject: Subject,
    meta: &RequestMeta,
) -> Result<(), AuthError> {
    let mut tx = ctx.db.begin().await?;
    let verified: Option<(bool, bool)> =
        match subject {
            Subject::Staff(id) => sqlx::query!(
                r#"select email_verified_at is not null as "verified!", email is not null as "has_email!"
                   from users where id = $1"#,
                id
            )
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| (r.verified, r.has_email)),
            Subject::Patient(id) => {
                sqlx::query!(
                    r#"select email_verified, email is not null as "has_email!"
                       from patients where id = $1"#,
                    id
                )
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| (r.email_verified, r.has_email))
            }
        };
    let (done, has_email) = verified.ok_or(AuthError::InvalidCredentials)?;
    if !has_email {
        return Err(AuthError::invalid(
            "email",
            "the account has no e-mail address",
        ));
    }
    if done {
        return Err(AuthError::EmailAlreadyVerified);
    }
    request_verification(&mut tx, subject, meta).await?;
    tx.commit().await?;
    Ok(())
}
