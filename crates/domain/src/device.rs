//! Devices and their signal streams (spec/02 "Devices, streams, time series"): unique serials, an
//! owner patient of the same organization, a credential shown once and stored as a digest, streams
//! opened and closed per device and signal type (one open stream per pair), and bindings to external
//! time-series stores with their tags.
//!
//! org_admins manage devices and credentials; org_admins and the care team of a stream's patient
//! open and close streams; reading follows the device scope of `access` (org-wide roles, and the
//! devices of the patients one can see).

use chrono::{DateTime, Utc};
use hg_platform::Platform;
use hg_platform::audit::Action;
use hg_platform::auth::PrincipalKind;
use hg_platform::page::{Page, PageRequest, SortField, SqlType};
use serde::Serialize;
use serde_json::json;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::catalog::Permission;
use crate::identity::{opaque_token, token_digest};
use crate::ids::{BindingId, StreamId};
use crate::records::{Caller, RecordError, catalog_code, optional_text};

const NOT_FOUND: RecordError = RecordError::NotFound("HG-DEVICE-NOT-FOUND", "no such device");
const STREAM_NOT_FOUND: RecordError =
    RecordError::NotFound("HG-STREAM-NOT-FOUND", "no such stream");

/// Device types (catalog `device_types`).
pub const DEVICE_TYPES: &[&str] = &["ECG_1LEAD", "PULSE_OX", "BP_CUFF", "WEARABLE_MULTI"];
/// Signal types (catalog `signal_types`).
pub const SIGNAL_TYPES: &[&str] = &["ECG", "HR", "SpO2", "HRV", "BP", "TEMP", "RESP"];

/// A device.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Device {
    pub id: Uuid,
    pub org_id: Uuid,
    pub serial: String,
    pub brand: Option<String>,
    pub model: Option<String>,
    pub device_type: String,
    pub owner_patient_id: Option<Uuid>,
    pub active: bool,
    pub has_credential: bool,
    pub credential_rotated_at: Option<DateTime<Utc>>,
    pub registered_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "d.id, d.org_id, d.serial, d.brand, d.model, d.device_type, d.owner_patient_id, d.active,
    d.credential_hash is not null as has_credential, d.credential_rotated_at, d.registered_at, d.last_seen_at,
    d.archived_at, d.created_at, d.updated_at";

/// Sortable fields of the device list.
pub const SORTS: &[SortField] = &[
    SortField {
        name: "serial",
        column: "d.serial",
        ty: SqlType::Text,
    },
    SortField {
        name: "registered_at",
        column: "d.registered_at",
        ty: SqlType::Timestamp,
    },
];

/// Filters of the device list.
#[derive(Default)]
pub struct Filters {
    pub org: Option<Uuid>,
    pub owner: Option<Uuid>,
    pub device_type: Option<&'static str>,
    pub active: Option<bool>,
    pub q: Option<String>,
}

fn push_filters(qb: &mut QueryBuilder<Postgres>, caller: &Caller, f: &Filters) {
    qb.push(" and d.archived_at is null");
    caller.scope.push_device_filter(qb, "d");
    if let Some(o) = f.org {
        qb.push(" and d.org_id = ").push_bind(o);
    }
    if let Some(o) = f.owner {
        qb.push(" and d.owner_patient_id = ").push_bind(o);
    }
    if let Some(t) = f.device_type {
        qb.push(" and d.device_type = ").push_bind(t);
    }
    if let Some(a) = f.active {
        qb.push(" and d.active = ").push_bind(a);
    }
    if let Some(q) = &f.q {
        let like = format!(
            "%{}%",
            q.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        qb.push(" and (d.serial ilike ")
            .push_bind(like.clone())
            .push(" or d.brand ilike ")
            .push_bind(like.clone())
            .push(" or d.model ilike ")
            .push_bind(like)
            .push(")");
    }
}

/// The devices the caller can see.
pub async fn list(
    conn: &mut PgConnection,
    caller: &Caller,
    f: &Filters,
    page: &PageRequest,
) -> Result<Page<Device>, RecordError> {
    let mut qb = QueryBuilder::new(format!("select {COLUMNS} from devices d where true"));
    push_filters(&mut qb, caller, f);
    page.push_after(&mut qb, "d.id");
    page.push_order_limit(&mut qb, "d.id");
    let rows: Vec<Device> = qb.build_query_as().fetch_all(&mut *conn).await?;
    let mut out = page.finish(rows, |d| {
        let v = if page.sort.field.name == "registered_at" {
            json!(d.registered_at)
        } else {
            json!(d.serial)
        };
        (v, d.id)
    });
    out.total = Some(page.total(&out, count(conn, caller, f)).await?);
    Ok(out)
}

/// How many devices the caller can see with `f`.
pub async fn count(
    conn: &mut PgConnection,
    caller: &Caller,
    f: &Filters,
) -> Result<i64, RecordError> {
    let mut qb = QueryBuilder::new("select count(*) from devices d where true");
    push_filters(&mut qb, caller, f);
    Ok(qb.build_query_scalar().fetch_one(conn).await?)
}

/// One device the caller can see.
pub async fn get(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<Device, RecordError> {
    let mut qb = QueryBuilder::new(format!(
        "select {COLUMNS} from devices d where d.archived_at is null and d.id = "
    ));
    qb.push_bind(id);
    caller.scope.push_device_filter(&mut qb, "d");
    qb.build_query_as()
        .fetch_optional(conn)
        .await?
        .ok_or(NOT_FOUND)
}

async fn administered(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<Device, RecordError> {
    let d = get(conn, caller, id).await?;
    if caller.administers(d.org_id) {
        Ok(d)
    } else {
        Err(RecordError::Forbidden(
            "only the organization's administrators manage devices".into(),
        ))
    }
}

fn check_serial(serial: &str) -> Result<String, RecordError> {
    let s = serial.trim();
    let ok = (1..=80).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/'));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(RecordError::invalid(
            "serial",
            "must be 1-80 characters: letters, digits and - _ . : /",
        ))
    }
}

async fn check_owner(
    conn: &mut PgConnection,
    org: Uuid,
    owner: Option<Uuid>,
) -> Result<(), RecordError> {
    if let Some(p) = owner {
        let ok: bool = sqlx::query_scalar("select exists(select 1 from patients where id = $1 and org_id = $2 and archived_at is null)")
            .bind(p)
            .bind(org)
            .fetch_one(conn)
            .await?;
        if !ok {
            return Err(RecordError::invalid(
                "owner_patient_id",
                "is not a patient of the device's organization",
            ));
        }
    }
    Ok(())
}

/// A new device.
pub struct NewDevice<'a> {
    pub org_id: Uuid,
    pub serial: &'a str,
    pub brand: Option<&'a str>,
    pub model: Option<&'a str>,
    pub device_type: &'a str,
    pub owner_patient_id: Option<Uuid>,
    pub active: Option<bool>,
}

/// Registers a device in an organization the caller administers.
pub async fn create(
    platform: &Platform,
    caller: &Caller,
    new: NewDevice<'_>,
) -> Result<Device, RecordError> {
    let serial = check_serial(new.serial)?;
    let brand = optional_text("brand", new.brand, 80)?;
    let model = optional_text("model", new.model, 80)?;
    let mut tx = platform.db.begin().await?;
    if !caller.administers(new.org_id) {
        let member = caller.scope.member_orgs.contains(&new.org_id);
        return Err(if member {
            RecordError::Forbidden("only the organization's administrators register devices".into())
        } else {
            RecordError::invalid("org_id", "is not an organization you can see")
        });
    }
    let device_type = catalog_code(&mut tx, "device_types", "device_type", new.device_type).await?;
    check_owner(&mut tx, new.org_id, new.owner_patient_id).await?;
    let d: Device = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into devices as d (org_id, serial, brand, model, device_type, owner_patient_id, active)
         values ($1, $2, $3, $4, $5, $6, $7) returning {COLUMNS}"
    )))
    .bind(new.org_id)
    .bind(&serial)
    .bind(&brand)
    .bind(&model)
    .bind(&device_type)
    .bind(new.owner_patient_id)
    .bind(new.active.unwrap_or(true))
    .fetch_one(&mut *tx)
    .await?;
    caller
        .audit(Action::DeviceCreate)
        .entity("device", d.id)
        .org(d.org_id)
        .details(json!({"serial": serial, "owner_patient_id": new.owner_patient_id}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(d)
}

/// Changes to a device (`Some(None)` unassigns the owner).
#[derive(Default)]
pub struct DevicePatch<'a> {
    pub brand: Option<Option<&'a str>>,
    pub model: Option<Option<&'a str>>,
    pub device_type: Option<&'a str>,
    pub owner_patient_id: Option<Option<Uuid>>,
    pub active: Option<bool>,
}

/// Edits a device: owner, type, activation (org_admins).
pub async fn update(
    platform: &Platform,
    caller: &Caller,
    id: Uuid,
    patch: DevicePatch<'_>,
) -> Result<Device, RecordError> {
    let mut tx = platform.db.begin().await?;
    let current = administered(&mut tx, caller, id).await?;
    let brand = patch
        .brand
        .map(|b| optional_text("brand", b, 80))
        .transpose()?;
    let model = patch
        .model
        .map(|m| optional_text("model", m, 80))
        .transpose()?;
    let device_type = match patch.device_type {
        Some(t) => Some(catalog_code(&mut tx, "device_types", "device_type", t).await?),
        None => None,
    };
    if let Some(owner) = patch.owner_patient_id {
        check_owner(&mut tx, current.org_id, owner).await?;
    }
    let d: Device = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update devices d set brand = case when $2 then $3 else d.brand end,
                model = case when $4 then $5 else d.model end,
                device_type = coalesce($6, d.device_type),
                owner_patient_id = case when $7 then $8 else d.owner_patient_id end,
                active = coalesce($9, d.active)
          where d.id = $1 returning {COLUMNS}"
    )))
    .bind(id)
    .bind(brand.is_some())
    .bind(brand.clone().flatten())
    .bind(model.is_some())
    .bind(model.clone().flatten())
    .bind(&device_type)
    .bind(patch.owner_patient_id.is_some())
    .bind(patch.owner_patient_id.flatten())
    .bind(patch.active)
    .fetch_one(&mut *tx)
    .await?;
    caller
        .audit(Action::DeviceUpdate)
            .entity("device", id)
            .org(d.org_id)
            .details(json!({"owner_before": current.owner_patient_id, "owner_after": d.owner_patient_id, "active": d.active, "device_type": d.device_type}))
            .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(d)
}

/// Archives a device, closing its open streams.
pub async fn archive(platform: &Platform, caller: &Caller, id: Uuid) -> Result<(), RecordError> {
    let mut tx = platform.db.begin().await?;
    let d = administered(&mut tx, caller, id).await?;
    sqlx::query("update signal_streams set ended_at = greatest(now(), started_at + interval '1 millisecond') where device_id = $1 and ended_at is null")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("update devices set archived_at = now(), active = false, credential_hash = null where id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    caller
        .audit(Action::DeviceArchive)
        .entity("device", id)
        .org(d.org_id)
        .details(json!({"serial": d.serial}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// A device credential, shown once: `Authorization: Device <credential>` on telemetry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Credential {
    pub device_id: Uuid,
    /// `<device id>.<secret>`.
    pub credential: String,
    pub rotated_at: DateTime<Utc>,
}

/// Issues (or rotates: the old one stops working) the device's credential.
pub async fn rotate_credential(
    platform: &Platform,
    caller: &Caller,
    id: Uuid,
) -> Result<Credential, RecordError> {
    let mut tx = platform.db.begin().await?;
    let d = administered(&mut tx, caller, id).await?;
    if !d.active {
        return Err(RecordError::Unprocessable {
            id: "HG-DEVICE-INACTIVE",
            message: "activate the device first".into(),
        });
    }
    let (secret, digest) = opaque_token();
    let rotated_at: DateTime<Utc> = sqlx::query_scalar(
        "update devices set credential_hash = $2, credential_rotated_at = now() where id = $1 returning credential_rotated_at",
    )
    .bind(id)
    .bind(digest)
    .fetch_one(&mut *tx)
    .await?;
    caller
        .audit(Action::DeviceCredentialRotate)
        .entity("device", id)
        .org(d.org_id)
        .details(json!({"had_credential": d.has_credential}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(Credential {
        device_id: id,
        credential: format!("{id}.{secret}"),
        rotated_at,
    })
}

/// Checks a presented `<device id>.<secret>` credential; returns the device's id and organization.
pub async fn authenticate(
    conn: &mut PgConnection,
    presented: &str,
) -> Result<Option<(Uuid, Uuid)>, RecordError> {
    let Some((id, secret)) = presented.trim().split_once('.') else {
        return Ok(None);
    };
    let Ok(id) = id.parse::<Uuid>() else {
        return Ok(None);
    };
    let digest = token_digest(secret);
    let row: Option<(Uuid, Uuid)> = sqlx::query_as(
        "select id, org_id from devices where id = $1 and credential_hash = $2 and active and archived_at is null",
    )
    .bind(id)
    .bind(digest)
    .fetch_optional(conn)
    .await?;
    Ok(row)
}

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

const STREAM_COLUMNS: &str = "s.id, s.org_id, s.patient_id, s.device_id, s.signal_type, s.sample_rate_hz, s.started_at, s.ended_at, s.ended_at is null as open";

/// Sortable fields of stream lists.
pub const STREAM_SORTS: &[SortField] = &[SortField {
    name: "started_at",
    column: "s.started_at",
    ty: SqlType::Timestamp,
}];

/// Appends the stream visibility: its device is visible, or its patient is.
fn push_stream_scope(qb: &mut QueryBuilder<Postgres>, caller: &Caller) {
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
    page.push_after(&mut qb, "s.id");
    page.push_order_limit(&mut qb, "s.id");
    let rows: Vec<Stream> = qb.build_query_as().fetch_all(conn).await?;
    Ok(page.finish(rows, |s| (json!(s.started_at), s.id)))
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
async fn may_manage_streams(
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
        let in_team: bool = sqlx::query_scalar(
            "select exists(select 1 from patient_care_team pct join care_team_member m on m.team_id = pct.team_id
                            where pct.patient_id = $1 and m.user_id = $2)",
        )
        .bind(patient)
        .bind(caller.id())
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
    platform: &Platform,
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
    let mut tx = platform.db.begin().await?;
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
    let s: Stream = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into signal_streams as s (org_id, patient_id, device_id, signal_type, sample_rate_hz)
         values ($1, $2, $3, $4, $5) returning {STREAM_COLUMNS}"
    )))
    .bind(d.org_id)
    .bind(patient)
    .bind(device)
    .bind(&signal)
    .bind(new.sample_rate_hz)
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
    platform: &Platform,
    caller: &Caller,
    id: Uuid,
    ended_at: Option<DateTime<Utc>>,
) -> Result<Stream, RecordError> {
    let mut tx = platform.db.begin().await?;
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
    let s: Stream = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update signal_streams s set ended_at = $2 where s.id = $1 returning {STREAM_COLUMNS}"
    )))
    .bind(id)
    .bind(end)
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

/// A binding of a stream to an external time-series store.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Binding {
    pub id: Uuid,
    pub stream_id: Uuid,
    pub influx_org: Option<String>,
    pub bucket: String,
    pub measurement: String,
    pub retention_hint: Option<String>,
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub tags: sqlx::types::Json<std::collections::BTreeMap<String, String>>,
    pub created_at: DateTime<Utc>,
}

const BINDING_COLUMNS: &str = "b.id, b.stream_id, b.influx_org, b.bucket, b.measurement, b.retention_hint,
    coalesce((select jsonb_object_agg(t.key, t.value) from timeseries_binding_tag t where t.binding_id = b.id), '{}'::jsonb) as tags,
    b.created_at";

async fn administered_stream(
    conn: &mut PgConnection,
    caller: &Caller,
    stream_id: Uuid,
) -> Result<Stream, RecordError> {
    let s = stream(conn, caller, stream_id).await?;
    if caller.administers(s.org_id) {
        Ok(s)
    } else {
        Err(RecordError::Forbidden(
            "only the organization's administrators manage bindings".into(),
        ))
    }
}

async fn binding(
    conn: &mut PgConnection,
    stream_id: Uuid,
    id: Uuid,
) -> Result<Binding, RecordError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {BINDING_COLUMNS} from timeseries_binding b where b.id = $1 and b.stream_id = $2"
    )))
    .bind(id)
    .bind(stream_id)
    .fetch_optional(conn)
    .await?
    .ok_or(RecordError::NotFound(
        "HG-BINDING-NOT-FOUND",
        "no such binding",
    ))
}

/// Bindings of a stream.
pub async fn bindings(
    conn: &mut PgConnection,
    caller: &Caller,
    stream_id: Uuid,
) -> Result<Vec<Binding>, RecordError> {
    stream(conn, caller, stream_id).await?;
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {BINDING_COLUMNS} from timeseries_binding b where b.stream_id = $1 order by b.created_at, b.id"
    )))
    .bind(stream_id)
    .fetch_all(conn)
    .await?)
}

/// A new binding.
pub struct NewBinding<'a> {
    pub influx_org: Option<&'a str>,
    pub bucket: &'a str,
    pub measurement: &'a str,
    pub retention_hint: Option<&'a str>,
    pub tags: &'a std::collections::BTreeMap<String, String>,
}

fn check_tag(key: &str, value: &str) -> Result<(), RecordError> {
    if key.is_empty()
        || key.len() > 120
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(RecordError::invalid(
            "tags",
            format!("`{key}` is not a tag key (1-120 of letters, digits, _ - .)"),
        ));
    }
    if value.len() > 500 || value.chars().any(char::is_control) {
        return Err(RecordError::invalid(
            "tags",
            format!("the value of `{key}` is too long or has control characters"),
        ));
    }
    Ok(())
}

/// Binds a stream to an external store (org_admins).
pub async fn add_binding(
    platform: &Platform,
    caller: &Caller,
    stream_id: Uuid,
    new: NewBinding<'_>,
) -> Result<Binding, RecordError> {
    let bucket = crate::records::required_text("bucket", new.bucket, 120)?;
    let measurement = crate::records::required_text("measurement", new.measurement, 120)?;
    let influx_org = optional_text("influx_org", new.influx_org, 120)?;
    let retention = optional_text("retention_hint", new.retention_hint, 40)?;
    for (k, v) in new.tags {
        check_tag(k, v)?;
    }
    let mut tx = platform.db.begin().await?;
    let s = administered_stream(&mut tx, caller, stream_id).await?;
    let id: Uuid = sqlx::query_scalar(
        "insert into timeseries_binding (org_id, stream_id, influx_org, bucket, measurement, retention_hint)
         values ($1, $2, $3, $4, $5, $6) returning id",
    )
    .bind(s.org_id)
    .bind(stream_id)
    .bind(&influx_org)
    .bind(&bucket)
    .bind(&measurement)
    .bind(&retention)
    .fetch_one(&mut *tx)
    .await?;
    for (k, v) in new.tags {
        sqlx::query(
            "insert into timeseries_binding_tag (binding_id, key, value) values ($1, $2, $3)",
        )
        .bind(id)
        .bind(k)
        .bind(v)
        .execute(&mut *tx)
        .await?;
    }
    caller
        .audit(Action::BindingCreate)
        .entity("timeseries_binding", id)
        .org(s.org_id)
        .details(json!({"stream_id": stream_id, "bucket": bucket, "measurement": measurement}))
        .record(&mut tx)
        .await?;
    let b = binding(&mut tx, stream_id, id).await?;
    tx.commit().await?;
    Ok(b)
}

/// Sets (creates or replaces) one tag of a binding.
pub async fn set_tag(
    platform: &Platform,
    caller: &Caller,
    stream_id: StreamId,
    id: BindingId,
    key: &str,
    value: &str,
) -> Result<Binding, RecordError> {
    let stream_id: Uuid = stream_id.into();
    let id: Uuid = id.into();
    check_tag(key, value).map_err(|e| match e {
        RecordError::Invalid { problem, .. } => RecordError::invalid("key", problem),
        other => other,
    })?;
    let mut tx = platform.db.begin().await?;
    let s = administered_stream(&mut tx, caller, stream_id).await?;
    binding(&mut tx, stream_id, id).await?;
    sqlx::query(
        "insert into timeseries_binding_tag (binding_id, key, value) values ($1, $2, $3)
         on conflict (binding_id, key) do update set value = excluded.value",
    )
    .bind(id)
    .bind(key)
    .bind(value)
    .execute(&mut *tx)
    .await?;
    caller
        .audit(Action::BindingTagSet)
        .entity("timeseries_binding", id)
        .org(s.org_id)
        .details(json!({"key": key}))
        .record(&mut tx)
        .await?;
    let b = binding(&mut tx, stream_id, id).await?;
    tx.commit().await?;
    Ok(b)
}

/// Removes one tag of a binding.
pub async fn remove_tag(
    platform: &Platform,
    caller: &Caller,
    stream_id: StreamId,
    id: BindingId,
    key: &str,
) -> Result<(), RecordError> {
    let stream_id: Uuid = stream_id.into();
    let id: Uuid = id.into();
    let mut tx = platform.db.begin().await?;
    let s = administered_stream(&mut tx, caller, stream_id).await?;
    binding(&mut tx, stream_id, id).await?;
    let removed =
        sqlx::query("delete from timeseries_binding_tag where binding_id = $1 and key = $2")
            .bind(id)
            .bind(key)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    if removed == 0 {
        return Err(RecordError::NotFound("HG-TAG-NOT-FOUND", "no such tag"));
    }
    caller
        .audit(Action::BindingTagRemove)
        .entity("timeseries_binding", id)
        .org(s.org_id)
        .details(json!({"key": key}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes a binding (the stream's data stays; only the mirror configuration goes).
pub async fn delete_binding(
    platform: &Platform,
    caller: &Caller,
    stream_id: StreamId,
    id: BindingId,
) -> Result<(), RecordError> {
    let stream_id: Uuid = stream_id.into();
    let id: Uuid = id.into();
    let mut tx = platform.db.begin().await?;
    let s = administered_stream(&mut tx, caller, stream_id).await?;
    binding(&mut tx, stream_id, id).await?;
    sqlx::query("delete from timeseries_binding where id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    caller
        .audit(Action::BindingDelete)
        .entity("timeseries_binding", id)
        .org(s.org_id)
        .details(json!({"stream_id": stream_id}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
