//! Care teams of an organization: their members (doctors, nurses, admins, specialists — who must be
//! members of the organization) and their patients. A clinician sees the patients of the teams they
//! belong to. org_admins manage teams; the organization's members can read them.

use chrono::{DateTime, Utc};
use hg_platform::audit::Action;
use hg_platform::page::Keyed;
use hg_platform::page::{Page, PageRequest, SortField, SqlType};
use serde::Serialize;
use serde_json::Value;
use serde_json::json;
use sqlx::PgPool;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::catalog::Permission;
use crate::ids::{CareTeamId, OrgId, PatientId, UserId};
use crate::organization;
use crate::records::{Caller, RecordError, catalog_code, required_text};

const NOT_FOUND: RecordError = RecordError::NotFound("HG-TEAM-NOT-FOUND", "no such care team");

/// A care team.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CareTeam {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub members: i64,
    pub patients: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Keyed for CareTeam {
    fn sort_key(&self, field: &str) -> Value {
        match field {
            "created_at" => json!(self.created_at),
            _ => json!(self.name),
        }
    }
    fn key_id(&self) -> Uuid {
        self.id
    }
}

const COLUMNS: &str = "t.id, t.org_id, t.name,
    (select count(*) from care_team_member m where m.team_id = t.id) as members,
    (select count(*) from patient_care_team pct where pct.team_id = t.id) as patients,
    t.created_at, t.updated_at";

/// Sortable fields of team lists.
pub const SORTS: &[SortField] = &[
    SortField {
        name: "name",
        column: "t.name",
        ty: SqlType::Text,
    },
    SortField {
        name: "created_at",
        column: "t.created_at",
        ty: SqlType::Timestamp,
    },
];

const MEMBER_NOT_FOUND: RecordError =
    RecordError::NotFound("HG-MEMBER-NOT-FOUND", "no such team member");

/// The organization must be visible and readable by the caller.
async fn readable_org(
    conn: &mut PgConnection,
    caller: &Caller,
    org: Uuid,
) -> Result<(), RecordError> {
    organization::get(conn, caller, org).await?;
    caller.require(Permission::OrgsRead, Some(org))
}

fn require_admin(caller: &Caller, org: Uuid) -> Result<(), RecordError> {
    if caller.administers(org) {
        Ok(())
    } else {
        Err(RecordError::Forbidden(
            "only the organization's administrators can manage care teams".into(),
        ))
    }
}

/// Teams of an organization.
pub async fn list(
    conn: &mut PgConnection,
    caller: &Caller,
    org: Uuid,
    q: Option<&str>,
    page: &PageRequest,
) -> Result<Page<CareTeam>, RecordError> {
    readable_org(conn, caller, org).await?;
    let filter = |qb: &mut QueryBuilder<Postgres>| {
        qb.push_bind(org).push(" and t.archived_at is null");
        if let Some(q) = q {
            qb.push(" and t.name ilike ")
                .push_bind(format!("%{}%", q.replace('%', "\\%").replace('_', "\\_")));
        }
    };
    let mut qb = QueryBuilder::new(format!(
        "select {COLUMNS} from care_teams t where t.org_id = "
    ));
    filter(&mut qb);
    let mut count = QueryBuilder::new("select count(*) from care_teams t where t.org_id = ");
    filter(&mut count);
    Ok(page.fetch_counted(conn, qb, count, "t.id").await?)
}

/// One team.
pub async fn get(
    conn: &mut PgConnection,
    caller: &Caller,
    org: OrgId,
    id: CareTeamId,
) -> Result<CareTeam, RecordError> {
    let org: Uuid = org.into();
    let id: Uuid = id.into();
    readable_org(conn, caller, org).await?;
    sqlx::query_as!(
        CareTeam,
        r#"select t.id, t.org_id, t.name,
                  (select count(*) from care_team_member m where m.team_id = t.id) as "members!",
                  (select count(*) from patient_care_team pct where pct.team_id = t.id) as "patients!",
                  t.created_at, t.updated_at
             from care_teams t where t.id = $1 and t.org_id = $2 and t.archived_at is null"#,
        id,
        org
    )
    .fetch_optional(conn)
    .await?
    .ok_or(NOT_FOUND)
}

/// Creates a team.
pub async fn create(
    db: &PgPool,
    caller: &Caller,
    org: Uuid,
    name: &str,
) -> Result<CareTeam, RecordError> {
    let name = required_text("name", name, 160)?;
    let mut tx = db.begin().await?;
    readable_org(&mut tx, caller, org).await?;
    require_admin(caller, org)?;
    let id: Uuid = sqlx::query_scalar!(
        "insert into care_teams (org_id, name) values ($1, $2) returning id",
        org,
        &name,
    )
    .fetch_one(&mut *tx)
    .await?;
    caller
        .audit(Action::CareTeamCreate)
        .entity("care_team", id)
        .org(org)
        .details(json!({"name": name}))
        .record(&mut tx)
        .await?;
    let team = get(&mut tx, caller, OrgId(org), CareTeamId(id)).await?;
    tx.commit().await?;
    Ok(team)
}

/// Renames a team.
pub async fn rename(
    db: &PgPool,
    caller: &Caller,
    org: OrgId,
    id: CareTeamId,
    name: &str,
) -> Result<CareTeam, RecordError> {
    let org: Uuid = org.into();
    let id: Uuid = id.into();
    let name = required_text("name", name, 160)?;
    let mut tx = db.begin().await?;
    get(&mut tx, caller, OrgId(org), CareTeamId(id)).await?;
    require_admin(caller, org)?;
    sqlx::query!("update care_teams set name = $2 where id = $1", id, &name)
        .execute(&mut *tx)
        .await?;
    caller
        .audit(Action::CareTeamUpdate)
        .entity("care_team", id)
        .org(org)
        .details(json!({"name": name}))
        .record(&mut tx)
        .await?;
    let team = get(&mut tx, caller, OrgId(org), CareTeamId(id)).await?;
    tx.commit().await?;
    Ok(team)
}

/// Deletes a team (its member and patient links go with it; the patients stay).
pub async fn delete(
    db: &PgPool,
    caller: &Caller,
    org: OrgId,
    id: CareTeamId,
) -> Result<(), RecordError> {
    let org: Uuid = org.into();
    let id: Uuid = id.into();
    let mut tx = db.begin().await?;
    let team = get(&mut tx, caller, OrgId(org), CareTeamId(id)).await?;
    require_admin(caller, org)?;
    sqlx::query!("delete from care_teams where id = $1", id)
        .execute(&mut *tx)
        .await?;
    caller
        .audit(Action::CareTeamDelete)
        .entity("care_team", id)
        .org(org)
        .details(json!({"name": team.name}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// A member of a team.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TeamMember {
    pub user_id: Uuid,
    pub name: String,
    pub email: String,
    pub role: String,
    pub joined_at: DateTime<Utc>,
}

async fn team_member(
    conn: &mut PgConnection,
    team: Uuid,
    user: Uuid,
) -> Result<TeamMember, RecordError> {
    sqlx::query_as!(
        TeamMember,
        "select u.id as user_id, u.name, u.email, m.role, m.joined_at from care_team_member m
             join users u on u.id = m.user_id where m.team_id = $1 and m.user_id = $2",
        team,
        user,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(MEMBER_NOT_FOUND)
}

/// Members of a team.
pub async fn members(
    conn: &mut PgConnection,
    caller: &Caller,
    org: OrgId,
    team: CareTeamId,
) -> Result<Vec<TeamMember>, RecordError> {
    let org: Uuid = org.into();
    let team: Uuid = team.into();
    get(conn, caller, OrgId(org), CareTeamId(team)).await?;
    Ok(sqlx::query_as!(
        TeamMember,
        "select u.id as user_id, u.name, u.email, m.role, m.joined_at from care_team_member m
             join users u on u.id = m.user_id where m.team_id = $1 order by u.name, u.id",
        team,
    )
    .fetch_all(conn)
    .await?)
}

/// Adds an organization member to a team with a team role.
pub async fn add_member(
    db: &PgPool,
    caller: &Caller,
    org: OrgId,
    team: CareTeamId,
    user: UserId,
    role: &str,
) -> Result<TeamMember, RecordError> {
    let org: Uuid = org.into();
    let team: Uuid = team.into();
    let user: Uuid = user.into();
    let mut tx = db.begin().await?;
    get(&mut tx, caller, OrgId(org), CareTeamId(team)).await?;
    require_admin(caller, org)?;
    let role = catalog_code(&mut tx, "team_member_roles", "role", role).await?;
    let is_member: bool = sqlx::query_scalar!(
        "select exists(select 1 from user_org_membership where org_id = $1 and user_id = $2) as \"exists!\"",
        org,
        user,
    )
    .fetch_one(&mut *tx)
    .await?;
    if !is_member {
        return Err(RecordError::invalid(
            "user_id",
            "is not a member of the organization",
        ));
    }
    sqlx::query!(
        "insert into care_team_member (team_id, org_id, user_id, role) values ($1, $2, $3, $4)",
        team,
        org,
        user,
        &role,
    )
    .execute(&mut *tx)
    .await?;
    caller
        .audit(Action::CareTeamMemberAdd)
        .entity("care_team", team)
        .org(org)
        .details(json!({"user_id": user, "role": role}))
        .record(&mut tx)
        .await?;
    let m = team_member(&mut tx, team, user).await?;
    tx.commit().await?;
    Ok(m)
}

/// Changes a team member's role.
pub async fn set_member_role(
    db: &PgPool,
    caller: &Caller,
    org: OrgId,
    team: CareTeamId,
    user: UserId,
    role: &str,
) -> Result<TeamMember, RecordError> {
    let org: Uuid = org.into();
    let team: Uuid = team.into();
    let user: Uuid = user.into();
    let mut tx = db.begin().await?;
    get(&mut tx, caller, OrgId(org), CareTeamId(team)).await?;
    require_admin(caller, org)?;
    let role = catalog_code(&mut tx, "team_member_roles", "role", role).await?;
    team_member(&mut tx, team, user).await?;
    sqlx::query!(
        "update care_team_member set role = $3 where team_id = $1 and user_id = $2",
        team,
        user,
        &role,
    )
    .execute(&mut *tx)
    .await?;
    caller
        .audit(Action::CareTeamMemberRole)
        .entity("care_team", team)
        .org(org)
        .details(json!({"user_id": user, "role": role}))
        .record(&mut tx)
        .await?;
    let m = team_member(&mut tx, team, user).await?;
    tx.commit().await?;
    Ok(m)
}

/// Removes a member from a team.
pub async fn remove_member(
    db: &PgPool,
    caller: &Caller,
    org: OrgId,
    team: CareTeamId,
    user: UserId,
) -> Result<(), RecordError> {
    let org: Uuid = org.into();
    let team: Uuid = team.into();
    let user: Uuid = user.into();
    let mut tx = db.begin().await?;
    get(&mut tx, caller, OrgId(org), CareTeamId(team)).await?;
    require_admin(caller, org)?;
    team_member(&mut tx, team, user).await?;
    sqlx::query!(
        "delete from care_team_member where team_id = $1 and user_id = $2",
        team,
        user,
    )
    .execute(&mut *tx)
    .await?;
    caller
        .audit(Action::CareTeamMemberRemove)
        .entity("care_team", team)
        .org(org)
        .details(json!({"user_id": user}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// A patient of a team, as a team list shows it.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TeamPatient {
    pub id: Uuid,
    pub person_name: String,
    pub risk_level: Option<String>,
}

/// Patients of a team that the caller can see. Names and risk levels are patient data: the read is
/// audited like the patient list (`PATIENT_LIST`).
pub async fn patients(
    conn: &mut PgConnection,
    caller: &Caller,
    org: OrgId,
    team: CareTeamId,
) -> Result<Vec<TeamPatient>, RecordError> {
    let org: Uuid = org.into();
    let team: Uuid = team.into();
    get(conn, caller, OrgId(org), CareTeamId(team)).await?;
    let mut qb = QueryBuilder::new(
        "select p.id, p.person_name, p.risk_level from patient_care_team pct join patients p on p.id = pct.patient_id
          where p.archived_at is null and pct.team_id = ",
    );
    qb.push_bind(team);
    caller.scope.push_patient_filter(&mut qb, "p");
    qb.push(" order by p.person_name, p.id");
    let rows: Vec<TeamPatient> = qb.build_query_as().fetch_all(&mut *conn).await?;
    let ids: Vec<Uuid> = rows.iter().map(|p| p.id).collect();
    caller
        .audit(Action::PatientList)
        .entity_kind("patient")
        .org(org)
        .details(json!({"count": ids.len(), "patient_ids": ids, "care_team_id": team}))
        .record(conn)
        .await?;
    Ok(rows)
}

/// Puts a patient of the organization in a team.
pub async fn add_patient(
    db: &PgPool,
    caller: &Caller,
    org: OrgId,
    team: CareTeamId,
    patient: PatientId,
) -> Result<(), RecordError> {
    let org: Uuid = org.into();
    let team: Uuid = team.into();
    let patient: Uuid = patient.into();
    let mut tx = db.begin().await?;
    get(&mut tx, caller, OrgId(org), CareTeamId(team)).await?;
    require_admin(caller, org)?;
    let exists: bool = sqlx::query_scalar!(
        "select exists(select 1 from patients where id = $1 and org_id = $2 and archived_at is null) as \"exists!\"",
        patient,
        org,
    )
        .fetch_one(&mut *tx)
        .await?;
    if !exists {
        return Err(RecordError::invalid(
            "patient_id",
            "is not a patient of the organization",
        ));
    }
    sqlx::query!(
        "insert into patient_care_team (patient_id, team_id, org_id) values ($1, $2, $3)",
        patient,
        team,
        org,
    )
    .execute(&mut *tx)
    .await?;
    caller
        .audit(Action::CareTeamPatientAdd)
        .entity("patient", patient)
        .org(org)
        .details(json!({"team_id": team}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Takes a patient out of a team.
pub async fn remove_patient(
    db: &PgPool,
    caller: &Caller,
    org: OrgId,
    team: CareTeamId,
    patient: PatientId,
) -> Result<(), RecordError> {
    let org: Uuid = org.into();
    let team: Uuid = team.into();
    let patient: Uuid = patient.into();
    let mut tx = db.begin().await?;
    get(&mut tx, caller, OrgId(org), CareTeamId(team)).await?;
    require_admin(caller, org)?;
    let removed = sqlx::query!(
        "delete from patient_care_team where team_id = $1 and patient_id = $2",
        team,
        patient,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if removed == 0 {
        return Err(RecordError::NotFound(
            "HG-PATIENT-NOT-FOUND",
            "the patient is not in this team",
        ));
    }
    caller
        .audit(Action::CareTeamPatientRemove)
        .entity("patient", patient)
        .org(org)
        .details(json!({"team_id": team}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
