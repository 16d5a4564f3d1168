//! New accounts: staff registration (by invitation, or self-service when `ALLOW_STAFF_SIGNUP`),
//! patient self-registration into organizations that allow it, and invitation acceptance — which
//! creates the account when needed and the membership in the same transaction, exactly once.

use chrono::{DateTime, NaiveDate, Utc};
use hg_platform::audit::Action;
use hg_platform::audit::{ActorType, AuditEntry};
use hg_platform::db::DbError;
use hg_platform::events::{NewEvent, enqueue};
use serde::Serialize;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::Identity;
use super::accounts::{self, AccountKind};
use super::recovery::request_verification;
use super::sessions::Subject;
use super::{AuthError, RequestMeta, mail, normalize_email, policy, token_digest};
use crate::password;

/// A new staff member's details.
pub struct NewStaff<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub password: &'a str,
}

fn check_name(name: &str) -> Result<String, AuthError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 160 {
        return Err(AuthError::invalid("name", "must have 1 to 160 characters"));
    }
    Ok(name.to_owned())
}

fn email_taken(e: sqlx::Error) -> AuthError {
    match DbError::from(e) {
        DbError::UniqueViolation { .. } => AuthError::EmailTaken,
        other => AuthError::Db(other),
    }
}

/// A staff account's checked details and password hash.
async fn checked_staff(new: &NewStaff<'_>) -> Result<(String, String, String), AuthError> {
    let name = check_name(new.name)?;
    let email = normalize_email(new.email).map_err(|p| AuthError::invalid("email", p))?;
    policy::check(new.password, &email).map_err(|p| AuthError::invalid("password", p))?;
    let hash = password::hash_blocking(new.password)
        .await
        .map_err(|_| AuthError::NotConfigured("password hashing"))?;
    Ok((name, email, hash))
}

async fn create_staff(
    conn: &mut PgConnection,
    new: &NewStaff<'_>,
    status: &str,
    verified: bool,
) -> Result<Uuid, AuthError> {
    let (name, email, hash) = checked_staff(new).await?;
    sqlx::query_scalar!(
        "insert into users (name, email, password_hash, status, email_verified_at)
         values ($1, $2, $3, $4, case when $5 then now() end) returning id",
        name,
        &email,
        hash,
        status,
        verified,
    )
    .fetch_one(conn)
    .await
    .map_err(email_taken)
}

/// Tells (through the outbox) the owner of `email`, which has a `kind` account already, that someone
/// tried to register with it — instead of telling the one registering.
async fn registration_attempted(
    conn: &mut PgConnection,
    kind: AccountKind,
    email: &str,
    org: Option<Uuid>,
    meta: &RequestMeta,
) -> Result<(), AuthError> {
    enqueue(
        conn,
        NewEvent {
            event_type: mail::REGISTRATION_ATTEMPTED.to_owned(),
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
        Action::RegistrationRefused,
    )
    .actor(None, Some(email.to_owned()))
    .org(org)
    .request(meta)
    .details(json!({"reason": "email_has_account"}))
    .record(conn)
    .await?;
    Ok(())
}

/// Self-service staff registration (only with `ALLOW_STAFF_SIGNUP`): a pending account and a
/// verification e-mail. An address that has an account already gets an e-mail saying so instead;
/// the answer and the work done are the same either way (spec/04 "Enumeration").
pub async fn register_staff(
    ctx: &Identity,
    new: NewStaff<'_>,
    meta: &RequestMeta,
) -> Result<(), AuthError> {
    if !ctx.settings.allow_staff_signup {
        return Err(AuthError::SignupDisabled);
    }
    let (name, email, hash) = checked_staff(&new).await?;
    let mut tx = ctx.db.begin().await?;
    let id: Option<Uuid> = sqlx::query_scalar!(
        "insert into users (name, email, password_hash, status) values ($1, $2, $3, 'pending')
         on conflict do nothing returning id",
        &name,
        &email,
        hash,
    )
    .fetch_optional(&mut *tx)
    .await?;
    match id {
        Some(id) => {
            request_verification(&mut tx, Subject::Staff(id), meta).await?;
            AuditEntry::new(ActorType::User, Action::UserRegistered)
                .actor(Some(id), Some(email.clone()))
                .entity("user", id)
                .request(meta)
                .record(&mut tx)
                .await?;
        }
        None => registration_attempted(&mut tx, AccountKind::Staff, &email, None, meta).await?,
    }
    tx.commit().await?;
    Ok(())
}

/// A patient registering themself.
pub struct NewPatient<'a> {
    pub org_code: &'a str,
    pub name: &'a str,
    pub email: &'a str,
    pub password: &'a str,
    pub birthdate: Option<NaiveDate>,
    pub sex: Option<&'a str>,
}

/// Patient self-registration into an organization that allows it: a pending patient who can sign in
/// once the e-mail is verified. When the address already signs in as a patient anywhere, or belongs
/// to a patient of this organization, nothing is created and the address's owner gets an e-mail
/// saying so; the answer and the work done are the same either way, so registering tells nobody
/// that an e-mail belongs to a patient (spec/04 "Enumeration").
pub async fn register_patient(
    ctx: &Identity,
    new: NewPatient<'_>,
    meta: &RequestMeta,
) -> Result<(), AuthError> {
    let name = check_name(new.name)?;
    let email = normalize_email(new.email).map_err(|p| AuthError::invalid("email", p))?;
    policy::check(new.password, &email).map_err(|p| AuthError::invalid("password", p))?;
    if let Some(sex) = new.sex
        && !["M", "F", "O"].contains(&sex)
    {
        return Err(AuthError::invalid("sex", "must be one of M, F, O"));
    }
    if let Some(b) = new.birthdate
        && (b > Utc::now().date_naive() || b < NaiveDate::from_ymd_opt(1900, 1, 2).unwrap_or(b))
    {
        return Err(AuthError::invalid(
            "birthdate",
            "must be a past date after 1900",
        ));
    }
    let mut tx = ctx.db.begin().await?;
    let org: Option<Uuid> = sqlx::query_scalar!(
        "select id from organizations where code = upper($1) and allow_patient_registration and archived_at is null",
        new.org_code.trim(),
    )
    .fetch_optional(&mut *tx)
    .await?;
    let org = org.ok_or(AuthError::RegistrationClosed)?;
    let hash = password::hash_blocking(new.password)
        .await
        .map_err(|_| AuthError::NotConfigured("password hashing"))?;
    // One statement either way: no row when the address signs in as a patient already, or a
    // patient of this organization has it (`patients_org_email_key`).
    let id: Option<Uuid> = sqlx::query_scalar!(
        "insert into patients (org_id, person_name, email, password_hash, birthdate, sex)
         select $1, $2, $3, $4, $5, $6
          where not exists (select 1 from patients where lower(email) = lower($3)
                               and password_hash is not null and email_verified)
         on conflict do nothing returning id",
        org,
        &name,
        &email,
        hash,
        new.birthdate,
        new.sex,
    )
    .fetch_optional(&mut *tx)
    .await?;
    match id {
        Some(id) => {
            request_verification(&mut tx, Subject::Patient(id), meta).await?;
            AuditEntry::new(ActorType::Patient, Action::PatientSelfRegistered)
                .actor(Some(id), Some(email.clone()))
                .entity("patient", id)
                .org(Some(org))
                .request(meta)
                .record(&mut tx)
                .await?;
        }
        None => {
            registration_attempted(&mut tx, AccountKind::Patient, &email, Some(org), meta).await?
        }
    }
    tx.commit().await?;
    Ok(())
}

/// What accepting an invitation did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    pub user_id: Uuid,
    pub org_id: Uuid,
    pub org_role: String,
    /// Whether the account was created now.
    pub account_created: bool,
}

#[derive(sqlx::FromRow)]
struct InvitationRow {
    id: Uuid,
    org_id: Uuid,
    email: String,
    org_role: String,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

/// Accepts an invitation. An existing account with the invited address joins the organization; for
/// a new one, `name` and `password` create it (active: the invitation proved the address).
pub async fn accept_invitation(
    ctx: &Identity,
    token: &str,
    name: Option<&str>,
    password_given: Option<&str>,
    meta: &RequestMeta,
) -> Result<Accepted, AuthError> {
    let mut tx = ctx.db.begin().await?;
    let row: Option<InvitationRow> = sqlx::query_as!(
        InvitationRow,
        "select id, org_id, email, org_role, expires_at, used_at, revoked_at
           from org_invitations where token_hash = $1 for update",
        token_digest(token.trim())
    )
    .fetch_optional(&mut *tx)
    .await?;
    let inv = row.ok_or(AuthError::InvitationNotFound)?;
    if inv.revoked_at.is_some() {
        return Err(AuthError::InvitationRevoked);
    }
    if inv.used_at.is_some() {
        return Err(AuthError::InvitationUsed);
    }
    if inv.expires_at <= Utc::now() {
        return Err(AuthError::InvitationExpired);
    }
    let existing = accounts::by_email(&mut tx, accounts::AccountKind::Staff, &inv.email).await?;
    let (user_id, created) = match existing {
        Some(a) if a.status == "blocked" => return Err(AuthError::Blocked),
        Some(a) => (a.id, false),
        None => {
            let name = name
                .ok_or_else(|| AuthError::invalid("name", "is required to create the account"))?;
            let password_given = password_given.ok_or_else(|| {
                AuthError::invalid("password", "is required to create the account")
            })?;
            let id = create_staff(
                &mut tx,
                &NewStaff {
                    name,
                    email: &inv.email,
                    password: password_given,
                },
                "active",
                true,
            )
            .await?;
            (id, true)
        }
    };
    sqlx::query!(
        "insert into user_org_membership (org_id, user_id, org_role) values ($1, $2, $3)
         on conflict (org_id, user_id) do update set org_role = excluded.org_role",
        inv.org_id,
        user_id,
        &inv.org_role,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "update org_invitations set used_at = now(), used_by = $2 where id = $1",
        inv.id,
        user_id,
    )
    .execute(&mut *tx)
    .await?;
    AuditEntry::new(ActorType::User, Action::InvitationAccepted)
        .actor(Some(user_id), Some(inv.email.clone()))
        .entity("invitation", inv.id)
        .org(Some(inv.org_id))
        .request(meta)
        .details(json!({"org_role": inv.org_role, "account_created": created}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(Accepted {
        user_id,
        org_id: inv.org_id,
        org_role: inv.org_role,
        account_created: created,
    })
}
