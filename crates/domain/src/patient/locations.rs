//! Where a patient was: positions reported by the patient, their devices or their care team.

use super::*;
use hg_platform::page::Keyed;
use serde_json::Value;
use sqlx::PgPool;

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

impl Keyed for Location {
    fn sort_key(&self, _: &str) -> Value {
        json!(self.ts)
    }
    fn key_id(&self) -> Uuid {
        self.id
    }
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
    db: &PgPool,
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
    let mut tx = db.begin().await?;
    let p = if caller.principal.kind() == PrincipalKind::Patient {
        let p = visible(&mut tx, caller, id).await?;
        if p.id != caller.id() {
            return Err(NOT_FOUND);
        }
        p
    } else {
        writable(&mut tx, caller, id, Permission::PatientsManage).await?
    };
    let loc: Location = sqlx::query_as!(
        Location,
        "insert into patient_locations
                (org_id, patient_id, ts, latitude, longitude, accuracy_m, source)
         values ($1, $2, $3, $4, $5, $6, $7)
         returning id, ts, latitude, longitude, accuracy_m, source",
        p.org_id,
        id,
        ts,
        new.latitude,
        new.longitude,
        new.accuracy_m,
        source.as_deref()
    )
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
    Ok(page.fetch(conn, qb, "l.id").await?)
}
