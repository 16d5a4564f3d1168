//! Read views of a patient: their alerts and their devices.

use super::*;
use hg_platform::page::Keyed;
use serde_json::Value;

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

impl Keyed for PatientAlert {
    fn sort_key(&self, _: &str) -> Value {
        json!(self.created_at)
    }
    fn key_id(&self) -> Uuid {
        self.id
    }
}

/// Sortable fields of a patient's alerts.
pub const ALERT_SORTS: &[SortField] = &[SortField {
    name: "created_at",
    column: "a.created_at",
    ty: SqlType::Timestamp,
}];

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
    Ok(page.fetch(conn, qb, "a.id").await?)
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
    Ok(sqlx::query_as!(
        PatientDevice,
        r#"select d.id, d.serial, d.brand, d.model, d.device_type, d.active, d.last_seen_at,
                  coalesce((select array_agg(s.signal_type order by s.signal_type)
                              from signal_streams s
                             where s.device_id = d.id and s.ended_at is null), '{}')
                      as "open_streams!"
             from devices d
            where d.owner_patient_id = $1 and d.archived_at is null
            order by d.serial"#,
        id
    )
    .fetch_all(conn)
    .await?)
}
