//! Sessions: an access token (15 minutes) and an opaque refresh token stored as a digest in a family.
//! Every refresh rotates the refresh token; presenting an already-rotated one revokes the whole family
//! and its access tokens (theft detection). A family lives `REFRESH_MAX_DAYS` at most, each token
//! `REFRESH_TTL_DAYS`.

use hg_platform::audit::Action;
use hg_platform::auth::Role;
use hg_platform::cache::Cache;
use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use hg_platform::audit::{ActorType, AuditEntry};
use hg_platform::auth::{self, Claims, NewToken, PrincipalKind};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::Identity;
use super::accounts::{self, AccountKind};
use super::{AuthError, RequestMeta, opaque_token, token_digest};

/// Who a session is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    Staff(Uuid),
    Patient(Uuid),
}

impl Subject {
    /// The principal's id.
    pub fn id(self) -> Uuid {
        match self {
            Subject::Staff(id) | Subject::Patient(id) => id,
        }
    }

    fn kind(self) -> AccountKind {
        match self {
            Subject::Staff(_) => AccountKind::Staff,
            Subject::Patient(_) => AccountKind::Patient,
        }
    }
}

/// The token pair handed to a client (`data.tokens` of spec/03).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
}

/// An issued session: the pair, and the access token's claims.
pub struct Session {
    pub tokens: Tokens,
    pub claims: Claims,
}

/// Signs an access token for `subject` with its current roles and memberships.
async fn access_token(
    conn: &mut PgConnection,
    ctx: &Identity,
    subject: Subject,
    family: Uuid,
    amr: Vec<String>,
) -> Result<(String, Claims), AuthError> {
    let keys = ctx
        .tokens
        .as_ref()
        .ok_or(AuthError::NotConfigured("JWT_PRIVATE_KEY_FILE"))?;
    let token = match subject {
        Subject::Staff(id) => {
            let mut roles = accounts::global_roles(conn, id).await?;
            // REQUIRE_2FA_SUPERADMIN: without a TOTP code in this session the role is not granted;
            // the account can still enroll (2fa endpoints need no role) and sign in again.
            if ctx.settings.require_2fa_superadmin && !amr.iter().any(|m| m == "otp") {
                roles.retain(|r| r != Role::Superadmin.code());
            }
            let orgs: BTreeMap<Uuid, String> = accounts::memberships(conn, id)
                .await?
                .into_iter()
                .map(|m| (m.id, m.role_code))
                .collect();
            NewToken {
                sub: id,
                typ: PrincipalKind::User,
                roles,
                orgs,
                fid: Some(family),
                amr,
            }
        }
        Subject::Patient(id) => {
            let org: Uuid = sqlx::query_scalar!("select org_id from patients where id = $1", id)
                .fetch_one(&mut *conn)
                .await?;
            NewToken {
                sub: id,
                typ: PrincipalKind::Patient,
                roles: Vec::new(),
                orgs: BTreeMap::from([(org, "patient".to_owned())]),
                fid: Some(family),
                amr,
            }
        }
    };
    Ok(keys.issue(token)?)
}

async fn insert_refresh(
    conn: &mut PgConnection,
    subject: Subject,
    family: Uuid,
    family_expires: DateTime<Utc>,
    ttl: Duration,
    amr: &[String],
    meta: &RequestMeta,
) -> Result<(Uuid, String), AuthError> {
    let (token, digest) = opaque_token();
    let expires = (Utc::now() + ttl).min(family_expires);
    let (user, patient) = match subject {
        Subject::Staff(id) => (Some(id), None),
        Subject::Patient(id) => (None, Some(id)),
    };
    let id: Uuid = sqlx::query_scalar!(
        "insert into refresh_tokens (user_id, patient_id, token_hash, family_id, expires_at, family_expires_at, client, ip, amr)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning id",
        user,
        patient,
        digest,
        family,
        expires,
        family_expires,
        meta.client.as_deref(),
        meta.ip.map(ipnet_of),
        amr,
    )
    .fetch_one(conn)
    .await?;
    Ok((id, token))
}

fn ipnet_of(ip: std::net::IpAddr) -> sqlx::types::ipnet::IpNet {
    sqlx::types::ipnet::IpNet::from(ip)
}

/// Opens a new session (a new refresh family) for `subject`, inside the caller's transaction.
pub async fn open(
    conn: &mut PgConnection,
    ctx: &Identity,
    subject: Subject,
    amr: Vec<String>,
    meta: &RequestMeta,
) -> Result<Session, AuthError> {
    let cfg = &ctx.settings;
    let family = Uuid::now_v7();
    let family_expires = Utc::now() + Duration::days(i64::from(cfg.refresh_max_days));
    let (_, refresh) = insert_refresh(
        conn,
        subject,
        family,
        family_expires,
        Duration::days(i64::from(cfg.refresh_ttl_days)),
        &amr,
        meta,
    )
    .await?;
    let (access, claims) = access_token(conn, ctx, subject, family, amr).await?;
    Ok(Session {
        tokens: Tokens {
            access_token: access,
            refresh_token: refresh,
            token_type: "Bearer",
            expires_in: (claims.exp - claims.iat) as u64,
        },
        claims,
    })
}

#[derive(sqlx::FromRow)]
struct RefreshRow {
    id: Uuid,
    user_id: Option<Uuid>,
    patient_id: Option<Uuid>,
    family_id: Uuid,
    expires_at: DateTime<Utc>,
    family_expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    amr: Vec<String>,
}

/// Revokes every refresh token of `family` that is still live, and its access tokens.
pub async fn revoke_family(
    conn: &mut PgConnection,
    cache: &dyn Cache,
    family: Uuid,
    reason: &str,
) -> Result<(), AuthError> {
    sqlx::query!(
        "update refresh_tokens set revoked_at = now(), revoked_reason = $2
          where family_id = $1 and revoked_at is null",
        family,
        reason,
    )
    .execute(conn)
    .await?;
    auth::deny_family(cache, family).await?;
    Ok(())
}

/// Revokes every session of an account (password change or reset, blocking) except `keep`.
pub async fn revoke_all(
    conn: &mut PgConnection,
    cache: &dyn Cache,
    subject: Subject,
    keep: Option<Uuid>,
    reason: &str,
) -> Result<(), AuthError> {
    let column = match subject {
        Subject::Staff(_) => "user_id",
        Subject::Patient(_) => "patient_id",
    };
    let families: Vec<Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select distinct family_id from refresh_tokens
          where {column} = $1 and revoked_at is null and family_id is distinct from $2"
    )))
    .bind(subject.id())
    .bind(keep)
    .fetch_all(&mut *conn)
    .await?;
    for family in families {
        revoke_family(conn, cache, family, reason).await?;
    }
    Ok(())
}

/// Rotates a refresh token: the presented one is spent and a new pair is issued in the same family.
/// A spent or revoked token revokes the family.
pub async fn refresh(
    ctx: &Identity,
    presented: &str,
    meta: &RequestMeta,
) -> Result<Session, AuthError> {
    let cfg = &ctx.settings;
    let mut tx = ctx.db.begin().await?;
    let row: Option<RefreshRow> = sqlx::query_as!(
        RefreshRow,
        "select id, user_id, patient_id, family_id, expires_at, family_expires_at, revoked_at, amr
           from refresh_tokens where token_hash = $1 for update",
        token_digest(presented)
    )
    .fetch_optional(&mut *tx)
    .await?;
    let row = row.ok_or(AuthError::RefreshInvalid)?;
    let subject = match (row.user_id, row.patient_id) {
        (Some(u), _) => Subject::Staff(u),
        (None, Some(p)) => Subject::Patient(p),
        _ => return Err(AuthError::RefreshInvalid),
    };
    if row.revoked_at.is_some() {
        revoke_family(&mut tx, ctx.cache.as_ref(), row.family_id, "reuse").await?;
        AuditEntry::new(actor_type(subject), Action::RefreshTokenReuse)
            .actor(Some(subject.id()), None)
            .entity("session", row.family_id)
            .request(meta)
            .details(serde_json::json!({"reason": "a rotated refresh token was presented again"}))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        tracing::warn!(family = %row.family_id, "refresh token reuse: session family revoked");
        return Err(AuthError::RefreshReused);
    }
    if row.expires_at <= Utc::now() {
        return Err(AuthError::RefreshInvalid);
    }
    let account = accounts::by_id(&mut tx, subject.kind(), subject.id())
        .await?
        .ok_or(AuthError::RefreshInvalid)?;
    if account.status != "active" {
        revoke_family(&mut tx, ctx.cache.as_ref(), row.family_id, "blocked").await?;
        tx.commit().await?;
        return Err(AuthError::RefreshInvalid);
    }
    let (new_id, refresh) = insert_refresh(
        &mut tx,
        subject,
        row.family_id,
        row.family_expires_at,
        Duration::days(i64::from(cfg.refresh_ttl_days)),
        &row.amr,
        meta,
    )
    .await?;
    sqlx::query!(
        "update refresh_tokens set revoked_at = now(), revoked_reason = 'rotated', replaced_by = $2 where id = $1",
        row.id,
        new_id,
    )
    .execute(&mut *tx)
    .await?;
    let (access, claims) = access_token(&mut tx, ctx, subject, row.family_id, row.amr).await?;
    tx.commit().await?;
    Ok(Session {
        tokens: Tokens {
            access_token: access,
            refresh_token: refresh,
            token_type: "Bearer",
            expires_in: (claims.exp - claims.iat) as u64,
        },
        claims,
    })
}

/// The audit actor type of a subject.
pub fn actor_type(subject: Subject) -> ActorType {
    match subject {
        Subject::Staff(_) => ActorType::User,
        Subject::Patient(_) => ActorType::Patient,
    }
}

/// Ends the session of `claims`: its refresh family is revoked and the access token deny-listed.
pub async fn logout(ctx: &Identity, claims: &Claims, meta: &RequestMeta) -> Result<(), AuthError> {
    let subject = match claims.typ {
        PrincipalKind::Patient => Subject::Patient(claims.sub),
        _ => Subject::Staff(claims.sub),
    };
    let mut tx = ctx.db.begin().await?;
    if let Some(family) = claims.fid {
        revoke_family(&mut tx, ctx.cache.as_ref(), family, "logout").await?;
    }
    auth::deny(ctx.cache.as_ref(), claims).await?;
    AuditEntry::new(actor_type(subject), Action::Logout)
        .actor(Some(claims.sub), None)
        .entity_maybe("session", claims.fid)
        .request(meta)
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
