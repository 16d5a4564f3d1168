//! Organizations (tenants), their members, invitations and statistics (spec/02 "Organizations and
//! membership"). Superadmins create and archive organizations; org_admins rename their own and manage
//! members and invitations. An organization always keeps at least one org_admin.

use chrono::{DateTime, Utc};
use hg_platform::audit::Action;
use hg_platform::auth;
use hg_platform::auth::OrgRole;
use hg_platform::events::{NewEvent, enqueue};
use hg_platform::page::Keyed;
use hg_platform::page::{Page, PageRequest, SortField, SqlType};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::catalog::Permission;
use crate::identity::normalize_email;
use crate::ids::{InvitationId, OrgId, UserId};
use crate::records::{Caller, RecordError, optional_text, required_text};

const NOT_FOUND: RecordError = RecordError::NotFound("HG-ORG-NOT-FOUND", "no such organization");

/// Org roles (catalog `org_roles`).
pub const ORG_ROLES: &[&str] = OrgRole::CODES;

/// An organization as the API shows it.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Organization {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub allow_patient_registration: bool,
    pub logo_url: Option<String>,
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "o.id, o.code, o.name, o.allow_patient_registration, o.logo_url, o.archived_at, o.created_at, o.updated_at";

/// Sortable fields of the organization list.
pub const SORTS: &[SortField] = &[
    SortField {
        name: "code",
        column: "o.code",
        ty: SqlType::Text,
    },
    SortField {
        name: "name",
        column: "o.name",
        ty: SqlType::Text,
    },
    SortField {
        name: "created_at",
        column: "o.created_at",
        ty: SqlType::Timestamp,
    },
];

/// Filters of the organization list.
#[derive(Default)]
pub struct Filters {
    /// Text search in code and name.
    pub q: Option<String>,
    /// Include archived organizations (superadmin only).
    pub archived: bool,
}

fn push_filters(qb: &mut QueryBuilder<Postgres>, caller: &Caller, f: &Filters) {
    if !(f.archived && caller.is_superadmin()) {
        qb.push(" and o.archived_at is null");
    }
    caller.scope.push_organization_filter(qb, "o");
    if let Some(q) = &f.q {
        let like = format!(
            "%{}%",
            q.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        qb.push(" and (o.code ilike ")
            .push_bind(like.clone())
            .push(" or o.name ilike ")
            .push_bind(like)
            .push(")");
    }
}

impl Keyed for Organization {
    fn sort_key(&self, field: &str) -> Value {
        match field {
            "name" => json!(self.name),
            "created_at" => json!(self.created_at),
            _ => json!(self.code),
        }
    }
    fn key_id(&self) -> Uuid {
        self.id
    }
}

/// The organizations the caller can see.
pub async fn list(
    conn: &mut PgConnection,
    caller: &Caller,
    f: &Filters,
    page: &PageRequest,
) -> Result<Page<Organization>, RecordError> {
    let mut qb = QueryBuilder::new(format!("select {COLUMNS} from organizations o where true"));
    push_filters(&mut qb, caller, f);
    let mut count = QueryBuilder::new("select count(*) from organizations o where true");
    push_filters(&mut count, caller, f);
    Ok(page.fetch_counted(conn, qb, count, "o.id").await?)
}

/// One organization the caller can see.
pub async fn get(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<Organization, RecordError> {
    let mut qb = QueryBuilder::new(format!(
        "select {COLUMNS} from organizations o where o.id = "
    ));
    qb.push_bind(id);
    caller.scope.push_organization_filter(&mut qb, "o");
    qb.build_query_as()
        .fetch_optional(conn)
        .await?
        .ok_or(NOT_FOUND)
}

/// A new organization.
pub struct NewOrganization<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub allow_patient_registration: Option<bool>,
}

fn check_code(code: &str) -> Result<String, RecordError> {
    let code = code.trim().to_uppercase();
    let ok = (2..=60).contains(&code.len())
        && code
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(code)
    } else {
        Err(RecordError::invalid(
            "code",
            "must be 2-60 characters: letters, digits, - and _",
        ))
    }
}

fn check_name(name: &str) -> Result<String, RecordError> {
    let name = required_text("name", name, 160)?;
    if name.chars().count() < 3 {
        return Err(RecordError::invalid(
            "name",
            "must have at least 3 characters",
        ));
    }
    Ok(name)
}

fn check_url(field: &str, url: Option<&str>) -> Result<Option<String>, RecordError> {
    let Some(raw) = optional_text(field, url, 2048)? else {
        return Ok(None);
    };
    match url::Url::parse(&raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(Some(raw)),
        _ => Err(RecordError::invalid(field, "must be an http(s) URL")),
    }
}

/// Creates an organization (superadmin).
pub async fn create(
    db: &PgPool,
    caller: &Caller,
    new: NewOrganization<'_>,
) -> Result<Organization, RecordError> {
    caller.require(Permission::OrgsManage, None)?;
    let code = check_code(new.code)?;
    let name = check_name(new.name)?;
    let mut tx = db.begin().await?;
    let org: Organization = sqlx::query_as!(
        Organization,
        "insert into organizations as o (code, name, allow_patient_registration) values ($1,
             $2, $3) returning o.id, o.code, o.name, o.allow_patient_registration, o.logo_url,
             o.archived_at, o.created_at, o.updated_at",
        &code,
        &name,
        new.allow_patient_registration.unwrap_or(false),
    )
    .fetch_one(&mut *tx)
    .await?;
    caller
        .audit(Action::OrgCreate)
        .entity("organization", org.id)
        .org(org.id)
        .details(json!({"code": code, "name": name}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(org)
}

/// Changes to an organization.
#[derive(Default)]
pub struct OrganizationPatch<'a> {
    pub name: Option<&'a str>,
    pub allow_patient_registration: Option<bool>,
    pub logo_url: Option<Option<&'a str>>,
}

/// Renames or edits an organization (its org_admins and superadmins).
pub async fn update(
    db: &PgPool,
    caller: &Caller,
    id: Uuid,
    patch: OrganizationPatch<'_>,
) -> Result<Organization, RecordError> {
    let mut tx = db.begin().await?;
    let current = get(&mut tx, caller, id).await?;
    if !caller.administers(id) {
        return Err(RecordError::Forbidden(
            "only the organization's administrators can change it".into(),
        ));
    }
    if current.archived_at.is_some() {
        return Err(RecordError::Unprocessable {
            id: "HG-ORG-ARCHIVED",
            message: "the organization is archived".into(),
        });
    }
    let name = patch.name.map(check_name).transpose()?;
    let logo = match patch.logo_url {
        Some(v) => Some(check_url("logo_url", v)?),
        None => None,
    };
    let org: Organization = sqlx::query_as!(
        Organization,
        "update organizations o set name = coalesce($2, o.name),
                allow_patient_registration = coalesce($3, o.allow_patient_registration),
                logo_url = case when $4 then $5 else o.logo_url end
          where o.id = $1
         returning o.id, o.code, o.name, o.allow_patient_registration, o.logo_url, o.archived_at,
                   o.created_at, o.updated_at",
        id,
        name.as_deref(),
        patch.allow_patient_registration,
        logo.is_some(),
        logo.clone().flatten()
    )
    .fetch_one(&mut *tx)
    .await?;
    caller
        .audit(Action::OrgUpdate)
            .entity("organization", id)
            .org(id)
            .details(json!({"name": name, "allow_patient_registration": patch.allow_patient_registration, "logo_url": logo}))
            .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(org)
}

/// Archives an organization (superadmin): it disappears from lists, its history stays.
pub async fn archive(db: &PgPool, caller: &Caller, id: Uuid) -> Result<(), RecordError> {
    let mut tx = db.begin().await?;
    let current = get(&mut tx, caller, id).await?;
    caller.require(Permission::OrgsManage, None)?;
    if current.archived_at.is_none() {
        sqlx::query!(
            "update organizations set archived_at = now() where id = $1",
            id,
        )
        .execute(&mut *tx)
        .await?;
        caller
            .audit(Action::OrgArchive)
            .entity("organization", id)
            .org(id)
            .record(&mut tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Counts shown on an organization's page.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Stats {
    pub members: i64,
    pub patients: i64,
    pub devices: i64,
    pub open_alerts: i64,
    pub care_teams: i64,
    pub pending_invitations: i64,
}

/// Statistics of an organization (its members, ops and superadmins).
pub async fn stats(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<Stats, RecordError> {
    get(conn, caller, id).await?;
    caller.require(Permission::OrgsRead, Some(id))?;
    Ok(sqlx::query_as!(
        Stats,
        r#"select (select count(*) from user_org_membership where org_id = $1) as "members!",
                  (select count(*) from patients where org_id = $1 and archived_at is null)
                      as "patients!",
                  (select count(*) from devices where org_id = $1 and archived_at is null)
                      as "devices!",
                  (select count(*) from alerts
                    where org_id = $1 and status in ('created', 'notified', 'ack')) as "open_alerts!",
                  (select count(*) from care_teams where org_id = $1 and archived_at is null)
                      as "care_teams!",
                  (select count(*) from org_invitations
                    where org_id = $1 and used_at is null and revoked_at is null
                      and expires_at > now()) as "pending_invitations!""#,
        id
    )
    .fetch_one(conn)
    .await?)
}

mod invitations;
mod members;

pub use invitations::*;
pub use members::*;
