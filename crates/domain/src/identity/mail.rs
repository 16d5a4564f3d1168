//! Account e-mails: password reset, address verification, invitations, and the note sent when
//! someone registers with an address that already has an account.
//!
//! The request that asks for one writes an event carrying only a reference (an e-mail address, an
//! account or invitation id), never a token. The one-time token is produced here, where the e-mail is
//! rendered and sent, and stored only as its SHA-256 digest (spec/04 "Secrets"): reading the outbox,
//! the broker or the logs gives nobody a working link. Sending again (a retry) makes a new token and
//! the older link of the same e-mail stops working.

use chrono::{Duration, Utc};
use hg_platform::audit::Action;
use hg_platform::audit::{ActorType, AuditEntry};
use hg_platform::mail::{MailMessage, Mailer};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use super::Identity;
use super::accounts::{self, AccountKind};
use super::{AuthError, opaque_token};

/// `auth.password_reset_requested`: `{account: "user"|"patient", email}`.
pub const PASSWORD_RESET: &str = "auth.password_reset_requested";
/// `auth.email_verification_requested`: `{principal_type, principal_id}`.
pub const VERIFICATION: &str = "auth.email_verification_requested";
/// `auth.registration_attempted`: `{account, email}` — someone registered with an address that has
/// an account already.
pub const REGISTRATION_ATTEMPTED: &str = "auth.registration_attempted";
/// `user.invited`: `{invitation_id}`.
pub const INVITED: &str = "user.invited";

/// Every event this module turns into an e-mail.
pub const EVENT_TYPES: &[&str] = &[
    PASSWORD_RESET,
    VERIFICATION,
    REGISTRATION_ATTEMPTED,
    INVITED,
];

/// `user` or `patient`, as events name account kinds.
pub fn kind_code(kind: AccountKind) -> &'static str {
    match kind {
        AccountKind::Staff => "user",
        AccountKind::Patient => "patient",
    }
}

fn kind_of(code: &str) -> Option<AccountKind> {
    match code {
        "user" => Some(AccountKind::Staff),
        "patient" => Some(AccountKind::Patient),
        _ => None,
    }
}

#[derive(Deserialize)]
struct ByEmail {
    account: String,
    email: String,
}

#[derive(Deserialize)]
struct ByPrincipal {
    principal_type: String,
    principal_id: Uuid,
}

#[derive(Deserialize)]
struct ByInvitation {
    invitation_id: Uuid,
}

/// What handling one event did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An e-mail went out.
    Sent,
    /// Nothing to send (no such account, already verified, invitation no longer pending…).
    Nothing,
}

/// The language of an e-mail: English when the account asked for it, else the installation's
/// Spanish.
#[derive(Clone, Copy)]
enum Lang {
    Es,
    En,
}

fn lang(locale: Option<&str>) -> Lang {
    match locale {
        Some(l) if l.to_ascii_lowercase().starts_with("en") => Lang::En,
        _ => Lang::Es,
    }
}

/// Turns the account-mail event `event_type` with `data` into an e-mail on `mailer`, inside the
/// caller's transaction `conn`: the token's digest is written there, so if the transaction does not
/// commit, the link in an e-mail that went out anyway simply does not work, and the retry sends a
/// new one.
pub async fn deliver(
    conn: &mut PgConnection,
    ctx: &Identity,
    mailer: &dyn Mailer,
    event_type: &str,
    data: &Value,
) -> Result<Outcome, AuthError> {
    let bad = |what: &str| {
        tracing::warn!(event_type, "account-mail event without {what}; skipped");
        Ok(Outcome::Nothing)
    };
    match event_type {
        PASSWORD_RESET => {
            let Ok(e) = ByEmail::deserialize(data) else {
                return bad("account and email");
            };
            let Some(kind) = kind_of(&e.account) else {
                return bad("a known account kind");
            };
            password_reset(conn, ctx, mailer, kind, &e.email).await
        }
        VERIFICATION => {
            let Ok(p) = ByPrincipal::deserialize(data) else {
                return bad("a principal");
            };
            let Some(kind) = kind_of(&p.principal_type) else {
                return bad("a known principal type");
            };
            verification(conn, ctx, mailer, kind, p.principal_id).await
        }
        REGISTRATION_ATTEMPTED => {
            let Ok(e) = ByEmail::deserialize(data) else {
                return bad("account and email");
            };
            registration_attempted(ctx, mailer, &e.email).await
        }
        INVITED => {
            let Ok(i) = ByInvitation::deserialize(data) else {
                return bad("an invitation id");
            };
            invitation(conn, ctx, mailer, i.invitation_id).await
        }
        _ => bad("a known type"),
    }
}

fn columns(kind: AccountKind) -> (Option<&'static str>, Option<&'static str>) {
    match kind {
        AccountKind::Staff => (Some("user_id"), None),
        AccountKind::Patient => (None, Some("patient_id")),
    }
}

/// A new one-time link of `kind` for the account, spending its earlier unused ones of that kind.
async fn new_link(
    conn: &mut PgConnection,
    account: AccountKind,
    id: Uuid,
    kind: &str,
    ttl: Duration,
) -> Result<(String, chrono::DateTime<Utc>), AuthError> {
    let (user, patient) = match columns(account) {
        (Some(_), _) => (Some(id), None),
        _ => (None, Some(id)),
    };
    sqlx::query!(
        "update auth_tokens set expires_at = least(expires_at, now())
          where kind = $1 and used_at is null and (user_id = $2 or patient_id = $3)",
        kind,
        user,
        patient,
    )
    .execute(&mut *conn)
    .await?;
    let (token, digest) = opaque_token();
    let expires = Utc::now() + ttl;
    sqlx::query!(
        "insert into auth_tokens (kind, user_id, patient_id, token_hash, expires_at) values ($1, $2, $3, $4, $5)",
        kind,
        user,
        patient,
        digest,
        expires,
    )
    .execute(&mut *conn)
    .await?;
    Ok((token, expires))
}

async fn locale_of(
    conn: &mut PgConnection,
    kind: AccountKind,
    id: Uuid,
) -> Result<Option<String>, AuthError> {
    Ok(match kind {
        AccountKind::Staff => {
            sqlx::query_scalar::<_, Option<String>>("select locale from users where id = $1")
                .bind(id)
                .fetch_optional(conn)
                .await?
                .flatten()
        }
        AccountKind::Patient => None,
    })
}

async fn send(
    mailer: &dyn Mailer,
    to: &str,
    subject: String,
    text: String,
) -> Result<(), AuthError> {
    mailer
        .send(&MailMessage::text(to, subject, text))
        .await
        .map(|_| ())
        .map_err(|e| AuthError::MailUnavailable(e.0))
}

async fn audit_sent(
    conn: &mut PgConnection,
    template: &str,
    kind: Option<AccountKind>,
    id: Option<Uuid>,
    org: Option<Uuid>,
) -> Result<(), AuthError> {
    let mut entry = AuditEntry::new(ActorType::System, Action::AccountEmailSent)
        .org(org)
        .details(json!({"template": template}));
    if let Some(kind) = kind {
        entry = entry.entity_maybe(kind_code(kind), id);
    }
    entry.record(conn).await?;
    Ok(())
}

async fn password_reset(
    conn: &mut PgConnection,
    ctx: &Identity,
    mailer: &dyn Mailer,
    kind: AccountKind,
    email: &str,
) -> Result<Outcome, AuthError> {
    let Some(account) = accounts::by_email(conn, kind, email.trim()).await? else {
        return Ok(Outcome::Nothing);
    };
    if account.status == "blocked" {
        return Ok(Outcome::Nothing);
    }
    let to = account.email.clone().unwrap_or_else(|| email.to_owned());
    let ttl_min = ctx.settings.password_reset_ttl_minutes;
    let (token, _) = new_link(
        conn,
        kind,
        account.id,
        "password_reset",
        Duration::minutes(i64::from(ttl_min)),
    )
    .await?;
    let link = format!("{}/reset-password?token={token}", ctx.public_base);
    let (subject, text) = match lang(locale_of(conn, kind, account.id).await?.as_deref()) {
        Lang::Es => (
            "Restablece tu contraseña de HeartGuard".to_owned(),
            format!(
                "Hola {name}:\n\nAlguien (esperamos que tú) pidió restablecer la contraseña de tu cuenta de HeartGuard.\nEste enlace sirve una sola vez durante {ttl_min} minutos:\n\n{link}\n\nSi no lo pediste, ignora este mensaje: tu contraseña no cambia.\n",
                name = account.name
            ),
        ),
        Lang::En => (
            "Reset your HeartGuard password".to_owned(),
            format!(
                "Hello {name},\n\nSomeone (we hope you) asked to reset the password of your HeartGuard account.\nThis link works once, for {ttl_min} minutes:\n\n{link}\n\nIf you did not ask, ignore this message: your password stays as it is.\n",
                name = account.name
            ),
        ),
    };
    send(mailer, &to, subject, text).await?;
    audit_sent(
        conn,
        "password_reset",
        Some(kind),
        Some(account.id),
        account.org_id,
    )
    .await?;
    Ok(Outcome::Sent)
}

async fn verification(
    conn: &mut PgConnection,
    ctx: &Identity,
    mailer: &dyn Mailer,
    kind: AccountKind,
    id: Uuid,
) -> Result<Outcome, AuthError> {
    let row: Option<(bool, Option<String>, String, Option<Uuid>)> = match kind {
        AccountKind::Staff => sqlx::query!(
            r#"select email_verified_at is not null as "verified!", email, name
                   from users where id = $1"#,
            id
        )
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| (r.verified, Some(r.email), r.name, None)),
        AccountKind::Patient => sqlx::query!(
            "select email_verified, email, person_name, org_id from patients where id = $1",
            id
        )
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| (r.email_verified, r.email, r.person_name, Some(r.org_id))),
    };
    let Some((false, Some(to), name, org)) = row else {
        return Ok(Outcome::Nothing);
    };
    let hours = ctx.settings.email_verification_ttl_hours;
    let (token, _) = new_link(
        conn,
        kind,
        id,
        "email_verification",
        Duration::hours(i64::from(hours)),
    )
    .await?;
    let link = format!("{}/verify-email?token={token}", ctx.public_base);
    let (subject, text) = match lang(locale_of(conn, kind, id).await?.as_deref()) {
        Lang::Es => (
            "Confirma tu correo para HeartGuard".to_owned(),
            format!(
                "Hola {name}:\n\nConfirma que esta dirección es tuya abriendo este enlace (válido {hours} horas):\n\n{link}\n\nSi no creaste una cuenta en HeartGuard, ignora este mensaje.\n"
            ),
        ),
        Lang::En => (
            "Confirm your e-mail for HeartGuard".to_owned(),
            format!(
                "Hello {name},\n\nConfirm this address is yours by opening this link (valid for {hours} hours):\n\n{link}\n\nIf you did not create a HeartGuard account, ignore this message.\n"
            ),
        ),
    };
    send(mailer, &to, subject, text).await?;
    audit_sent(conn, "email_verification", Some(kind), Some(id), org).await?;
    Ok(Outcome::Sent)
}

async fn registration_attempted(
    ctx: &Identity,
    mailer: &dyn Mailer,
    email: &str,
) -> Result<Outcome, AuthError> {
    let base = &ctx.public_base;
    let text = format!(
        "Hola:\n\nAlguien intentó registrarse en HeartGuard con esta dirección, que ya tiene una cuenta.\nSi fuiste tú, inicia sesión, o restablece tu contraseña si no la recuerdas: {base}/forgot-password\nSi no fuiste tú, no tienes que hacer nada.\n\n---\n\nHello,\n\nSomeone tried to register with HeartGuard using this address, which already has an account.\nIf it was you, sign in, or reset your password if you do not remember it: {base}/forgot-password\nIf it was not you, there is nothing to do.\n"
    );
    send(
        mailer,
        email,
        "Ya tienes una cuenta en HeartGuard / You already have a HeartGuard account".to_owned(),
        text,
    )
    .await?;
    Ok(Outcome::Sent)
}

#[derive(sqlx::FromRow)]
struct InvitationMail {
    email: String,
    org_id: Uuid,
    org_name: String,
    org_role: String,
    expires_at: chrono::DateTime<Utc>,
    inviter: Option<String>,
}

async fn invitation(
    conn: &mut PgConnection,
    ctx: &Identity,
    mailer: &dyn Mailer,
    id: Uuid,
) -> Result<Outcome, AuthError> {
    let row: Option<InvitationMail> = sqlx::query_as!(
        InvitationMail,
        "select i.email, i.org_id, o.name as org_name, i.org_role, i.expires_at, u.name as inviter
           from org_invitations i join organizations o on o.id = i.org_id
           left join users u on u.id = i.created_by
          where i.id = $1 and i.used_at is null and i.revoked_at is null and i.expires_at > now()
          for update of i",
        id
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(inv) = row else {
        return Ok(Outcome::Nothing);
    };
    let (token, digest) = opaque_token();
    sqlx::query!(
        "update org_invitations set token_hash = $2 where id = $1",
        id,
        digest,
    )
    .execute(&mut *conn)
    .await?;
    let link = format!("{}/accept-invitation?token={token}", ctx.public_base);
    let who = inv.inviter.as_deref().unwrap_or("HeartGuard");
    let until = inv.expires_at.format("%Y-%m-%d %H:%M UTC");
    let text = format!(
        "Hola:\n\n{who} te invita a unirte a «{org}» en HeartGuard con el rol {role}.\nPara aceptar, abre este enlace antes del {until}:\n\n{link}\n\nSi no esperabas esta invitación, ignórala: nada cambia sin tu aceptación.\n\n---\n\nHello,\n\n{who} invites you to join \"{org}\" on HeartGuard as {role}.\nTo accept, open this link before {until}:\n\n{link}\n\nIf you did not expect this invitation, ignore it: nothing changes unless you accept.\n",
        org = inv.org_name,
        role = inv.org_role,
    );
    send(
        mailer,
        &inv.email,
        format!(
            "Invitación a {} / Invitation to {}",
            inv.org_name, inv.org_name
        ),
        text,
    )
    .await?;
    audit_sent(conn, "invitation", None, None, Some(inv.org_id)).await?;
    Ok(Outcome::Sent)
}
