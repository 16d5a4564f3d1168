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
use hg_platform::Platform;
use hg_platform::audit::Action;
use hg_platform::auth::PrincipalKind;
use hg_platform::page::{Page, PageRequest, SortField, SqlType};
use serde::Serialize;
use serde_json::json;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::catalog::Permission;
use crate::identity::normalize_email;
use crate::ids::{CareTeamId, CaregiverLinkId, LabelId, PatientId};
use crate::records::{Caller, RecordError, catalog_code, optional_text, required_text};

const NOT_FOUND: RecordError = RecordError::NotFound("HG-PATIENT-NOT-FOUND", "no such patient");

/// Risk levels (catalog `risk_levels`).
pub const RISK_LEVELS: &[&str] = &["low", "medium", "high"];

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

const COLUMNS: &str =
    "p.id, p.org_id, p.person_name, p.email, p.email_verified, p.birthdate, p.sex, p.risk_level,
    p.profile_photo_url, p.last_login_at, p.archived_at, p.created_at, p.updated_at";

/// Sortable fields of the patient list.
pub const SORTS: &[SortField] = &[
    SortField {
        name: "person_name",
        column: "p.person_name",
        ty: SqlType::Text,
    },
    SortField {
        name: "created_at",
        column: "p.created_at",
        ty: SqlType::Timestamp,
    },
];

/// Filters of the patient list.
#[derive(Default)]
pub struct Filters {
    pub org: Option<Uuid>,
    pub risk_level: Option<&'static str>,
    pub care_team: Option<Uuid>,
    pub q: Option<String>,
    /// Archived patients instead of current ones (org_admins and superadmins).
    pub archived: bool,
}

fn push_filters(qb: &mut QueryBuilder<Postgres>, caller: &Caller, f: &Filters) {
    if f.archived {
        qb.push(" and p.archived_at is not null");
        // Archived records are for those who administer them.
        if !caller.is_superadmin() {
            qb.push(" and p.org_id = any(")
                .push_bind(caller.scope.org_wide.clone())
                .push(")");
        }
    } else {
        qb.push(" and p.archived_at is null");
    }
    caller.scope.push_patient_filter(qb, "p");
    if let Some(org) = f.org {
        qb.push(" and p.org_id = ").push_bind(org);
    }
    if let Some(r) = f.risk_level {
        qb.push(" and p.risk_level = ").push_bind(r);
    }
    if let Some(team) = f.care_team {
        qb.push(" and exists (select 1 from patient_care_team ft where ft.patient_id = p.id and ft.team_id = ")
            .push_bind(team)
            .push(")");
    }
    if let Some(q) = &f.q {
        let like = format!(
            "%{}%",
            q.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        qb.push(" and (p.person_name ilike ")
            .push_bind(like.clone())
            .push(" or p.email ilike ")
            .push_bind(like)
            .push(")");
    }
}

/// A row with the number of rows its query matched before the limit (`count(*) over ()`).
#[derive(sqlx::FromRow)]
struct Counted<T> {
    #[sqlx(flatten)]
    item: T,
    matched: i64,
}

/// The patients the caller can see; the read is audited.
pub async fn list(
    conn: &mut PgConnection,
    caller: &Caller,
    f: &Filters,
    page: &PageRequest,
) -> Result<Page<Patient>, RecordError> {
    // When the caller's patients are bounded by their own links (care teams, caregiving, self) and
    // the page starts at a known place, the page query counts them too: the rows are all read
    // for the sort anyway, and the separate count would repeat the scope filter. Org-wide and
    // global scopes keep the separate count, which can use an index instead of reading every row.
    let window = page.after.is_none() && !caller.scope.all && caller.scope.org_wide.is_empty();
    let mut qb = QueryBuilder::new(format!(
        "select {COLUMNS}, {} as matched from patients p where true",
        if window {
            "count(*) over ()"
        } else {
            "0::bigint"
        }
    ));
    push_filters(&mut qb, caller, f);
    page.push_after(&mut qb, "p.id");
    page.push_order_limit(&mut qb, "p.id");
    let rows: Vec<Counted<Patient>> = qb.build_query_as().fetch_all(&mut *conn).await?;
    let matched = rows.first().filter(|_| window).map(|r| r.matched);
    let rows = rows.into_iter().map(|r| r.item).collect();
    let mut out = page.finish(rows, |p| {
        let v = if page.sort.field.name == "created_at" {
            json!(p.created_at)
        } else {
            json!(p.person_name)
        };
        (v, p.id)
    });
    out.total = Some(match matched {
        Some(n) => n,
        None => page.total(&out, count(conn, caller, f)).await?,
    });
    let ids: Vec<Uuid> = out.items.iter().map(|p| p.id).collect();
    caller
        .audit(Action::PatientList)
        .entity_kind("patient")
        .org(f.org)
        .details(json!({"count": ids.len(), "patient_ids": ids}))
        .record(conn)
        .await?;
    Ok(out)
}

/// How many patients the caller can see with `f`.
pub async fn count(
    conn: &mut PgConnection,
    caller: &Caller,
    f: &Filters,
) -> Result<i64, RecordError> {
    let mut qb = QueryBuilder::new("select count(*) from patients p where true");
    push_filters(&mut qb, caller, f);
    Ok(qb.build_query_scalar().fetch_one(conn).await?)
}

/// A patient the caller can see (archived ones only for their administrators), without auditing.
async fn visible(
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

async fn read_audit(
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
    Ok(sqlx::query_scalar(
        "select exists(select 1 from patient_care_team pct join care_team_member m on m.team_id = pct.team_id
                        where pct.patient_id = $1 and m.user_id = $2)",
    )
    .bind(patient)
    .bind(caller.id())
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
    platform: &Platform,
    caller: &Caller,
    new: NewPatient<'_>,
) -> Result<Patient, RecordError> {
    let name = required_text("person_name", new.person_name, 160)?;
    let email = check_email(new.email)?;
    let birthdate = check_birthdate(new.birthdate)?;
    let mut tx = platform.db.begin().await?;
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
    let p: Patient = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into patients as p (org_id, person_name, email, birthdate, sex, risk_level)
         values ($1, $2, $3, $4, $5, $6) returning {COLUMNS}"
    )))
    .bind(new.org_id)
    .bind(&name)
    .bind(&email)
    .bind(birthdate)
    .bind(&sex)
    .bind(&risk)
    .fetch_one(&mut *tx)
    .await?;
    for team in new.care_team_ids {
        let linked = sqlx::query(
            "insert into patient_care_team (patient_id, team_id, org_id)
             select $1, t.id, t.org_id from care_teams t where t.id = $2 and t.org_id = $3 and t.archived_at is null",
        )
        .bind(p.id)
        .bind(team)
        .bind(new.org_id)
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
    platform: &Platform,
    caller: &Caller,
    id: Uuid,
    patch: PatientPatch<'_>,
) -> Result<Patient, RecordError> {
    let mut tx = platform.db.begin().await?;
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
    let p: Patient = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update patients p set person_name = coalesce($2, p.person_name),
                email = case when $3 then $4 else p.email end,
                email_verified = case when $3 and $4 is distinct from p.email then false else p.email_verified end,
                birthdate = case when $5 then $6 else p.birthdate end,
                sex = case when $7 then $8 else p.sex end,
                risk_level = case when $9 then $10 else p.risk_level end
          where p.id = $1 returning {COLUMNS}"
    )))
    .bind(id)
    .bind(&name)
    .bind(email.is_some())
    .bind(email.clone().flatten())
    .bind(birthdate.is_some())
    .bind(birthdate.flatten())
    .bind(sex.is_some())
    .bind(sex.clone().flatten())
    .bind(risk.is_some())
    .bind(risk.clone().flatten())
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
pub async fn archive(
    platform: &Platform,
    caller: &Caller,
    id: Uuid,
) -> Result<Patient, RecordError> {
    let mut tx = platform.db.begin().await?;
    let current = administered(&mut tx, caller, id).await?;
    if current.archived_at.is_some() {
        tx.commit().await?;
        return Ok(current);
    }
    let p: Patient = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update patients p set archived_at = now() where p.id = $1 returning {COLUMNS}"
    )))
    .bind(id)
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
    Ok(sqlx::query_as(
        "select t.id as team_id, t.name, pct.created_at as linked_at
           from patient_care_team pct join care_teams t on t.id = pct.team_id
          where pct.patient_id = $1 order by t.name, t.id",
    )
    .bind(id)
    .fetch_all(conn)
    .await?)
}

/// Puts the patient in a care team of its organization.
pub async fn link_team(
    platform: &Platform,
    caller: &Caller,
    id: PatientId,
    team: CareTeamId,
) -> Result<(), RecordError> {
    let id: Uuid = id.into();
    let team: Uuid = team.into();
    let mut tx = platform.db.begin().await?;
    let p = administered(&mut tx, caller, id).await?;
    let linked = sqlx::query(
        "insert into patient_care_team (patient_id, team_id, org_id)
         select $1, t.id, t.org_id from care_teams t where t.id = $2 and t.org_id = $3 and t.archived_at is null",
    )
    .bind(id)
    .bind(team)
    .bind(p.org_id)
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
    platform: &Platform,
    caller: &Caller,
    id: PatientId,
    team: CareTeamId,
) -> Result<(), RecordError> {
    let id: Uuid = id.into();
    let team: Uuid = team.into();
    let mut tx = platform.db.begin().await?;
    let p = administered(&mut tx, caller, id).await?;
    let removed =
        sqlx::query("delete from patient_care_team where patient_id = $1 and team_id = $2")
            .bind(id)
            .bind(team)
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

const CAREGIVER_COLUMNS: &str = "c.id, c.user_id, u.name, u.email, c.relationship, c.is_primary, c.started_at, c.ended_at, c.note";

async fn caregiver(
    conn: &mut PgConnection,
    patient: Uuid,
    link: Uuid,
) -> Result<Caregiver, RecordError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {CAREGIVER_COLUMNS} from caregiver_patient c join users u on u.id = c.user_id
          where c.id = $1 and c.patient_id = $2"
    )))
    .bind(link)
    .bind(patient)
    .fetch_optional(conn)
    .await?
    .ok_or(RecordError::NotFound(
        "HG-CAREGIVER-NOT-FOUND",
        "no such caregiver link",
    ))
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
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {CAREGIVER_COLUMNS} from caregiver_patient c join users u on u.id = c.user_id
          where c.patient_id = $1 and ($2 or c.ended_at is null) order by c.is_primary desc, c.started_at, c.id"
    )))
    .bind(id)
    .bind(include_ended)
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
    platform: &Platform,
    caller: &Caller,
    id: Uuid,
    new: NewCaregiver<'_>,
) -> Result<Caregiver, RecordError> {
    let note = optional_text("note", new.note, 1000)?;
    let mut tx = platform.db.begin().await?;
    let p = administered(&mut tx, caller, id).await?;
    let relationship = catalog_code(
        &mut tx,
        "caregiver_relationship_types",
        "relationship",
        new.relationship,
    )
    .await?;
    let is_caregiver: bool = sqlx::query_scalar(
        "select exists(select 1 from users u join user_role ur on ur.user_id = u.id join roles r on r.id = ur.role_id
                        where u.id = $1 and r.name = 'caregiver' and u.status <> 'blocked')",
    )
    .bind(new.user_id)
    .fetch_one(&mut *tx)
    .await?;
    if !is_caregiver {
        return Err(RecordError::invalid(
            "user_id",
            "is not an active user with the caregiver role",
        ));
    }
    let link: Uuid = sqlx::query_scalar(
        "insert into caregiver_patient (org_id, patient_id, user_id, relationship, is_primary, note)
         values ($1, $2, $3, $4, $5, $6) returning id",
    )
    .bind(p.org_id)
    .bind(id)
    .bind(new.user_id)
    .bind(&relationship)
    .bind(new.is_primary)
    .bind(&note)
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
    platform: &Platform,
    caller: &Caller,
    id: PatientId,
    link: CaregiverLinkId,
    patch: CaregiverPatch<'_>,
) -> Result<Caregiver, RecordError> {
    let id: Uuid = id.into();
    let link: Uuid = link.into();
    let mut tx = platform.db.begin().await?;
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
    sqlx::query(
        "update caregiver_patient set relationship = coalesce($2, relationship), is_primary = coalesce($3, is_primary),
                note = case when $4 then $5 else note end
          where id = $1",
    )
    .bind(link)
    .bind(&relationship)
    .bind(patch.is_primary)
    .bind(note.is_some())
    .bind(note.clone().flatten())
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
    platform: &Platform,
    caller: &Caller,
    id: PatientId,
    link: CaregiverLinkId,
) -> Result<(), RecordError> {
    let id: Uuid = id.into();
    let link: Uuid = link.into();
    let mut tx = platform.db.begin().await?;
    let p = administered(&mut tx, caller, id).await?;
    let current = caregiver(&mut tx, id, link).await?;
    if current.ended_at.is_none() {
        sqlx::query("update caregiver_patient set ended_at = greatest(now(), started_at + interval '1 millisecond') where id = $1")
            .bind(link)
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

/// A location fix.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Location {
    pub id: Uuid,
    pub ts: DateTime<Utc>,
    pub latitude: f64,
    pub longitude: f64,
    pub accuracy_m: Option<f64>,
    pub source: Option<String>,
}

/// Sortable fields of location lists.
pub const LOCATION_SORTS: &[SortField] = &[SortField {
    name: "ts",
    column: "l.ts",
    ty: SqlType::Timestamp,
}];

/// A new location fix.
pub struct NewLocation<'a> {
    pub ts: Option<DateTime<Utc>>,
    pub latitude: f64,
    pub longitude: f64,
    pub accuracy_m: Option<f64>,
    pub source: Option<&'a str>,
}

/// Records a location: the patient themself or their care team.
pub async fn add_location(
    platform: &Platform,
    caller: &Caller,
    id: Uuid,
    new: NewLocation<'_>,
) -> Result<Location, RecordError> {
    if !new.latitude.is_finite() || !(-90.0..=90.0).contains(&new.latitude) {
        return Err(RecordError::invalid(
            "latitude",
            "must be between -90 and 90",
        ));
    }
    if !new.longitude.is_finite() || !(-180.0..=180.0).contains(&new.longitude) {
        return Err(RecordError::invalid(
            "longitude",
            "must be between -180 and 180",
        ));
    }
    if new
        .accuracy_m
        .is_some_and(|a| !a.is_finite() || !(0.0..=100_000.0).contains(&a))
    {
        return Err(RecordError::invalid(
            "accuracy_m",
            "must be between 0 and 100000",
        ));
    }
    let ts = new.ts.unwrap_or_else(Utc::now);
    if ts > Utc::now() + chrono::Duration::minutes(5) {
        return Err(RecordError::invalid("ts", "must not be in the future"));
    }
    let source = optional_text("source", new.source, 40)?;
    let mut tx = platform.db.begin().await?;
    let p = if caller.principal.kind() == PrincipalKind::Patient {
        let p = visible(&mut tx, caller, id).await?;
        if p.id != caller.id() {
            return Err(NOT_FOUND);
        }
        p
    } else {
        writable(&mut tx, caller, id, Permission::PatientsManage).await?
    };
    let loc: Location = sqlx::query_as(
        "insert into patient_locations (org_id, patient_id, ts, latitude, longitude, accuracy_m, source)
         values ($1, $2, $3, $4, $5, $6, $7) returning id, ts, latitude, longitude, accuracy_m, source",
    )
    .bind(p.org_id)
    .bind(id)
    .bind(ts)
    .bind(new.latitude)
    .bind(new.longitude)
    .bind(new.accuracy_m)
    .bind(&source)
    .fetch_one(&mut *tx)
    .await?;
    caller
        .audit(Action::LocationCreate)
        .entity("patient", id)
        .org(p.org_id)
        .details(json!({"location_id": loc.id}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(loc)
}

/// Locations of a patient within an optional time range, newest first.
pub async fn locations(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    page: &PageRequest,
) -> Result<Page<Location>, RecordError> {
    let p = visible(conn, caller, id).await?;
    read_audit(conn, caller, &p, "locations").await?;
    let mut qb = QueryBuilder::new(
        "select l.id, l.ts, l.latitude, l.longitude, l.accuracy_m, l.source from patient_locations l where l.patient_id = ",
    );
    qb.push_bind(id);
    if let Some(f) = from {
        qb.push(" and l.ts >= ").push_bind(f);
    }
    if let Some(t) = to {
        qb.push(" and l.ts < ").push_bind(t);
    }
    page.push_after(&mut qb, "l.id");
    page.push_order_limit(&mut qb, "l.id");
    let rows: Vec<Location> = qb.build_query_as().fetch_all(conn).await?;
    Ok(page.finish(rows, |l| (json!(l.ts), l.id)))
}

/// An alert of a patient (read view; the alert service owns alerts).
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PatientAlert {
    pub id: Uuid,
    pub alert_type: String,
    pub alert_level: String,
    pub status: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Sortable fields of a patient's alerts.
pub const ALERT_SORTS: &[SortField] = &[SortField {
    name: "created_at",
    column: "a.created_at",
    ty: SqlType::Timestamp,
}];

/// Alert statuses (catalog `alert_statuses`).
pub const ALERT_STATUSES: &[&str] = &["created", "notified", "ack", "resolved", "closed"];

/// A patient's alerts, newest first, optionally of one status.
pub async fn alerts(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
    status: Option<&str>,
    page: &PageRequest,
) -> Result<Page<PatientAlert>, RecordError> {
    let p = visible(conn, caller, id).await?;
    read_audit(conn, caller, &p, "alerts").await?;
    let mut qb = QueryBuilder::new(
        "select a.id, a.alert_type, a.alert_level, a.status, a.description, a.created_at, a.acknowledged_at, a.resolved_at
           from alerts a where a.patient_id = ",
    );
    qb.push_bind(id);
    if let Some(s) = status {
        qb.push(" and a.status = ").push_bind(s.to_owned());
    }
    page.push_after(&mut qb, "a.id");
    page.push_order_limit(&mut qb, "a.id");
    let rows: Vec<PatientAlert> = qb.build_query_as().fetch_all(conn).await?;
    Ok(page.finish(rows, |a| (json!(a.created_at), a.id)))
}

/// A device of a patient (read view; the device service owns devices).
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PatientDevice {
    pub id: Uuid,
    pub serial: String,
    pub brand: Option<String>,
    pub model: Option<String>,
    pub device_type: String,
    pub active: bool,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub open_streams: Vec<String>,
}

/// The devices a patient owns.
pub async fn devices(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<Vec<PatientDevice>, RecordError> {
    let p = visible(conn, caller, id).await?;
    read_audit(conn, caller, &p, "devices").await?;
    Ok(sqlx::query_as(
        "select d.id, d.serial, d.brand, d.model, d.device_type, d.active, d.last_seen_at,
                coalesce((select array_agg(s.signal_type order by s.signal_type) from signal_streams s
                           where s.device_id = d.id and s.ended_at is null), '{}') as open_streams
           from devices d where d.owner_patient_id = $1 and d.archived_at is null order by d.serial",
    )
    .bind(id)
    .fetch_all(conn)
    .await?)
}

/// A ground-truth label: a real event a clinician marked, for evaluating models.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Label {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub event_type: String,
    pub onset: DateTime<Utc>,
    pub offset_at: DateTime<Utc>,
    pub annotated_by: Option<Uuid>,
    pub source: Option<String>,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const LABEL_COLUMNS: &str = "g.id, g.patient_id, g.event_type, g.onset, g.offset_at, g.annotated_by, g.source, g.note, g.created_at, g.updated_at";

/// Sortable fields of label lists.
pub const LABEL_SORTS: &[SortField] = &[SortField {
    name: "onset",
    column: "g.onset",
    ty: SqlType::Timestamp,
}];

/// A label's content.
pub struct LabelInput<'a> {
    pub event_type: &'a str,
    pub onset: DateTime<Utc>,
    pub offset_at: DateTime<Utc>,
    pub source: Option<&'a str>,
    pub note: Option<&'a str>,
}

async fn check_label(
    conn: &mut PgConnection,
    l: &LabelInput<'_>,
) -> Result<(String, Option<String>, Option<String>), RecordError> {
    if l.offset_at <= l.onset {
        return Err(RecordError::invalid("offset_at", "must be after onset"));
    }
    if l.onset > Utc::now() {
        return Err(RecordError::invalid("onset", "must not be in the future"));
    }
    let event = catalog_code(conn, "event_types", "event_type", l.event_type).await?;
    Ok((
        event,
        optional_text("source", l.source, 80)?,
        optional_text("note", l.note, 2000)?,
    ))
}

/// Labels of a patient.
pub async fn labels(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
    page: &PageRequest,
) -> Result<Page<Label>, RecordError> {
    let p = visible(conn, caller, id).await?;
    read_audit(conn, caller, &p, "ground_truth").await?;
    let mut qb = QueryBuilder::new(format!(
        "select {LABEL_COLUMNS} from ground_truth_labels g where g.patient_id = "
    ));
    qb.push_bind(id);
    page.push_after(&mut qb, "g.id");
    page.push_order_limit(&mut qb, "g.id");
    let rows: Vec<Label> = qb.build_query_as().fetch_all(conn).await?;
    Ok(page.finish(rows, |l| (json!(l.onset), l.id)))
}

async fn label(conn: &mut PgConnection, patient: Uuid, id: Uuid) -> Result<Label, RecordError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {LABEL_COLUMNS} from ground_truth_labels g where g.id = $1 and g.patient_id = $2"
    )))
    .bind(id)
    .bind(patient)
    .fetch_optional(conn)
    .await?
    .ok_or(RecordError::NotFound("HG-LABEL-NOT-FOUND", "no such label"))
}

/// One label.
pub async fn get_label(
    conn: &mut PgConnection,
    caller: &Caller,
    id: PatientId,
    label_id: LabelId,
) -> Result<Label, RecordError> {
    let label_id: Uuid = label_id.into();
    let id: Uuid = id.into();
    let p = visible(conn, caller, id).await?;
    read_audit(conn, caller, &p, "ground_truth").await?;
    label(conn, id, label_id).await
}

/// Adds a label (care team and org_admins).
pub async fn add_label(
    platform: &Platform,
    caller: &Caller,
    id: Uuid,
    input: LabelInput<'_>,
) -> Result<Label, RecordError> {
    let mut tx = platform.db.begin().await?;
    let p = writable(&mut tx, caller, id, Permission::GroundTruthManage).await?;
    let (event, source, note) = check_label(&mut tx, &input).await?;
    let l: Label = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into ground_truth_labels as g (org_id, patient_id, event_type, onset, offset_at, annotated_by, source, note)
         values ($1, $2, $3, $4, $5, $6, $7, $8) returning {LABEL_COLUMNS}"
    )))
    .bind(p.org_id)
    .bind(id)
    .bind(&event)
    .bind(input.onset)
    .bind(input.offset_at)
    .bind(caller.id())
    .bind(&source)
    .bind(&note)
    .fetch_one(&mut *tx)
    .await?;
    caller
        .audit(Action::GroundTruthCreate)
        .entity("ground_truth_label", l.id)
        .org(p.org_id)
        .details(json!({"patient_id": id, "event_type": event}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(l)
}

/// Replaces a label's content.
pub async fn update_label(
    platform: &Platform,
    caller: &Caller,
    id: PatientId,
    label_id: LabelId,
    input: LabelInput<'_>,
) -> Result<Label, RecordError> {
    let label_id: Uuid = label_id.into();
    let id: Uuid = id.into();
    let mut tx = platform.db.begin().await?;
    let p = writable(&mut tx, caller, id, Permission::GroundTruthManage).await?;
    label(&mut tx, id, label_id).await?;
    let (event, source, note) = check_label(&mut tx, &input).await?;
    let l: Label = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update ground_truth_labels g set event_type = $2, onset = $3, offset_at = $4, source = $5, note = $6
          where g.id = $1 returning {LABEL_COLUMNS}"
    )))
    .bind(label_id)
    .bind(&event)
    .bind(input.onset)
    .bind(input.offset_at)
    .bind(&source)
    .bind(&note)
    .fetch_one(&mut *tx)
    .await?;
    caller
        .audit(Action::GroundTruthUpdate)
        .entity("ground_truth_label", label_id)
        .org(p.org_id)
        .details(json!({"patient_id": id, "event_type": event}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(l)
}

/// Deletes a label.
pub async fn delete_label(
    platform: &Platform,
    caller: &Caller,
    id: PatientId,
    label_id: LabelId,
) -> Result<(), RecordError> {
    let label_id: Uuid = label_id.into();
    let id: Uuid = id.into();
    let mut tx = platform.db.begin().await?;
    let p = writable(&mut tx, caller, id, Permission::GroundTruthManage).await?;
    let l = label(&mut tx, id, label_id).await?;
    sqlx::query("delete from ground_truth_labels where id = $1")
        .bind(label_id)
        .execute(&mut *tx)
        .await?;
    caller
        .audit(Action::GroundTruthDelete)
        .entity("ground_truth_label", label_id)
        .org(p.org_id)
        .details(json!({"patient_id": id, "event_type": l.event_type, "onset": l.onset}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
