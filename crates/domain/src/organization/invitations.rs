//! Invitations: created by an organization's admins, mailed only to the invited address, accepted by the invitee.

use super::*;
use hg_platform::page::Keyed;
use serde_json::Value;
use sqlx::PgPool;

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

impl Keyed for Invitation {
    fn sort_key(&self, field: &str) -> Value {
        match field {
            "email" => json!(self.email),
            _ => json!(self.created_at),
        }
    }
    fn key_id(&self) -> Uuid {
        self.id
    }
}

pub(super) const INVITATION_COLUMNS: &str = "i.id, i.org_id, i.email, i.org_role,
    case when i.revoked_at is not null then 'revoked' when i.used_at is not null then 'used'
         when i.expires_at <= now() then 'expired' else 'pending' end as status,
    i.expires_at, i.used_at, i.revoked_at, i.created_by, i.created_at";

const NOT_FOUND: RecordError =
    RecordError::NotFound("HG-INVITATION-NOT-FOUND", "no such invitation");

/// One invitation of `org` with its derived status.
async fn load(conn: &mut PgConnection, id: Uuid, org: Uuid) -> Result<Invitation, RecordError> {
    sqlx::query_as!(
        Invitation,
        r#"select i.id, i.org_id, i.email, i.org_role,
                  case when i.revoked_at is not null then 'revoked'
                       when i.used_at is not null then 'used'
                       when i.expires_at <= now() then 'expired'
                       else 'pending' end as "status!",
                  i.expires_at, i.used_at, i.revoked_at, i.created_by, i.created_at
             from org_invitations i where i.id = $1 and i.org_id = $2"#,
        id,
        org
    )
    .fetch_optional(conn)
    .await?
    .ok_or(NOT_FOUND)
}

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
    db: &PgPool,
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
    let mut tx = db.begin().await?;
    get(&mut tx, caller, org).await?;
    require_admin(caller, org)?;
    // Someone already in this organization is not invited again (this organization's own fact).
    let member: bool = sqlx::query_scalar!(
        "select exists (select 1 from user_org_membership m join users u on u.id = m.user_id
                         where m.org_id = $1 and lower(u.email) = lower($2)) as \"exists!\"",
        org,
        &email,
    )
    .fetch_one(&mut *tx)
    .await?;
    if member {
        return Err(RecordError::Conflict {
            id: "HG-ALREADY-MEMBER",
            field: Some("email"),
            message: "this address is already a member of the organization".into(),
        });
    }
    let created = sqlx::query_scalar!(
        "insert into org_invitations (org_id, email, org_role, expires_at, created_by)
         values ($1, $2, $3, now() + make_interval(hours => $4::int), $5) returning id",
        org,
        &email,
        role,
        ttl as i32,
        caller.id()
    )
    .fetch_one(&mut *tx)
    .await?;
    let invitation = load(&mut tx, created, org).await?;
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
            "select {select} from (select {INVITATION_COLUMNS} from org_invitations i where i.org_id = "
        ));
        qb.push_bind(org).push(") i where true");
        if let Some(s) = status {
            qb.push(" and i.status = ").push_bind(s.to_owned());
        }
        qb
    };
    Ok(page
        .fetch_counted(conn, base("*"), base("count(*)"), "i.id")
        .await?)
}

/// Revokes a pending invitation.
pub async fn revoke_invitation(
    db: &PgPool,
    caller: &Caller,
    org: OrgId,
    id: InvitationId,
) -> Result<Invitation, RecordError> {
    let org: Uuid = org.into();
    let id: Uuid = id.into();
    let mut tx = db.begin().await?;
    get(&mut tx, caller, org).await?;
    require_admin(caller, org)?;
    // The row is locked first, so a concurrent acceptance waits for the revocation or wins it.
    sqlx::query_scalar!(
        "select id from org_invitations where id = $1 and org_id = $2 for update",
        id,
        org
    )
    .fetch_optional(&mut *tx)
    .await?;
    let current = load(&mut tx, id, org).await?;
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
    sqlx::query!(
        "update org_invitations set revoked_at = now() where id = $1",
        id
    )
    .execute(&mut *tx)
    .await?;
    let updated = load(&mut tx, id, org).await?;
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
