//! Organizations (tenants), their members, invitations and statistics (spec/02 "Organizations and
//! membership"). Superadmins create and archive organizations; org_admins rename their own and manage
//! members and invitations. An organization always keeps at least one org_admin.

use chrono::{DateTime, Utc};
use hg_platform::Platform;
use hg_platform::audit::Action;
use hg_platform::auth;
use hg_platform::auth::OrgRole;
use hg_platform::events::{NewEvent, enqueue};
use hg_platform::page::{Page, PageRequest, SortField, SqlType};
use serde::Serialize;
use serde_json::{Value, json};
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

fn sort_value(o: &Organization, field: &str) -> Value {
    match field {
        "name" => json!(o.name),
        "created_at" => json!(o.created_at),
        _ => json!(o.code),
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
    page.push_after(&mut qb, "o.id");
    page.push_order_limit(&mut qb, "o.id");
    let rows: Vec<Organization> = qb.build_query_as().fetch_all(&mut *conn).await?;
    let mut out = page.finish(rows, |o| (sort_value(o, page.sort.field.name), o.id));
    let mut count = QueryBuilder::new("select count(*) from organizations o where true");
    push_filters(&mut count, caller, f);
    out.total = Some(
        page.total(&out, count.build_query_scalar().fetch_one(conn))
            .await?,
    );
    Ok(out)
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
    platform: &Platform,
    caller: &Caller,
    new: NewOrganization<'_>,
) -> Result<Organization, RecordError> {
    caller.require(Permission::OrgsManage, None)?;
    let code = check_code(new.code)?;
    let name = check_name(new.name)?;
    let mut tx = platform.db.begin().await?;
    let org: Organization = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into organizations as o (code, name, allow_patient_registration) values ($1, $2, $3) returning {COLUMNS}"
    )))
    .bind(&code)
    .bind(&name)
    .bind(new.allow_patient_registration.unwrap_or(false))
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
    platform: &Platform,
    caller: &Caller,
    id: Uuid,
    patch: OrganizationPatch<'_>,
) -> Result<Organization, RecordError> {
    let mut tx = platform.db.begin().await?;
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
    let org: Organization = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update organizations o set name = coalesce($2, o.name),
                allow_patient_registration = coalesce($3, o.allow_patient_registration),
                logo_url = case when $4 then $5 else o.logo_url end
          where o.id = $1 returning {COLUMNS}"
    )))
    .bind(id)
    .bind(&name)
    .bind(patch.allow_patient_registration)
    .bind(logo.is_some())
    .bind(logo.clone().flatten())
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
pub async fn archive(platform: &Platform, caller: &Caller, id: Uuid) -> Result<(), RecordError> {
    let mut tx = platform.db.begin().await?;
    let current = get(&mut tx, caller, id).await?;
    caller.require(Permission::OrgsManage, None)?;
    if current.archived_at.is_none() {
        sqlx::query("update organizations set archived_at = now() where id = $1")
            .bind(id)
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
    Ok(sqlx::query_as(
        "select (select count(*) from user_org_membership where org_id = $1) as members,
                (select count(*) from patients where org_id = $1 and archived_at is null) as patients,
                (select count(*) from devices where org_id = $1 and archived_at is null) as devices,
                (select count(*) from alerts where org_id = $1 and status in ('created', 'notified', 'ack')) as open_alerts,
                (select count(*) from care_teams where org_id = $1 and archived_at is null) as care_teams,
                (select count(*) from org_invitations where org_id = $1 and used_at is null
                    and revoked_at is null and expires_at > now()) as pending_invitations",
    )
    .bind(id)
    .fetch_one(conn)
    .await?)
}

/// A member of an organization.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Member {
    pub user_id: Uuid,
    pub name: String,
    pub email: String,
    pub status: String,
    pub org_role: String,
    pub joined_at: DateTime<Utc>,
}

/// Sortable fields of member lists.
pub const MEMBER_SORTS: &[SortField] = &[
    SortField {
        name: "name",
        column: "u.name",
        ty: SqlType::Text,
    },
    SortField {
        name: "joined_at",
        column: "m.joined_at",
        ty: SqlType::Timestamp,
    },
];

/// Members of an organization (visible to its members, ops and superadmins).
pub async fn members(
    conn: &mut PgConnection,
    caller: &Caller,
    org: Uuid,
    role: Option<&str>,
    q: Option<&str>,
    page: &PageRequest,
) -> Result<Page<Member>, RecordError> {
    get(conn, caller, org).await?;
    caller.require(Permission::OrgsRead, Some(org))?;
    let base = |select: &str| {
        let mut qb = QueryBuilder::new(format!(
            "select {select} from user_org_membership m join users u on u.id = m.user_id where m.org_id = "
        ));
        qb.push_bind(org);
        if let Some(r) = role {
            qb.push(" and m.org_role = ").push_bind(r.to_owned());
        }
        if let Some(q) = q {
            let like = format!("%{}%", q.replace('%', "\\%").replace('_', "\\_"));
            qb.push(" and (u.name ilike ")
                .push_bind(like.clone())
                .push(" or u.email ilike ")
                .push_bind(like)
                .push(")");
        }
        qb
    };
    let mut qb = base("u.id as user_id, u.name, u.email, u.status, m.org_role, m.joined_at");
    page.push_after(&mut qb, "u.id");
    page.push_order_limit(&mut qb, "u.id");
    let rows: Vec<Member> = qb.build_query_as().fetch_all(&mut *conn).await?;
    let mut out = page.finish(rows, |m| {
        let v = if page.sort.field.name == "joined_at" {
            json!(m.joined_at)
        } else {
            json!(m.name)
        };
        (v, m.user_id)
    });
    let mut count = base("count(*)");
    out.total = Some(
        page.total(&out, count.build_query_scalar().fetch_one(conn))
            .await?,
    );
    Ok(out)
}

fn check_role(role: &str) -> Result<&'static str, RecordError> {
    ORG_ROLES
        .iter()
        .find(|r| r.eq_ignore_ascii_case(role.trim()))
        .copied()
        .ok_or_else(|| {
            RecordError::invalid(
                "org_role",
                format!("must be one of {}", ORG_ROLES.join(", ")),
            )
        })
}

fn require_admin(caller: &Caller, org: Uuid) -> Result<(), RecordError> {
    if caller.administers(org) {
        Ok(())
    } else {
        Err(RecordError::Forbidden(
            "only the organization's administrators can manage its members".into(),
        ))
    }
}

async fn member(conn: &mut PgConnection, org: Uuid, user: Uuid) -> Result<Member, RecordError> {
    sqlx::query_as(
        "select u.id as user_id, u.name, u.email, u.status, m.org_role, m.joined_at
           from user_org_membership m join users u on u.id = m.user_id where m.org_id = $1 and m.user_id = $2",
    )
    .bind(org)
    .bind(user)
    .fetch_optional(conn)
    .await?
    .ok_or(RecordError::NotFound("HG-MEMBER-NOT-FOUND", "no such member"))
}

/// Asks someone to join an organization: never adds them at once. The person — given by e-mail,
/// or by the id of a user the caller can already see — gets an invitation to accept (see
/// [`invite`]); until they do, nothing about their account changes. The answer does not depend on
/// whether the address has an account.
pub async fn add_member(
    platform: &Platform,
    caller: &Caller,
    org: Uuid,
    user: Option<Uuid>,
    email: Option<&str>,
    role: &str,
) -> Result<Invitation, RecordError> {
    check_role(role)?;
    let email = match (user, email) {
        (Some(id), _) => {
            let mut conn = platform.db.acquire().await?;
            get(&mut conn, caller, org).await?;
            require_admin(caller, org)?;
            crate::user::get(&mut conn, caller, id)
                .await
                .map_err(|e| match e {
                    RecordError::NotFound(..) => {
                        RecordError::invalid("user_id", "no such user; invite them by e-mail")
                    }
                    other => other,
                })?
                .email
        }
        (None, Some(e)) => e.to_owned(),
        (None, None) => return Err(RecordError::invalid("user_id", "give user_id or email")),
    };
    invite(platform, caller, org, &email, role, None).await
}

async fn other_admins(conn: &mut PgConnection, org: Uuid, user: Uuid) -> Result<i64, RecordError> {
    Ok(sqlx::query_scalar(
        "select count(*) from user_org_membership where org_id = $1 and org_role = 'org_admin' and user_id <> $2",
    )
    .bind(org)
    .bind(user)
    .fetch_one(conn)
    .await?)
}

fn last_admin() -> RecordError {
    RecordError::Conflict {
        id: "HG-LAST-ORG-ADMIN",
        field: None,
        message: "an organization must keep at least one org_admin".into(),
    }
}

/// Changes a member's role; the member's tokens are revoked so the change applies at once.
pub async fn set_member_role(
    platform: &Platform,
    caller: &Caller,
    org: OrgId,
    user: UserId,
    role: &str,
) -> Result<Member, RecordError> {
    let org: Uuid = org.into();
    let user: Uuid = user.into();
    let role = check_role(role)?;
    let mut tx = platform.db.begin().await?;
    get(&mut tx, caller, org).await?;
    require_admin(caller, org)?;
    // Serialize role changes of one organization, so two demotions cannot both pass the last-admin check.
    sqlx::query("select id from organizations where id = $1 for update")
        .bind(org)
        .execute(&mut *tx)
        .await?;
    let current = member(&mut tx, org, user).await?;
    if current.org_role == OrgRole::OrgAdmin.code()
        && role != OrgRole::OrgAdmin.code()
        && other_admins(&mut tx, org, user).await? == 0
    {
        return Err(last_admin());
    }
    sqlx::query("update user_org_membership set org_role = $3 where org_id = $1 and user_id = $2")
        .bind(org)
        .bind(user)
        .bind(role)
        .execute(&mut *tx)
        .await?;
    caller
        .audit(Action::MemberRoleChange)
        .entity("user", user)
        .org(org)
        .details(json!({"from": current.org_role, "to": role}))
        .record(&mut tx)
        .await?;
    let m = member(&mut tx, org, user).await?;
    tx.commit().await?;
    revoke(platform, user).await?;
    Ok(m)
}

/// Removes a member from an organization (and from its care teams).
pub async fn remove_member(
    platform: &Platform,
    caller: &Caller,
    org: OrgId,
    user: UserId,
) -> Result<(), RecordError> {
    let org: Uuid = org.into();
    let user: Uuid = user.into();
    let mut tx = platform.db.begin().await?;
    get(&mut tx, caller, org).await?;
    require_admin(caller, org)?;
    sqlx::query("select id from organizations where id = $1 for update")
        .bind(org)
        .execute(&mut *tx)
        .await?;
    let current = member(&mut tx, org, user).await?;
    if current.org_role == OrgRole::OrgAdmin.code() && other_admins(&mut tx, org, user).await? == 0
    {
        return Err(last_admin());
    }
    sqlx::query("delete from care_team_member where org_id = $1 and user_id = $2")
        .bind(org)
        .bind(user)
        .execute(&mut *tx)
        .await?;
    sqlx::query("delete from user_org_membership where org_id = $1 and user_id = $2")
        .bind(org)
        .bind(user)
        .execute(&mut *tx)
        .await?;
    caller
        .audit(Action::MemberRemove)
        .entity("user", user)
        .org(org)
        .details(json!({"org_role": current.org_role}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    revoke(platform, user).await
}

/// Revokes a user's current access tokens after a change of their rights, so it applies at their
/// next request (the new rights come with their next token).
pub async fn revoke(platform: &Platform, user: Uuid) -> Result<(), RecordError> {
    auth::revoke_all_before_now(platform.cache.as_ref(), user)
        .await
        .map_err(|_| RecordError::Unavailable)
}

/// An invitation with its derived status (revoked › used › expired › pending).
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Invitation {
    pub id: Uuid,
    pub org_id: Uuid,
    pub email: String,
    pub org_role: String,
    pub status: String,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

const INVITATION_COLUMNS: &str = "i.id, i.org_id, i.email, i.org_role,
    case when i.revoked_at is not null then 'revoked' when i.used_at is not null then 'used'
         when i.expires_at <= now() then 'expired' else 'pending' end as status,
    i.expires_at, i.used_at, i.revoked_at, i.created_by, i.created_at";

/// Sortable fields of invitation lists.
pub const INVITATION_SORTS: &[SortField] = &[
    SortField {
        name: "created_at",
        column: "i.created_at",
        ty: SqlType::Timestamp,
    },
    SortField {
        name: "email",
        column: "i.email",
        ty: SqlType::Text,
    },
];

/// Invites `email` to `org` with `role`, valid `ttl_hours` (1–720). The invitation link goes only
/// to `email`: the `user.invited` event names the invitation, and its one-time token is made where
/// the e-mail is sent (`identity::mail`), so no one else — the inviting admin included — can accept
/// it. The answer is the same whether the address has an account or not.
pub async fn invite(
    platform: &Platform,
    caller: &Caller,
    org: Uuid,
    email: &str,
    role: &str,
    ttl_hours: Option<i64>,
) -> Result<Invitation, RecordError> {
    let email = normalize_email(email).map_err(|p| RecordError::invalid("email", p))?;
    let role = check_role(role)?;
    let ttl = ttl_hours.unwrap_or(72);
    if !(1..=720).contains(&ttl) {
        return Err(RecordError::invalid("ttl_hours", "must be from 1 to 720"));
    }
    let mut tx = platform.db.begin().await?;
    get(&mut tx, caller, org).await?;
    require_admin(caller, org)?;
    // Someone already in this organization is not invited again (this organization's own fact).
    let member: bool = sqlx::query_scalar(
        "select exists (select 1 from user_org_membership m join users u on u.id = m.user_id
                         where m.org_id = $1 and lower(u.email) = lower($2))",
    )
    .bind(org)
    .bind(&email)
    .fetch_one(&mut *tx)
    .await?;
    if member {
        return Err(RecordError::Conflict {
            id: "HG-ALREADY-MEMBER",
            field: Some("email"),
            message: "this address is already a member of the organization".into(),
        });
    }
    let invitation: Invitation = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into org_invitations as i (org_id, email, org_role, expires_at, created_by)
         values ($1, $2, $3, now() + make_interval(hours => $4::int), $5) returning {INVITATION_COLUMNS}"
    )))
    .bind(org)
    .bind(&email)
    .bind(role)
    .bind(ttl as i32)
    .bind(caller.id())
    .fetch_one(&mut *tx)
    .await?;
    enqueue(
        &mut tx,
        NewEvent {
            event_type: crate::identity::mail::INVITED.into(),
            aggregate: "invitation".into(),
            aggregate_id: Some(invitation.id),
            org_id: Some(org),
            actor: Some(json!({"type": "user", "id": caller.id()})),
            request_id: caller.meta.request_id.clone(),
            data: json!({"invitation_id": invitation.id}),
        },
    )
    .await?;
    caller
        .audit(Action::InvitationCreate)
        .entity("invitation", invitation.id)
        .org(org)
        .details(json!({"email": email, "org_role": role, "ttl_hours": ttl}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(invitation)
}

/// Invitations of an organization, optionally of one derived status.
pub async fn invitations(
    conn: &mut PgConnection,
    caller: &Caller,
    org: Uuid,
    status: Option<&str>,
    page: &PageRequest,
) -> Result<Page<Invitation>, RecordError> {
    get(conn, caller, org).await?;
    require_admin(caller, org)?;
    let base = |select: &str| {
        let mut qb = QueryBuilder::new(format!(
            "select * from (select {select} from org_invitations i where i.org_id = "
        ));
        qb.push_bind(org).push(") i where true");
        if let Some(s) = status {
            qb.push(" and i.status = ").push_bind(s.to_owned());
        }
        qb
    };
    let mut qb = base(INVITATION_COLUMNS);
    page.push_after(&mut qb, "i.id");
    page.push_order_limit(&mut qb, "i.id");
    let rows: Vec<Invitation> = qb.build_query_as().fetch_all(&mut *conn).await?;
    let mut out = page.finish(rows, |i| {
        let v = if page.sort.field.name == "email" {
            json!(i.email)
        } else {
            json!(i.created_at)
        };
        (v, i.id)
    });
    let mut count = QueryBuilder::new(format!(
        "select count(*) from (select {INVITATION_COLUMNS} from org_invitations i where i.org_id = "
    ));
    count.push_bind(org).push(") i where true");
    if let Some(s) = status {
        count.push(" and i.status = ").push_bind(s.to_owned());
    }
    out.total = Some(
        page.total(&out, count.build_query_scalar().fetch_one(conn))
            .await?,
    );
    Ok(out)
}

/// Revokes a pending invitation.
pub async fn revoke_invitation(
    platform: &Platform,
    caller: &Caller,
    org: OrgId,
    id: InvitationId,
) -> Result<Invitation, RecordError> {
    let org: Uuid = org.into();
    let id: Uuid = id.into();
    let mut tx = platform.db.begin().await?;
    get(&mut tx, caller, org).await?;
    require_admin(caller, org)?;
    let current: Invitation = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {INVITATION_COLUMNS} from org_invitations i where i.id = $1 and i.org_id = $2 for update"
    )))
    .bind(id)
    .bind(org)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(RecordError::NotFound("HG-INVITATION-NOT-FOUND", "no such invitation"))?;
    if current.status == "used" {
        return Err(RecordError::Conflict {
            id: "HG-INVITATION-USED",
            field: None,
            message: "the invitation was already accepted".into(),
        });
    }
    if current.status == "revoked" {
        tx.commit().await?;
        return Ok(current);
    }
    let updated: Invitation = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update org_invitations i set revoked_at = now() where i.id = $1 returning {INVITATION_COLUMNS}"
    )))
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    caller
        .audit(Action::InvitationRevoke)
        .entity("invitation", id)
        .org(org)
        .details(json!({"email": current.email}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(updated)
}
