//! Signal streams of a device: opened and closed by org admins and the patient's care team, at most one open per device and signal type.

use super::*;
use hg_platform::page::Keyed;
use serde_json::Value;
use sqlx::PgPool;

/// A signal stream.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Stream {
    pub id: Uuid,
    pub org_id: Uuid,
    pub patient_id: Uuid,
    pub device_id: Uuid,
    pub signal_type: String,
    pub sample_rate_hz: f64,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub open: bool,
}

impl Keyed for Stream {
    fn sort_key(&self, _: &str) -> Value {
        json!(self.started_at)
    }
    fn key_id(&self) -> Uuid {
        self.id
    }
}

pub(super) const STREAM_COLUMNS: &str = "s.id, s.org_id, s.patient_id, s.device_id, s.signal_type, s.sample_rate_hz, s.started_at, s.ended_at, s.ended_at is null as open";

/// Sortable fields of stream lists.
pub const STREAM_SORTS: &[SortField] = &[SortField {
    name: "started_at",
    column: "s.started_at",
    ty: SqlType::Timestamp,
}];

/// Appends the stream visibility: its device is visible, or its patient is.
pub(super) fn push_stream_scope(qb: &mut QueryBuilder<Postgres>, caller: &Caller) {
    if caller.scope.all {
        return;
    }
    qb.push(" and (exists (select 1 from devices d where d.id = s.device_id");
    caller.scope.push_device_filter(qb, "d");
    qb.push(") or exists (select 1 from patients p where p.id = s.patient_id");
    caller.scope.push_patient_filter(qb, "p");
    qb.push("))");
}

/// Streams of a device, optionally only open or closed ones, or of one signal type.
pub async fn streams(
    conn: &mut PgConnection,
    caller: &Caller,
    device: Uuid,
    open: Option<bool>,
    signal: Option<&str>,
    page: &PageRequest,
) -> Result<Page<Stream>, RecordError> {
    get(conn, caller, device).await?;
    let mut qb = QueryBuilder::new(format!(
        "select {STREAM_COLUMNS} from signal_streams s where s.device_id = "
    ));
    qb.push_bind(device);
    push_stream_scope(&mut qb, caller);
    if let Some(o) = open {
        qb.push(if o {
            " and s.ended_at is null"
        } else {
            " and s.ended_at is not null"
        });
    }
    if let Some(t) = signal {
        qb.push(" and s.signal_type = ").push_bind(t.to_owned());
    }
    Ok(page.fetch(conn, qb, "s.id").await?)
}

/// One stream the caller can see.
pub async fn stream(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<Stream, RecordError> {
    let mut qb = QueryBuilder::new(format!(
        "select {STREAM_COLUMNS} from signal_streams s where s.id = "
    ));
    qb.push_bind(id);
    push_stream_scope(&mut qb, caller);
    qb.build_query_as()
        .fetch_optional(conn)
        .await?
        .ok_or(STREAM_NOT_FOUND)
}

/// Whether the caller may open or close streams of `patient` in `org`: org_admins and the patient's
/// care team.
pub(crate) async fn may_manage_streams(
    conn: &mut PgConnection,
    caller: &Caller,
    org: Uuid,
    patient: Uuid,
) -> Result<(), RecordError> {
    if caller.administers(org) {
        return Ok(());
    }
    if caller.principal.kind() == PrincipalKind::User
        && caller.can(Permission::PatientsManage, Some(org))
        && caller.scope.team_orgs.contains(&org)
    {
        let in_team: bool = sqlx::query_scalar!(
            "select exists(select 1 from patient_care_team pct join care_team_member m on m.team_id = pct.team_id
                            where pct.patient_id = $1 and m.user_id = $2) as \"exists!\"",
            patient,
            caller.id(),
        )
        .fetch_one(conn)
        .await?;
        if in_team {
            return Ok(());
        }
    }
    Err(RecordError::Forbidden(
        "only the organization's administrators or the patient's care team manage streams".into(),
    ))
}

/// A stream to open.
pub struct NewStream<'a> {
    pub signal_type: &'a str,
    pub sample_rate_hz: f64,
    /// Defaults to the device's owner.
    pub patient_id: Option<Uuid>,
}

/// Opens a stream on an active device (one open stream per device and signal type).
pub async fn open_stream(
    db: &PgPool,
    caller: &Caller,
    device: Uuid,
    new: NewStream<'_>,
) -> Result<Stream, RecordError> {
    if !new.sample_rate_hz.is_finite() || new.sample_rate_hz <= 0.0 || new.sample_rate_hz > 10_000.0
    {
        return Err(RecordError::invalid(
            "sample_rate_hz",
            "must be greater than 0 and at most 10000",
        ));
    }
    let mut tx = db.begin().await?;
    let d = get(&mut tx, caller, device).await?;
    if !d.active {
        return Err(RecordError::Unprocessable {
            id: "HG-DEVICE-INACTIVE",
            message: "the device is not active".into(),
        });
    }
    let patient = new.patient_id.or(d.owner_patient_id).ok_or_else(|| {
        RecordError::invalid("patient_id", "is required when the device has no owner")
    })?;
    check_owner(&mut tx, d.org_id, Some(patient))
        .await
        .map_err(|_| {
            RecordError::invalid(
                "patient_id",
                "is not a patient of the device's organization",
            )
        })?;
    may_manage_streams(&mut tx, caller, d.org_id, patient).await?;
    let signal = catalog_code(&mut tx, "signal_types", "signal_type", new.signal_type).await?;
    let s: Stream = sqlx::query_as!(
        Stream,
        r#"insert into signal_streams as s (org_id, patient_id, device_id, signal_type, sample_rate_hz)
           values ($1, $2, $3, $4, $5)
           returning s.id, s.org_id, s.patient_id, s.device_id, s.signal_type, s.sample_rate_hz,
                     s.started_at, s.ended_at, s.ended_at is null as "open!""#,
        d.org_id,
        patient,
        device,
        &signal,
        new.sample_rate_hz
    )
    .fetch_one(&mut *tx)
    .await?;
    caller
        .audit(Action::StreamOpen)
        .entity("signal_stream", s.id)
        .org(d.org_id)
        .details(json!({"device_id": device, "patient_id": patient, "signal_type": signal}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(s)
}

/// Closes an open stream at `ended_at` (default now).
pub async fn close_stream(
    db: &PgPool,
    caller: &Caller,
    id: Uuid,
    ended_at: Option<DateTime<Utc>>,
) -> Result<Stream, RecordError> {
    let mut tx = db.begin().await?;
    let s = stream(&mut tx, caller, id).await?;
    may_manage_streams(&mut tx, caller, s.org_id, s.patient_id).await?;
    if !s.open {
        return Err(RecordError::Unprocessable {
            id: "HG-STREAM-CLOSED",
            message: "the stream is already closed".into(),
        });
    }
    let end = ended_at.unwrap_or_else(Utc::now);
    if end <= s.started_at {
        return Err(RecordError::invalid(
            "ended_at",
            "must be after the stream started",
        ));
    }
    if end > Utc::now() + chrono::Duration::minutes(5) {
        return Err(RecordError::invalid(
            "ended_at",
            "must not be in the future",
        ));
    }
    let s: Stream = sqlx::query_as!(
        Stream,
        r#"update signal_streams s set ended_at = $2 where s.id = $1
           returning s.id, s.org_id, s.patient_id, s.device_id, s.signal_type, s.sample_rate_hz,
                     s.started_at, s.ended_at, s.ended_at is null as "open!""#,
        id,
        end
    )
    .fetch_one(&mut *tx)
    .await?;
    caller
        .audit(Action::StreamClose)
        .entity("signal_stream", id)
        .org(s.org_id)
        .details(json!({"ended_at": end}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(s)
}
