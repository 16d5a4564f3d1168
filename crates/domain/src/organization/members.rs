//! Members of an organization: listed, re-roled and removed by its admins, always keeping one org_admin; joining is by invitation.

use super::*;
use hg_platform::cache::Cache;
use hg_platform::page::Keyed;
use serde_json::Value;
use sqlx::PgPool;

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

impl Keyed for Member {
    fn sort_key(&self, field: &str) -> Value {
        match field {
            "joined_at" => json!(self.joined_at),
            _ => json!(self.name),
        }
    }
    fn key_id(&self) -> Uuid {
        self.user_id
    }
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

const MEMBER_NOT_FOUND: RecordError =
    RecordError::NotFound("HG-MEMBER-NOT-FOUND", "no such member");

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
    let qb = base("u.id as user_id, u.name, u.email, u.status, m.org_role, m.joined_at");
    Ok(page
        .fetch_counted(conn, qb, base("count(*)"), "u.id")
        .await?)
}

pub(super) fn check_role(role: &str) -> Result<&'static str, RecordError> {
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

pub(super) fn require_admin(caller: &Caller, org: Uuid) -> Result<(), RecordError> {
    if caller.administers(org) {
        Ok(())
    } else {
        Err(RecordError::Forbidden(
            "only the organization's administrators can manage its members".into(),
        ))
    }
}

pub(super) async fn member(
    conn: &mut PgConnection,
    org: Uuid,
    user: Uuid,
) -> Result<Member, RecordError> {
    sqlx::query_as!(
        Member,
        "select u.id as user_id, u.name, u.email, u.status, m.org_role, m.joined_at from
             user_org_membership m join users u on u.id = m.user_id where m.org_id = $1 and
             m.user_id = $2",
        org,
        user,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(MEMBER_NOT_FOUND)
}

/// Asks someone to join an organization: never adds them at once. The person — given by e-mail,
/// or by the id of a user the caller can already see — gets an invitation to accept (see
/// [`invite`]); until they do, nothing about their account changes. The answer does not depend on
/// whether the address has an account.
pub async fn add_member(
    db: &PgPool,
    caller: &Caller,
    org: Uuid,
    user: Option<Uuid>,
    email: Option<&str>,
    role: &str,
) -> Result<Invitation, RecordError> {
    check_role(role)?;
    let email = match (user, email) {
        (Some(id), _) => {
            let mut conn = db.acquire().await?;
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
    invite(db, caller, org, &email, role, None).await
}

pub(super) async fn other_admins(
    conn: &mut PgConnection,
    org: Uuid,
    user: Uuid,
) -> Result<i64, RecordError> {
    Ok(sqlx::query_scalar!(
        "select count(*) as \"count!\" from user_org_membership where org_id = $1 and org_role = 'org_admin' and user_id <> $2",
        org,
        user,
    )
    .fetch_one(conn)
    .await?)
}

pub(super) fn last_admin() -> RecordError {
    RecordError::Conflict {
        id: "HG-LAST-ORG-ADMIN",
        field: None,
        message: "an organization must keep at least one org_admin".into(),
    }
}

/// Changes a member's role; the member's tokens are revoked so the change applies at once.
pub async fn set_member_role(
    db: &PgPool,
    cache: &dyn Cache,
    caller: &Caller,
    org: OrgId,
    user: UserId,
    role: &str,
) -> Result<Member, RecordError> {
    let org: Uuid = org.into();
    let user: Uuid = user.into();
    let role = check_role(role)?;
    let mut tx = db.begin().await?;
    get(&mut tx, caller, org).await?;
    require_admin(caller, org)?;
    // Serialize role changes of one organization, so two demotions cannot both pass the last-admin check.
    sqlx::query!("select id from organizations where id = $1 for update", org)
        .fetch_optional(&mut *tx)
        .await?;
    let current = member(&mut tx, org, user).await?;
    if current.org_role == OrgRole::OrgAdmin.code()
        && role != OrgRole::OrgAdmin.code()
        && other_admins(&mut tx, org, user).await? == 0
    {
        return Err(last_admin());
    }
    sqlx::query!(
        "update user_org_membership set org_role = $3 where org_id = $1 and user_id = $2",
        org,
        user,
        role,
    )
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
    revoke(cache, user).await?;
    Ok(m)
}

/// Removes a member from an organization (and from its care teams).
pub async fn remove_member(
    db: &PgPool,
    cache: &dyn Cache,
    caller: &Caller,
    org: OrgId,
    user: UserId,
) -> Result<(), RecordError> {
    let org: Uuid = org.into();
    let user: Uuid = user.into();
    let mut tx = db.begin().await?;
    get(&mut tx, caller, org).await?;
    require_admin(caller, org)?;
    sqlx::query!("select id from organizations where id = $1 for update", org)
        .fetch_optional(&mut *tx)
        .await?;
    let current = member(&mut tx, org, user).await?;
    if current.org_role == OrgRole::OrgAdmin.code() && other_admins(&mut tx, org, user).await? == 0
    {
        return Err(last_admin());
    }
    sqlx::query!(
        "delete from care_team_member where org_id = $1 and user_id = $2",
        org,
        user,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "delete from user_org_membership where org_id = $1 and user_id = $2",
        org,
        user,
    )
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
    revoke(cache, user).await
}

/// Revokes a user's current access tokens after a change of their rights, so it applies at their
/// next request (the new rights come with their next token).
pub async fn revoke(cache: &dyn Cache, user: Uuid) -> Result<(), RecordError> {
    auth::revoke_all_before_now(cache, user)
        .await
        .map_err(|_| RecordError::Unavailable)
}
