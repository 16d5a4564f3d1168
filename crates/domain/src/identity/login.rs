//! Login for staff and patients: per-address attempt limit, the same answer for an unknown e-mail and
//! a wrong password (with the same work done), lockout growing with repeated failures — per account,
//! and per e-mail for addresses without one, by the same rule —
//! blocked and pending accounts refused, TOTP for staff who enabled it, bcrypt hashes upgraded.

use hg_platform::audit::Action;
use std::time::Duration;

use chrono::Utc;
use hg_platform::audit::{ActorType, AuditEntry};
use serde_json::json;

use super::Identity;
use super::accounts::{self, Account, AccountKind};
use super::sessions::{self, Session, Subject};
use super::{AuthError, RequestMeta, throttle, totp};
use crate::password::{self, Check};

/// What a login request carries.
pub struct Credentials<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub totp_code: Option<&'a str>,
}

/// Counts an attempt from the client's address; refuses past `LOGIN_RATE_PER_MINUTE`.
pub async fn limit_attempts(ctx: &Identity, meta: &RequestMeta) -> Result<(), AuthError> {
    let Some(ip) = meta.ip else {
        return Ok(());
    };
    let limit = i64::from(ctx.settings.login_rate_per_minute);
    match ctx
        .cache
        .incr(&format!("auth:attempts:{ip}"), Duration::from_secs(60))
        .await
    {
        Ok(n) if n > limit => Err(AuthError::RateLimited {
            retry_after_secs: 60,
        }),
        Ok(_) => Ok(()),
        // The per-account lockout still protects passwords while the cache is away.
        Err(e) => {
            tracing::warn!(error = %e, "login attempt limit unavailable");
            Ok(())
        }
    }
}

/// Signs a staff user in.
pub async fn staff(
    ctx: &Identity,
    creds: Credentials<'_>,
    meta: &RequestMeta,
) -> Result<Session, AuthError> {
    sign_in(ctx, AccountKind::Staff, creds, meta).await
}

/// Signs a patient in.
pub async fn patient(
    ctx: &Identity,
    creds: Credentials<'_>,
    meta: &RequestMeta,
) -> Result<Session, AuthError> {
    sign_in(ctx, AccountKind::Patient, creds, meta).await
}

fn actor(kind: AccountKind) -> ActorType {
    match kind {
        AccountKind::Staff => ActorType::User,
        AccountKind::Patient => ActorType::Patient,
    }
}

async fn sign_in(
    ctx: &Identity,
    kind: AccountKind,
    creds: Credentials<'_>,
    meta: &RequestMeta,
) -> Result<Session, AuthError> {
    limit_attempts(ctx, meta).await?;
    let cfg = &ctx.settings;
    let email = creds.email.trim();
    let mut tx = ctx.db.begin().await?;
    let account = accounts::by_email(&mut tx, kind, email)
        .await?
        .filter(|a| a.password_hash.is_some());
    // Unknown e-mails and accounts go through the same steps — a lock checked, one password hash
    // computed, one failure counted — so code, message and time tell them apart by nothing.
    let locked_until = match &account {
        Some(a) => a.locked_until,
        None => throttle::locked_until(&mut tx, kind, email).await?,
    };
    if let Some(until) = locked_until.filter(|u| *u > Utc::now()) {
        password::check_nothing_blocking(creds.password).await;
        record_failure(&mut tx, kind, account.as_ref(), meta, "locked").await?;
        tx.commit().await?;
        return Err(AuthError::Locked {
            retry_after_secs: (until - Utc::now()).num_seconds().max(1) as u64,
        });
    }
    let Some(account) = account else {
        password::check_nothing_blocking(creds.password).await;
        throttle::record_failure(
            &mut tx,
            kind,
            email,
            cfg.lockout_threshold,
            cfg.lockout_minutes,
        )
        .await?;
        record_failure(&mut tx, kind, None, meta, "unknown_email").await?;
        tx.commit().await?;
        return Err(AuthError::InvalidCredentials);
    };
    let stored = account.password_hash.as_deref().unwrap_or_default();
    let check = password::check_blocking(creds.password, stored).await;
    if check == Check::Mismatch {
        let locked = accounts::record_failure(
            &mut tx,
            kind,
            account.id,
            cfg.lockout_threshold,
            cfg.lockout_minutes,
        )
        .await?;
        record_failure(&mut tx, kind, Some(&account), meta, "wrong_password").await?;
        if let Some(until) = locked {
            AuditEntry::new(actor(kind), Action::AccountLocked)
                .actor(Some(account.id), account.email.clone())
                .request(meta)
                .details(json!({"locked_until": until}))
                .record(&mut tx)
                .await?;
        }
        tx.commit().await?;
        return Err(AuthError::InvalidCredentials);
    }
    match account.status.as_str() {
        "active" => {}
        "blocked" => {
            record_failure(&mut tx, kind, Some(&account), meta, "blocked").await?;
            tx.commit().await?;
            return Err(AuthError::Blocked);
        }
        _ => {
            record_failure(&mut tx, kind, Some(&account), meta, "pending").await?;
            tx.commit().await?;
            return Err(AuthError::Pending);
        }
    }
    let mut amr = vec!["pwd".to_owned()];
    if account.totp_enabled {
        let Some(code) = creds.totp_code else {
            tx.commit().await?;
            return Err(AuthError::TotpRequired);
        };
        if totp::accept_code(&mut tx, ctx, &account, code)
            .await?
            .is_none()
        {
            accounts::record_failure(
                &mut tx,
                kind,
                account.id,
                cfg.lockout_threshold,
                cfg.lockout_minutes,
            )
            .await?;
            record_failure(&mut tx, kind, Some(&account), meta, "wrong_totp").await?;
            tx.commit().await?;
            return Err(AuthError::TotpInvalid);
        }
        amr.push("otp".to_owned());
    }
    let upgraded = match check {
        Check::MatchNeedsRehash => Some(
            password::hash_blocking(creds.password)
                .await
                .map_err(|_| AuthError::NotConfigured("password hashing"))?,
        ),
        _ => None,
    };
    accounts::record_success(&mut tx, kind, account.id, upgraded.as_deref()).await?;
    let subject = match kind {
        AccountKind::Staff => Subject::Staff(account.id),
        AccountKind::Patient => Subject::Patient(account.id),
    };
    let session = sessions::open(&mut tx, ctx, subject, amr, meta).await?;
    AuditEntry::new(actor(kind), Action::LoginSuccess)
        .actor(Some(account.id), account.email.clone())
        .entity_maybe("session", session.claims.fid)
        .org(account.org_id)
        .request(meta)
        .details(json!({"hash_upgraded": upgraded.is_some(), "mfa": account.totp_enabled}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(session)
}

async fn record_failure(
    conn: &mut sqlx::PgConnection,
    kind: AccountKind,
    account: Option<&Account>,
    meta: &RequestMeta,
    reason: &str,
) -> Result<(), AuthError> {
    AuditEntry::new(actor(kind), Action::LoginFailed)
        .actor(account.map(|a| a.id), account.and_then(|a| a.email.clone()))
        .org(account.and_then(|a| a.org_id))
        .request(meta)
        .details(json!({"reason": reason}))
        .record(conn)
        .await?;
    Ok(())
}
