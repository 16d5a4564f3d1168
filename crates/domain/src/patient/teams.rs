//! A patient's care teams: which teams see the patient, linked and unlinked by org admins.

use super::*;
use sqlx::PgPool;

/// A care team of a patient.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PatientTeam {
    pub team_id: Uuid,
    pub name: String,
    pub linked_at: DateTime<Utc>,
}

/// The patient's care teams.
pub async fn care_teams(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<Vec<PatientTeam>, RecordError> {
    let p = visible(conn, caller, id).await?;
    read_audit(conn, caller, &p, "care_teams").await?;
    Ok(sqlx::query_as!(
        PatientTeam,
        "select t.id as team_id, t.name, pct.created_at as linked_at
           from patient_care_team pct join care_teams t on t.id = pct.team_id
          where pct.patient_id = $1 order by t.name, t.id",
        id
    )
    .fetch_all(conn)
    .await?)
}

/// Puts the patient in a care team of its organization.
pub async fn link_team(
    db: &PgPool,
    caller: &Caller,
    id: PatientId,
    team: CareTeamId,
) -> Result<(), RecordError> {
    let id: Uuid = id.into();
    let team: Uuid = team.into();
    let mut tx = db.begin().await?;
    let p = administered(&mut tx, caller, id).await?;
    let linked = sqlx::query!(
        "insert into patient_care_team (patient_id, team_id, org_id)
         select $1, t.id, t.org_id from care_teams t where t.id = $2 and t.org_id = $3 and t.archived_at is null",
        id,
        team,
        p.org_id,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if linked == 0 {
        return Err(RecordError::invalid(
            "team_id",
            "is not a care team of the patient's organization",
        ));
    }
    caller
        .audit(Action::CareTeamPatientAdd)
        .entity("patient", id)
        .org(p.org_id)
        .details(json!({"team_id": team}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Takes the patient out of a care team.
pub async fn unlink_team(
    db: &PgPool,
    caller: &Caller,
    id: PatientId,
    team: CareTeamId,
) -> Result<(), RecordError> {
    let id: Uuid = id.into();
    let team: Uuid = team.into();
    let mut tx = db.begin().await?;
    let p = administered(&mut tx, caller, id).await?;
    let removed = sqlx::query!(
        "delete from patient_care_team where patient_id = $1 and team_id = $2",
        id,
        team,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if removed == 0 {
        return Err(RecordError::NotFound(
            "HG-TEAM-NOT-FOUND",
            "the patient is not in this care team",
        ));
    }
    caller
        .audit(Action::CareTeamPatientRemove)
        .entity("patient", id)
        .org(p.org_id)
        .details(json!({"team_id": team}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
