//! Patients (spec/02 "Patients and care"): records, care-team links, caregivers (at most one active
//! primary), locations, ground-truth labels, and read views of their alerts and devices.
//!
//! Who may do what, on top of the read scope of `access`:
//! * create, archive, link teams and caregivers — the organization's org_admins;
//! * edit the record, label ground truth — org_admins and the clinicians of the patient's care teams;
//! * post a location — the patient themself and their care-team clinicians (and, later, their devices);
//! * read — everyone whose scope includes the patient (team, caregiver, org-wide roles, self).
//!
//! Every read of patient data is audited (`PATIENT_READ`), as clinical systems must.

use chrono::{DateTime, NaiveDate, Utc};
use hg_platform::audit::Action;
use hg_platform::auth::PrincipalKind;
use hg_platform::page::Keyed;
use hg_platform::page::{Page, PageRequest, SortField, SqlType};
use serde::Serialize;
use serde_json::Value;
use serde_json::json;
use sqlx::PgPool;
use sqlx::{PgConnection, QueryBuilder};
use uuid::Uuid;

use crate::catalog::Permission;
use crate::identity::normalize_email;
use crate::ids::{CareTeamId, CaregiverLinkId, LabelId, PatientId};
use crate::records::{Caller, RecordError, catalog_code, optional_text, required_text};

const NOT_FOUND: RecordError = RecordError::NotFound("HG-PATIENT-NOT-FOUND", "no such patient");

/// A patient record.
#[derive(Debug, Serialize, sqlx::FromRow, Clone, utoipa::ToSchema)]
pub struct Patient {
    pub id: Uuid,
    pub org_id: Uuid,
    pub person_name: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub birthdate: Option<NaiveDate>,
    pub sex: Option<String>,
    pub risk_level: Option<String>,
    pub profile_photo_url: Option<String>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Keyed for Patient {
    fn sort_key(&self, field: &str) -> Value {
        match field {
            "created_at" => json!(self.created_at),
            _ => json!(self.person_name),
        }
    }
    fn key_id(&self) -> Uuid {
        self.id
    }
}

pub(super) const COLUMNS: &str =
    "p.id, p.org_id, p.person_name, p.email, p.email_verified, p.birthdate, p.sex, p.risk_level,
    p.profile_photo_url, p.last_login_at, p.archived_at, p.created_at, p.updated_at";

/// A patient the caller can see (archived ones only for their administrators), without auditing.
pub(crate) async fn visible(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<Patient, RecordError> {
    let mut qb = QueryBuilder::new(format!("select {COLUMNS} from patients p where p.id = "));
    qb.push_bind(id);
    caller.scope.push_patient_filter(&mut qb, "p");
    let p: Patient = qb
        .build_query_as()
        .fetch_optional(conn)
        .await?
        .ok_or(NOT_FOUND)?;
    if p.archived_at.is_some() && !caller.administers(p.org_id) {
        return Err(NOT_FOUND);
    }
    Ok(p)
}

/// One patient; the read is audited.
pub async fn get(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<Patient, RecordError> {
    let p = visible(conn, caller, id).await?;
    read_audit(conn, caller, &p, "record").await?;
    Ok(p)
}

pub(crate) async fn read_audit(
    conn: &mut PgConnection,
    caller: &Caller,
    p: &Patient,
    what: &str,
) -> Result<(), RecordError> {
    caller
        .audit(Action::PatientRead)
        .entity("patient", p.id)
        .org(p.org_id)
        .details(json!({"what": what}))
        .record(conn)
        .await?;
    Ok(())
}

/// Whether the caller is in one of the patient's care teams.
async fn in_care_team(
    conn: &mut PgConnection,
    caller: &Caller,
    patient: Uuid,
) -> Result<bool, RecordError> {
    Ok(sqlx::query_scalar!(
        "select exists(select 1 from patient_care_team pct join care_team_member m on m.team_id = pct.team_id
                        where pct.patient_id = $1 and m.user_id = $2) as \"exists!\"",
        patient,
        caller.id(),
    )
    .fetch_one(conn)
    .await?)
}

/// The patient if the caller may change its clinical record: org_admins, or clinicians of its care
/// teams holding `permission` there.
async fn writable(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
    permission: Permission,
) -> Result<Patient, RecordError> {
    let p = visible(conn, caller, id).await?;
    if caller.administers(p.org_id) {
        return Ok(p);
    }
    if caller.principal.kind() == PrincipalKind::User
        && caller.can(permission, Some(p.org_id))
        && caller.scope.team_orgs.contains(&p.org_id)
        && in_care_team(conn, caller, id).await?
    {
        return Ok(p);
    }
    Err(RecordError::Forbidden(
        "only the patient's care team or the organization's administrators can change this".into(),
    ))
}

/// The patient if the caller administers its organization.
async fn administered(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<Patient, RecordError> {
    let p = visible(conn, caller, id).await?;
    if caller.administers(p.org_id) {
        Ok(p)
    } else {
        Err(RecordError::Forbidden(
            "only the organization's administrators can do this".into(),
        ))
    }
}

/// A new patient.
pub struct NewPatient<'a> {
    pub org_id: Uuid,
    pub person_name: &'a str,
    pub email: Option<&'a str>,
    pub birthdate: Option<NaiveDate>,
    pub sex: Option<&'a str>,
    pub risk_level: Option<&'a str>,
    pub care_team_ids: &'a [Uuid],
}

fn check_birthdate(b: Option<NaiveDate>) -> Result<Option<NaiveDate>, RecordError> {
    match b {
        Some(d)
            if d > Utc::now().date_naive()
                || d <= NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(d) =>
        {
            Err(RecordError::invalid(
                "birthdate",
                "must be a past date after 1900-01-01",
            ))
        }
        other => Ok(other),
    }
}

fn check_email(e: Option<&str>) -> Result<Option<String>, RecordError> {
    e.map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| normalize_email(e).map_err(|p| RecordError::invalid("email", p)))
        .transpose()
}

/// Creates a patient in an organization the caller administers.
pub async fn create(
    db: &PgPool,
    caller: &Caller,
    new: NewPatient<'_>,
) -> Result<Patient, RecordError> {
    let name = required_text("person_name", new.person_name, 160)?;
    let email = check_email(new.email)?;
    let birthdate = check_birthdate(new.birthdate)?;
    let mut tx = db.begin().await?;
    let org_visible: bool = {
        let mut qb = QueryBuilder::new(
            "select exists(select 1 from organizations o where o.archived_at is null and o.id = ",
        );
        qb.push_bind(new.org_id);
        caller.scope.push_organization_filter(&mut qb, "o");
        qb.push(")");
        qb.build_query_scalar().fetch_one(&mut *tx).await?
    };
    if !org_visible {
        return Err(RecordError::invalid(
            "org_id",
            "is not an organization you can see",
        ));
    }
    if !caller.administers(new.org_id) {
        return Err(RecordError::Forbidden(
            "only the organization's administrators can add patients".into(),
        ));
    }
    let sex = match new.sex {
        Some(s) => Some(catalog_code(&mut tx, "sexes", "sex", s).await?),
        None => None,
    };
    let risk = match new.risk_level {
        Some(r) => Some(catalog_code(&mut tx, "risk_levels", "risk_level", r).await?),
        None => None,
    };
    let p: Patient = sqlx::query_as!(
        Patient,
        "insert into patients as p (org_id, person_name, email, birthdate, sex, risk_level)
         values ($1, $2, $3, $4, $5, $6)
         returning p.id, p.org_id, p.person_name, p.email, p.email_verified, p.birthdate, p.sex,
                   p.risk_level, p.profile_photo_url, p.last_login_at, p.archived_at, p.created_at,
                   p.updated_at",
        new.org_id,
        &name,
        email.as_deref(),
        birthdate,
        sex.as_deref(),
        risk.as_deref()
    )
    .fetch_one(&mut *tx)
    .await?;
    for team in new.care_team_ids {
        let linked = sqlx::query!(
            "insert into patient_care_team (patient_id, team_id, org_id)
             select $1, t.id, t.org_id from care_teams t where t.id = $2 and t.org_id = $3 and t.archived_at is null",
            p.id,
            team,
            new.org_id,
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if linked == 0 {
            return Err(RecordError::invalid(
                "care_team_ids",
                format!("{team} is not a care team of the organization"),
            ));
        }
    }
    caller
        .audit(Action::PatientCreate)
        .entity("patient", p.id)
        .org(p.org_id)
        .details(json!({"care_team_ids": new.care_team_ids}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(p)
}

/// Changes to a patient record (`Some(None)` clears a field).
#[derive(Default)]
pub struct PatientPatch<'a> {
    pub person_name: Option<&'a str>,
    pub email: Option<Option<&'a str>>,
    pub birthdate: Option<Option<NaiveDate>>,
    pub sex: Option<Option<&'a str>>,
    pub risk_level: Option<Option<&'a str>>,
}

/// Edits a patient record (org_admins and the patient's care team).
pub async fn update(
    db: &PgPool,
    caller: &Caller,
    id: Uuid,
    patch: PatientPatch<'_>,
) -> Result<Patient, RecordError> {
    let mut tx = db.begin().await?;
    let current = writable(&mut tx, caller, id, Permission::PatientsManage).await?;
    if current.archived_at.is_some() {
        return Err(RecordError::Unprocessable {
            id: "HG-PATIENT-ARCHIVED",
            message: "the patient is archived".into(),
        });
    }
    let name = patch
        .person_name
        .map(|n| required_text("person_name", n, 160))
        .transpose()?;
    let email = patch.email.map(check_email).transpose()?;
    let birthdate = patch.birthdate.map(check_birthdate).transpose()?;
    let sex = match patch.sex {
        Some(Some(s)) => Some(Some(catalog_code(&mut tx, "sexes", "sex", s).await?)),
        Some(None) => Some(None),
        None => None,
    };
    let risk = match patch.risk_level {
        Some(Some(r)) => Some(Some(
            catalog_code(&mut tx, "risk_levels", "risk_level", r).await?,
        )),
        Some(None) => Some(None),
        None => None,
    };
    let p: Patient = sqlx::query_as!(
        Patient,
        "update patients p set person_name = coalesce($2, p.person_name),
                email = case when $3 then $4 else p.email end,
                email_verified = case when $3 and $4 is distinct from p.email then false
                                      else p.email_verified end,
                birthdate = case when $5 then $6 else p.birthdate end,
                sex = case when $7 then $8 else p.sex end,
                risk_level = case when $9 then $10 else p.risk_level end
          where p.id = $1
         returning p.id, p.org_id, p.person_name, p.email, p.email_verified, p.birthdate, p.sex,
                   p.risk_level, p.profile_photo_url, p.last_login_at, p.archived_at, p.created_at,
                   p.updated_at",
        id,
        name.as_deref(),
        email.is_some(),
        email.clone().flatten(),
        birthdate.is_some(),
        birthdate.flatten(),
        sex.is_some(),
        sex.clone().flatten(),
        risk.is_some(),
        risk.clone().flatten()
    )
    .fetch_one(&mut *tx)
    .await?;
    let mut changed = serde_json::Map::new();
    for (k, v) in [
        ("person_name", json!(name)),
        ("email", json!(email)),
        ("birthdate", json!(birthdate)),
        ("sex", json!(sex)),
        ("risk_level", json!(risk)),
    ] {
        if !v.is_null() {
            changed.insert(k.to_owned(), v);
        }
    }
    caller
        .audit(Action::PatientUpdate)
        .entity("patient", id)
        .org(p.org_id)
        .details(json!({"changed": changed, "risk_before": current.risk_level}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(p)
}

/// Archives a patient (org_admins): gone from lists, history kept.
pub async fn archive(db: &PgPool, caller: &Caller, id: Uuid) -> Result<Patient, RecordError> {
    let mut tx = db.begin().await?;
    let current = administered(&mut tx, caller, id).await?;
    if current.archived_at.is_some() {
        tx.commit().await?;
        return Ok(current);
    }
    let p: Patient = sqlx::query_as!(
        Patient,
        "update patients p set archived_at = now() where p.id = $1 returning p.id, p.org_id,
             p.person_name, p.email, p.email_verified, p.birthdate, p.sex, p.risk_level,
             p.profile_photo_url, p.last_login_at, p.archived_at, p.created_at, p.updated_at",
        id,
    )
    .fetch_one(&mut *tx)
    .await?;
    caller
        .audit(Action::PatientArchive)
        .entity("patient", id)
        .org(p.org_id)
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(p)
}

mod caregivers;
mod labels;
mod list;
mod locations;
mod teams;
mod views;

pub use caregivers::*;
pub use labels::*;
pub use list::*;
pub use locations::*;
pub use teams::*;
pub use views::*;
