//! A patient's caregivers: active links, at most one active primary, ended rather than deleted.

use super::*;
use sqlx::PgPool;

/// A caregiver link.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Caregiver {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub email: String,
    pub relationship: String,
    pub is_primary: bool,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
}

const LINK_NOT_FOUND: RecordError =
    RecordError::NotFound("HG-CAREGIVER-NOT-FOUND", "no such caregiver link");

pub(super) async fn caregiver(
    conn: &mut PgConnection,
    patient: Uuid,
    link: Uuid,
) -> Result<Caregiver, RecordError> {
    sqlx::query_as!(
        Caregiver,
        "select c.id, c.user_id, u.name, u.email, c.relationship, c.is_primary, c.started_at,
             c.ended_at, c.note from caregiver_patient c join users u on u.id = c.user_id where
             c.id = $1 and c.patient_id = $2",
        link,
        patient,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(LINK_NOT_FOUND)
}

/// The patient's caregivers (`active` only, or with ended links).
pub async fn caregivers(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
    include_ended: bool,
) -> Result<Vec<Caregiver>, RecordError> {
    let p = visible(conn, caller, id).await?;
    read_audit(conn, caller, &p, "caregivers").await?;
    Ok(sqlx::query_as!(
        Caregiver,
        "select c.id, c.user_id, u.name, u.email, c.relationship, c.is_primary, c.started_at,
             c.ended_at, c.note from caregiver_patient c join users u on u.id = c.user_id where
             c.patient_id = $1 and ($2 or c.ended_at is null) order by c.is_primary desc,
             c.started_at, c.id",
        id,
        include_ended,
    )
    .fetch_all(conn)
    .await?)
}

/// A new caregiver link.
pub struct NewCaregiver<'a> {
    pub user_id: Uuid,
    pub relationship: &'a str,
    pub is_primary: bool,
    pub note: Option<&'a str>,
}

/// Links a caregiver (a user with the caregiver role) to the patient.
pub async fn add_caregiver(
    db: &PgPool,
    caller: &Caller,
    id: Uuid,
    new: NewCaregiver<'_>,
) -> Result<Caregiver, RecordError> {
    let note = optional_text("note", new.note, 1000)?;
    let mut tx = db.begin().await?;
    let p = administered(&mut tx, caller, id).await?;
    let relationship = catalog_code(
        &mut tx,
        "caregiver_relationship_types",
        "relationship",
        new.relationship,
    )
    .await?;
    let is_caregiver: bool = sqlx::query_scalar!(
        "select exists(select 1 from users u join user_role ur on ur.user_id = u.id join roles r on r.id = ur.role_id
                        where u.id = $1 and r.name = 'caregiver' and u.status <> 'blocked') as \"exists!\"",
        new.user_id,
    )
    .fetch_one(&mut *tx)
    .await?;
    if !is_caregiver {
        return Err(RecordError::invalid(
            "user_id",
            "is not an active user with the caregiver role",
        ));
    }
    let link: Uuid = sqlx::query_scalar!(
        "insert into caregiver_patient (org_id, patient_id, user_id, relationship, is_primary, note)
         values ($1, $2, $3, $4, $5, $6) returning id",
        p.org_id,
        id,
        new.user_id,
        &relationship,
        new.is_primary,
        note.as_deref(),
    )
    .fetch_one(&mut *tx)
    .await?;
    caller
        .audit(Action::CaregiverLink)
            .entity("patient", id)
            .org(p.org_id)
            .details(json!({"user_id": new.user_id, "relationship": relationship, "is_primary": new.is_primary}))
            .record(&mut tx)
        .await?;
    let c = caregiver(&mut tx, id, link).await?;
    tx.commit().await?;
    Ok(c)
}

/// Changes a caregiver link.
#[derive(Default)]
pub struct CaregiverPatch<'a> {
    pub relationship: Option<&'a str>,
    pub is_primary: Option<bool>,
    pub note: Option<Option<&'a str>>,
}

/// Edits an active caregiver link (org_admins).
pub async fn update_caregiver(
    db: &PgPool,
    caller: &Caller,
    id: PatientId,
    link: CaregiverLinkId,
    patch: CaregiverPatch<'_>,
) -> Result<Caregiver, RecordError> {
    let id: Uuid = id.into();
    let link: Uuid = link.into();
    let mut tx = db.begin().await?;
    let p = administered(&mut tx, caller, id).await?;
    let current = caregiver(&mut tx, id, link).await?;
    if current.ended_at.is_some() {
        return Err(RecordError::Unprocessable {
            id: "HG-CAREGIVER-ENDED",
            message: "the caregiver link has ended".into(),
        });
    }
    let relationship = match patch.relationship {
        Some(r) => {
            Some(catalog_code(&mut tx, "caregiver_relationship_types", "relationship", r).await?)
        }
        None => None,
    };
    let note = patch
        .note
        .map(|n| optional_text("note", n, 1000))
        .transpose()?;
    sqlx::query!(
        "update caregiver_patient set relationship = coalesce($2, relationship), is_primary = coalesce($3, is_primary),
                note = case when $4 then $5 else note end
          where id = $1",
        link,
        relationship.as_deref(),
        patch.is_primary,
        note.is_some(),
        note.clone().flatten(),
    )
    .execute(&mut *tx)
    .await?;
    caller
        .audit(Action::CaregiverUpdate)
        .entity("patient", id)
        .org(p.org_id)
        .details(
            json!({"link_id": link, "relationship": relationship, "is_primary": patch.is_primary}),
        )
        .record(&mut tx)
        .await?;
    let c = caregiver(&mut tx, id, link).await?;
    tx.commit().await?;
    Ok(c)
}

/// Ends a caregiver link (kept as history).
pub async fn end_caregiver(
    db: &PgPool,
    caller: &Caller,
    id: PatientId,
    link: CaregiverLinkId,
) -> Result<(), RecordError> {
    let id: Uuid = id.into();
    let link: Uuid = link.into();
    let mut tx = db.begin().await?;
    let p = administered(&mut tx, caller, id).await?;
    let current = caregiver(&mut tx, id, link).await?;
    if current.ended_at.is_none() {
        sqlx::query!(
            "update caregiver_patient set ended_at = greatest(now(), started_at + interval '1 millisecond') where id = $1",
            link,
        )
            .execute(&mut *tx)
            .await?;
        caller
            .audit(Action::CaregiverUnlink)
            .entity("patient", id)
            .org(p.org_id)
            .details(json!({"user_id": current.user_id}))
            .record(&mut tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
