//! TOTP two-factor authentication for staff (RFC 6238: 6 digits, 30-second steps, one step of clock
//! skew either way). The secret is stored encrypted (AES-256-GCM with `TOTP_ENCRYPTION_KEY`); a code
//! is accepted once — the last accepted time step is remembered, so a code cannot be replayed.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use hg_platform::audit::Action;
use hg_platform::audit::{ActorType, AuditEntry};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::Identity;
use super::accounts::{self, Account, AccountKind};
use super::{AuthError, RequestMeta};
use crate::password::{self, Check};

const ISSUER: &str = "HeartGuard";

fn cipher(ctx: &Identity) -> Result<Aes256Gcm, AuthError> {
    let key = ctx
        .settings
        .totp_key
        .as_ref()
        .ok_or(AuthError::NotConfigured("TOTP_ENCRYPTION_KEY"))?;
    let bytes: Vec<u8> = (0..key.expose().len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&key.expose()[i..i + 2], 16).ok())
        .collect();
    Aes256Gcm::new_from_slice(&bytes).map_err(|_| AuthError::NotConfigured("TOTP_ENCRYPTION_KEY"))
}

/// Encrypts a TOTP secret: a random 96-bit nonce followed by the ciphertext.
fn seal(ctx: &Identity, secret: &[u8]) -> Result<Vec<u8>, AuthError> {
    let mut nonce = [0u8; 12];
    rand::fill(&mut nonce);
    let sealed = cipher(ctx)?
        .encrypt(&Nonce::from(nonce), secret)
        .map_err(|_| AuthError::NotConfigured("TOTP_ENCRYPTION_KEY"))?;
    Ok([nonce.as_slice(), sealed.as_slice()].concat())
}

fn open(ctx: &Identity, stored: &[u8]) -> Result<Vec<u8>, AuthError> {
    if stored.len() < 12 {
        return Err(AuthError::TotpNotSetUp);
    }
    let (nonce, sealed) = stored.split_at(12);
    let nonce: [u8; 12] = nonce.try_into().map_err(|_| AuthError::TotpNotSetUp)?;
    cipher(ctx)?
        .decrypt(&Nonce::from(nonce), sealed)
        .map_err(|_| {
            AuthError::NotConfigured("TOTP_ENCRYPTION_KEY (cannot decrypt stored secrets)")
        })
}

fn totp_for(secret: Vec<u8>, account: &str) -> Result<totp_rs::Totp, AuthError> {
    totp_rs::Builder::new()
        .with_secret(secret)
        .with_account_name(account.replace(':', "_"))
        .with_issuer(Some(ISSUER))
        .with_skew(1)
        .build()
        .map_err(|_| AuthError::NotConfigured("TOTP"))
}

/// Accepts `code` for `account` if it is valid and newer than the last accepted one; returns the time
/// step it matched.
pub async fn accept_code(
    conn: &mut PgConnection,
    ctx: &Identity,
    account: &Account,
    code: &str,
) -> Result<Option<u64>, AuthError> {
    let Some(stored) = &account.totp_secret_enc else {
        return Ok(None);
    };
    let totp = totp_for(open(ctx, stored)?, account.email.as_deref().unwrap_or(""))?;
    let Some(step) = totp.check_current(code.trim()) else {
        return Ok(None);
    };
    if account
        .totp_last_step
        .is_some_and(|last| step as i64 <= last)
    {
        return Ok(None);
    }
    sqlx::query!(
        "update users set totp_last_step = $2 where id = $1",
        account.id,
        step as i64,
    )
    .execute(conn)
    .await?;
    Ok(Some(step))
}

/// What the user needs to add the account to an authenticator app.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Enrollment {
    /// Base32 secret, for typing in.
    pub secret: String,
    /// `otpauth://` URI, for a QR code.
    pub otpauth_uri: String,
}

/// Starts enrollment: a new secret, stored encrypted but not enabled until confirmed with a code.
pub async fn setup(ctx: &Identity, user: Uuid) -> Result<Enrollment, AuthError> {
    let mut conn = ctx.db.acquire().await?;
    let account = accounts::by_id(&mut conn, AccountKind::Staff, user)
        .await?
        .ok_or(AuthError::InvalidCredentials)?;
    let mut secret = vec![0u8; 20];
    rand::fill(&mut secret[..]);
    let totp = totp_for(secret.clone(), account.email.as_deref().unwrap_or(""))?;
    let sealed = seal(ctx, &secret)?;
    sqlx::query!(
        "update users set totp_secret_enc = $2, totp_enabled = false, totp_last_step = null where id = $1",
        user,
        sealed,
    )
    .execute(&mut *conn)
    .await?;
    Ok(Enrollment {
        secret: totp.secret().to_base32(),
        otpauth_uri: totp
            .to_url()
            .map_err(|_| AuthError::NotConfigured("TOTP"))?,
    })
}

/// Finishes enrollment with a first code from the app.
pub async fn confirm(
    ctx: &Identity,
    user: Uuid,
    code: &str,
    meta: &RequestMeta,
) -> Result<(), AuthError> {
    let mut tx = ctx.db.begin().await?;
    let account = accounts::by_id(&mut tx, AccountKind::Staff, user)
        .await?
        .ok_or(AuthError::InvalidCredentials)?;
    if account.totp_secret_enc.is_none() {
        return Err(AuthError::TotpNotSetUp);
    }
    if accept_code(&mut tx, ctx, &account, code).await?.is_none() {
        return Err(AuthError::TotpInvalid);
    }
    sqlx::query!("update users set totp_enabled = true where id = $1", user)
        .execute(&mut *tx)
        .await?;
    AuditEntry::new(ActorType::User, Action::TotpEnabled)
        .actor(Some(user), account.email.clone())
        .request(meta)
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Turns two-factor off, given the account's password.
pub async fn disable(
    ctx: &Identity,
    user: Uuid,
    password_given: &str,
    meta: &RequestMeta,
) -> Result<(), AuthError> {
    let mut tx = ctx.db.begin().await?;
    let account = accounts::by_id(&mut tx, AccountKind::Staff, user)
        .await?
        .ok_or(AuthError::InvalidCredentials)?;
    let stored = account.password_hash.as_deref().unwrap_or_default();
    if password::check_blocking(password_given, stored).await == Check::Mismatch {
        return Err(AuthError::invalid(
            "password",
            "is not the account's password",
        ));
    }
    if !account.totp_enabled {
        return Err(AuthError::TotpNotSetUp);
    }
    sqlx::query!(
        "update users set totp_enabled = false, totp_secret_enc = null, totp_last_step = null where id = $1",
        user,
    )
    .execute(&mut *tx)
    .await?;
    AuditEntry::new(ActorType::User, Action::TotpDisabled)
        .actor(Some(user), account.email.clone())
        .request(meta)
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The current code for a stored secret (tests and support tooling only).
pub fn current_code(ctx: &Identity, stored: &[u8]) -> Result<String, AuthError> {
    let totp = totp_for(open(ctx, stored)?, "")?;
    Ok(totp.generate_current().to_string())
}
