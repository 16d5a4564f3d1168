//! Staff users: the listing superadmins and org_admins work with, profiles, account status and global
//! roles (spec/03 "user"). Superadmins see and manage everyone; an org_admin sees the members of the
//! organizations they administer; everyone sees and edits their own profile. Blocking a user or
//! changing their roles ends their sessions at once; the last active superadmin cannot be blocked
//! or lose the role.

use chrono::{DateTime, Utc};
use hg_platform::audit::Action;
use hg_platform::auth::{OrgRole, Role};
use hg_platform::cache::Cache;
use hg_platform::page::Keyed;
use hg_platform::page::{Page, PageRequest, SortField, SqlType};
use serde::Serialize;
use serde_json::Value;
use serde_json::json;
use sqlx::PgPool;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::identity::accounts::{self, OrgMembership};
use crate::identity::sessions::{self, Subject};
use crate::organization;
use crate::records::{Caller, RecordError, optional_text, required_text};

const NOT_FOUND: RecordError = RecordError::NotFound("HG-USER-NOT-FOUND", "no such user");

/// Account statuses (catalog `user_statuses`).
pub const STATUSES: &[&str] = &["active", "pending", "blocked"];
/// Global roles.
pub const ROLES: &[&str] = Role::CODES;
/// Supported interface languages.
pub const LOCALES: &[&str] = &["es-MX", "en"];

/// A user as lists and detail pages show them. An org_admin looking at someone else sees only
/// what concerns their organizations: global roles, two-factor status and last login are left out
/// (absent from the answer), as are memberships elsewhere (see [`memberships`]).
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct User {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    pub email_verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totp_enabled: Option<bool>,
    pub locale: Option<String>,
    pub profile_photo_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Keyed for User {
    fn sort_key(&self, field: &str) -> Value {
        match field {
            "email" => json!(self.email.to_lowercase()),
            "created_at" => json!(self.created_at),
            _ => json!(self.name),
        }
    }
    fn key_id(&self) -> Uuid {
        self.id
    }
}

const COLUMNS: &str = "u.id, u.name, u.email, u.status,
    coalesce((select array_agg(r.name order by r.name) from user_role ur join roles r on r.id = ur.role_id
              where ur.user_id = u.id), '{}') as roles,
    u.email_verified_at is not null as email_verified, u.totp_enabled, u.locale, u.profile_photo_url,
    u.last_login_at, u.created_at, u.updated_at";

/// Sortable fields of the user list.
pub const SORTS: &[SortField] = &[
    SortField {
        name: "name",
        column: "u.name",
        ty: SqlType::Text,
    },
    SortField {
        name: "email",
        column: "lower(u.email)",
        ty: SqlType::Text,
    },
    SortField {
        name: "created_at",
        column: "u.created_at",
        ty: SqlType::Timestamp,
    },
];

/// Filters of the user list.
#[derive(Default)]
pub struct Filters {
    pub org: Option<Uuid>,
    pub status: Option<&'static str>,
    pub role: Option<&'static str>,
    pub q: Option<String>,
}

/// Organizations the caller administers (all for a superadmin: `None`).
fn administered(caller: &Caller) -> Option<Vec<Uuid>> {
    if caller.is_superadmin() {
        return None;
    }
    Some(
        caller
            .principal
            .claims
            .orgs
            .iter()
            .filter(|(_, r)| *r == OrgRole::OrgAdmin.code())
            .map(|(o, _)| *o)
            .collect(),
    )
}

/// Leaves out of `user` what is not the caller's business: account-wide facts of someone else, for
/// anyone but a superadmin.
fn redact(mut user: User, caller: &Caller) -> User {
    if !(caller.is_superadmin() || user.id == caller.id()) {
        user.roles = None;
        user.totp_enabled = None;
        user.last_login_at = None;
    }
    user
}

/// Restricts to users the caller may manage: everyone (superadmin) or members of the
/// organizations they administer, plus themself.
fn push_scope(qb: &mut QueryBuilder<Postgres>, caller: &Caller) {
    if let Some(orgs) = administered(caller) {
        qb.push(" and (u.id = ")
            .push_bind(caller.id())
            .push(" or exists (select 1 from user_org_membership sm where sm.user_id = u.id and sm.org_id = any(")
            .push_bind(orgs)
            .push(")))");
    }
}

fn push_filters(qb: &mut QueryBuilder<Postgres>, caller: &Caller, f: &Filters) {
    push_scope(qb, caller);
    if let Some(org) = f.org {
        // Another organization's membership is not an org_admin's business: no answer tells it.
        if administered(caller).is_some_and(|orgs| !orgs.contains(&org)) {
            qb.push(" and false");
        }
        qb.push(" and exists (select 1 from user_org_membership fm where fm.user_id = u.id and fm.org_id = ")
            .push_bind(org)
            .push(")");
    }
    if let Some(s) = f.status {
        qb.push(" and u.status = ").push_bind(s);
    }
    if let Some(r) = f.role {
        qb.push(" and exists (select 1 from user_role fr join roles rr on rr.id = fr.role_id where fr.user_id = u.id and rr.name = ")
            .push_bind(r)
            .push(")");
    }
    if let Some(q) = &f.q {
        let like = format!(
            "%{}%",
            q.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        qb.push(" and (u.name ilike ")
            .push_bind(like.clone())
            .push(" or u.email ilike ")
            .push_bind(like)
            .push(")");
    }
}

fn may_filter(caller: &Caller, f: &Filters) -> Result<(), RecordError> {
    if f.role.is_some() && !caller.is_superadmin() {
        return Err(RecordError::Forbidden(
            "filtering by global role is for superadmins".into(),
        ));
    }
    Ok(())
}

fn may_list(caller: &Caller) -> Result<(), RecordError> {
    if caller.principal.kind() == hg_platform::auth::PrincipalKind::User
        && (caller.is_superadmin() || administered(caller).is_some_and(|o| !o.is_empty()))
    {
        Ok(())
    } else {
        Err(RecordError::Forbidden(
            "listing users is for superadmins and organization administrators".into(),
        ))
    }
}

/// Users the caller may see.
pub async fn list(
    conn: &mut PgConnection,
    caller: &Caller,
    f: &Filters,
    page: &PageRequest,
) -> Result<Page<User>, RecordError> {
    may_list(caller)?;
    may_filter(caller, f)?;
    let mut qb = QueryBuilder::new(format!("select {COLUMNS} from users u where true"));
    push_filters(&mut qb, caller, f);
    let mut out: Page<User> = page.fetch(&mut *conn, qb, "u.id").await?;
    out.items = out.items.into_iter().map(|u| redact(u, caller)).collect();
    out.total = Some(page.total(&out, count(conn, caller, f)).await?);
    Ok(out)
}

/// How many users the caller may see (the `/users/count` compatibility route).
pub async fn count(
    conn: &mut PgConnection,
    caller: &Caller,
    f: &Filters,
) -> Result<i64, RecordError> {
    may_list(caller)?;
    may_filter(caller, f)?;
    let mut qb = QueryBuilder::new("select count(*) from users u where true");
    push_filters(&mut qb, caller, f);
    Ok(qb.build_query_scalar().fetch_one(conn).await?)
}

/// One user the caller may see, as they may see them.
pub async fn get(conn: &mut PgConnection, caller: &Caller, id: Uuid) -> Result<User, RecordError> {
    full(conn, caller, id).await.map(|u| redact(u, caller))
}

/// One user the caller may see, every field (for the rules of this module).
async fn full(conn: &mut PgConnection, caller: &Caller, id: Uuid) -> Result<User, RecordError> {
    if caller.principal.kind() != hg_platform::auth::PrincipalKind::User {
        return Err(NOT_FOUND);
    }
    let mut qb = QueryBuilder::new(format!("select {COLUMNS} from users u where u.id = "));
    qb.push_bind(id);
    push_scope(&mut qb, caller);
    qb.build_query_as()
        .fetch_optional(conn)
        .await?
        .ok_or(NOT_FOUND)
}

/// Memberships of a user the caller may see: all of them for the user and superadmins, those in
/// the organizations an org_admin administers for them.
pub async fn memberships(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<Vec<OrgMembership>, RecordError> {
    get(conn, caller, id).await?;
    let all = accounts::memberships(conn, id).await?;
    Ok(match administered(caller) {
        Some(orgs) if id != caller.id() => {
            all.into_iter().filter(|m| orgs.contains(&m.id)).collect()
        }
        _ => all,
    })
}

/// Profile changes.
#[derive(Default)]
pub struct ProfilePatch<'a> {
    pub name: Option<&'a str>,
    pub locale: Option<Option<&'a str>>,
    pub profile_photo_url: Option<Option<&'a str>>,
}

/// Edits a profile: the user themself or a superadmin.
pub async fn update_profile(
    db: &PgPool,
    caller: &Caller,
    id: Uuid,
    patch: ProfilePatch<'_>,
) -> Result<User, RecordError> {
    let mut tx = db.begin().await?;
    get(&mut tx, caller, id).await?;
    if id != caller.id() && !caller.is_superadmin() {
        return Err(RecordError::Forbidden(
            "only the user or a superadmin can edit a profile".into(),
        ));
    }
    let name = patch
        .name
        .map(|n| required_text("name", n, 160))
        .transpose()?;
    let locale = match patch.locale {
        Some(Some(l)) => Some(Some(
            LOCALES
                .iter()
                .find(|x| x.eq_ignore_ascii_case(l.trim()))
                .copied()
                .ok_or_else(|| {
                    RecordError::invalid("locale", format!("must be one of {}", LOCALES.join(", ")))
                })?
                .to_owned(),
        )),
        Some(None) => Some(None),
        None => None,
    };
    let photo = match patch.profile_photo_url {
        Some(v) => {
            let v = optional_text("profile_photo_url", v, 2048)?;
            if let Some(u) = &v
                && !(u.starts_with("https://")
                    || u.starts_with("http://")
                    || u.starts_with("/media/"))
            {
                return Err(RecordError::invalid(
                    "profile_photo_url",
                    "must be an http(s) URL or a /media/ path",
                ));
            }
            Some(v)
        }
        None => None,
    };
    sqlx::query!(
        "update users set name = coalesce($2, name),
                locale = case when $3 then $4 else locale end,
                profile_photo_url = case when $5 then $6 else profile_photo_url end
          where id = $1",
        id,
        name.as_deref(),
        locale.is_some(),
        locale.clone().flatten(),
        photo.is_some(),
        photo.clone().flatten(),
    )
    .execute(&mut *tx)
    .await?;
    caller
        .audit(Action::UserUpdate)
        .entity("user", id)
        .details(json!({"name": name, "locale": locale, "profile_photo_url": photo}))
        .record(&mut tx)
        .await?;
    let user = get(&mut tx, caller, id).await?;
    tx.commit().await?;
    Ok(user)
}

async fn other_active_superadmins(conn: &mut PgConnection, id: Uuid) -> Result<i64, RecordError> {
    Ok(sqlx::query_scalar!(
        "select count(*) as \"count!\" from users u join user_role ur on ur.user_id = u.id join roles r on r.id = ur.role_id
          where r.name = 'superadmin' and u.status = 'active' and u.id <> $1",
        id,
    )
    .fetch_one(conn)
    .await?)
}

fn last_superadmin() -> RecordError {
    RecordError::Conflict {
        id: "HG-LAST-SUPERADMIN",
        field: None,
        message: "the installation must keep at least one active superadmin".into(),
    }
}

async fn lock_superadmins(conn: &mut PgConnection) -> Result<(), RecordError> {
    // One change to superadmins at a time, so two cannot both pass the last-superadmin check.
    sqlx::query!("select pg_advisory_xact_lock(72160002)")
        .execute(conn)
        .await?;
    Ok(())
}

fn require_superadmin(caller: &Caller) -> Result<(), RecordError> {
    if caller.is_superadmin() {
        Ok(())
    } else {
        Err(RecordError::Forbidden(
            "only superadmins can do this".into(),
        ))
    }
}

/// Sets a user's account status (superadmin). Blocking ends the user's sessions at once.
pub async fn set_status(
    db: &PgPool,
    cache: &dyn Cache,
    caller: &Caller,
    id: Uuid,
    status: &str,
) -> Result<User, RecordError> {
    let status = STATUSES
        .iter()
        .find(|s| s.eq_ignore_ascii_case(status.trim()))
        .copied()
        .ok_or_else(|| {
            RecordError::invalid("status", format!("must be one of {}", STATUSES.join(", ")))
        })?;
    let mut tx = db.begin().await?;
    let current = full(&mut tx, caller, id).await?;
    require_superadmin(caller)?;
    lock_superadmins(&mut tx).await?;
    if status != "active"
        && current
            .roles
            .iter()
            .flatten()
            .any(|r| r == Role::Superadmin.code())
        && other_active_superadmins(&mut tx, id).await? == 0
    {
        return Err(last_superadmin());
    }
    sqlx::query!("update users set status = $2 where id = $1", id, status)
        .execute(&mut *tx)
        .await?;
    if status == "blocked" {
        sessions::revoke_all(&mut tx, cache, Subject::Staff(id), None, "blocked")
            .await
            .map_err(|_| RecordError::Unavailable)?;
    }
    caller
        .audit(Action::UserStatusChange)
        .entity("user", id)
        .details(json!({"from": current.status, "to": status}))
        .record(&mut tx)
        .await?;
    let user = get(&mut tx, caller, id).await?;
    tx.commit().await?;
    organization::revoke(cache, id).await?;
    Ok(user)
}

/// Replaces a user's global roles (superadmin). The user's tokens are revoked so the change applies
/// at their next request.
pub async fn set_roles(
    db: &PgPool,
    cache: &dyn Cache,
    caller: &Caller,
    id: Uuid,
    roles: &[String],
) -> Result<User, RecordError> {
    let mut wanted: Vec<&'static str> = Vec::new();
    for r in roles {
        let role = ROLES
            .iter()
            .find(|x| x.eq_ignore_ascii_case(r.trim()))
            .copied()
            .ok_or_else(|| {
                RecordError::invalid("roles", format!("`{r}` is not one of {}", ROLES.join(", ")))
            })?;
        if !wanted.contains(&role) {
            wanted.push(role);
        }
    }
    let mut tx = db.begin().await?;
    let current = full(&mut tx, caller, id).await?;
    require_superadmin(caller)?;
    lock_superadmins(&mut tx).await?;
    if current
        .roles
        .iter()
        .flatten()
        .any(|r| r == Role::Superadmin.code())
        && !wanted.contains(&Role::Superadmin.code())
        && other_active_superadmins(&mut tx, id).await? == 0
    {
        return Err(last_superadmin());
    }
    sqlx::query!("delete from user_role where user_id = $1", id)
        .execute(&mut *tx)
        .await?;
    sqlx::query!(
        "insert into user_role (user_id, role_id, granted_by) select $1, id, $3 from roles where name = any($2)",
        id,
        &wanted.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        caller.id(),
    )
    .execute(&mut *tx)
    .await?;
    caller
        .audit(Action::RoleChange)
        .entity("user", id)
        .details(json!({"from": current.roles, "to": wanted}))
        .record(&mut tx)
        .await?;
    let user = get(&mut tx, caller, id).await?;
    tx.commit().await?;
    organization::revoke(cache, id).await?;
    Ok(user)
}
