//! Devices and their signal streams (spec/02 "Devices, streams, time series"): unique serials, an
//! owner patient of the same organization, a credential shown once and stored as a digest, streams
//! opened and closed per device and signal type (one open stream per pair), and bindings to external
//! time-series stores with their tags.
//!
//! org_admins manage devices and credentials; org_admins and the care team of a stream's patient
//! open and close streams; reading follows the device scope of `access` (org-wide roles, and the
//! devices of the patients one can see).

use chrono::{DateTime, Utc};
use hg_platform::audit::Action;
use hg_platform::auth::PrincipalKind;
use hg_platform::page::Keyed;
use hg_platform::page::{Page, PageRequest, SortField, SqlType};
use serde::Serialize;
use serde_json::Value;
use serde_json::json;
use sqlx::PgPool;
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

impl Keyed for Device {
    fn sort_key(&self, field: &str) -> Value {
        match field {
            "registered_at" => json!(self.registered_at),
            _ => json!(self.serial),
        }
    }
    fn key_id(&self) -> Uuid {
        self.id
    }
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
    let mut out = page.fetch(&mut *conn, qb, "d.id").await?;
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
        let ok: bool = sqlx::query_scalar!(
            "select exists(select 1 from patients where id = $1 and org_id = $2 and archived_at is null) as \"exists!\"",
            p,
            org,
        )
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
    db: &PgPool,
    caller: &Caller,
    new: NewDevice<'_>,
) -> Result<Device, RecordError> {
    let serial = check_serial(new.serial)?;
    let brand = optional_text("brand", new.brand, 80)?;
    let model = optional_text("model", new.model, 80)?;
    let mut tx = db.begin().await?;
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
    let d = sqlx::query_as!(
        Device,
        r#"insert into devices as d (org_id, serial, brand, model, device_type, owner_patient_id, active)
           values ($1, $2, $3, $4, $5, $6, $7)
           returning d.id, d.org_id, d.serial, d.brand, d.model, d.device_type, d.owner_patient_id,
                     d.active, d.credential_hash is not null as "has_credential!",
                     d.credential_rotated_at, d.registered_at, d.last_seen_at, d.archived_at,
                     d.created_at, d.updated_at"#,
        new.org_id,
        &serial,
        brand.as_deref(),
        model.as_deref(),
        &device_type,
        new.owner_patient_id,
        new.active.unwrap_or(true)
    )
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
    db: &PgPool,
    caller: &Caller,
    id: Uuid,
    patch: DevicePatch<'_>,
) -> Result<Device, RecordError> {
    let mut tx = db.begin().await?;
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
    let d = sqlx::query_as!(
        Device,
        r#"update devices d set brand = case when $2 then $3 else d.brand end,
                  model = case when $4 then $5 else d.model end,
                  device_type = coalesce($6, d.device_type),
                  owner_patient_id = case when $7 then $8 else d.owner_patient_id end,
                  active = coalesce($9, d.active)
            where d.id = $1
           returning d.id, d.org_id, d.serial, d.brand, d.model, d.device_type, d.owner_patient_id,
                     d.active, d.credential_hash is not null as "has_credential!",
                     d.credential_rotated_at, d.registered_at, d.last_seen_at, d.archived_at,
                     d.created_at, d.updated_at"#,
        id,
        brand.is_some(),
        brand.clone().flatten(),
        model.is_some(),
        model.clone().flatten(),
        device_type.as_deref(),
        patch.owner_patient_id.is_some(),
        patch.owner_patient_id.flatten(),
        patch.active
    )
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
pub async fn archive(db: &PgPool, caller: &Caller, id: Uuid) -> Result<(), RecordError> {
    let mut tx = db.begin().await?;
    let d = administered(&mut tx, caller, id).await?;
    sqlx::query!(
        "update signal_streams set ended_at = greatest(now(), started_at + interval '1 millisecond') where device_id = $1 and ended_at is null",
        id,
    )
        .execute(&mut *tx)
        .await?;
    sqlx::query!(
        "update devices set archived_at = now(), active = false, credential_hash = null where id = $1",
        id,
    )
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

mod bindings;
mod credentials;
mod streams;

pub use bindings::*;
pub use credentials::*;
pub use streams::*;
