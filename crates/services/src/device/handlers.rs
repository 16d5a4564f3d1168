//! Handlers of the device component: parse input, call the domain, shape the answer.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use hg_domain::device;
use hg_domain::records::Caller;
use hg_platform::Platform;
use hg_platform::http::list::QueryParams;
use hg_platform::http::{ApiError, ApiResponse, IdPath, Payload};
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::common::{conn, double_option};

type Answer = Result<ApiResponse, ApiError>;

fn no_content() -> Result<Response, ApiError> {
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn filters(q: &mut QueryParams) -> Result<device::Filters, ApiError> {
    Ok(device::Filters {
        org: q.uuid("org_id")?,
        owner: q.uuid("owner_patient_id")?,
        device_type: q.one_of("device_type", device::DEVICE_TYPES)?,
        active: q.boolean("active")?,
        q: q.text("q", 100)?,
    })
}

pub async fn list(State(p): State<Platform>, caller: Caller, mut q: QueryParams) -> Answer {
    let page = q.page(device::SORTS, false)?;
    let f = filters(&mut q)?;
    q.finish()?;
    Ok(device::list(&mut *conn(&p).await?, &caller, &f, &page)
        .await?
        .into_response())
}

pub async fn count(State(p): State<Platform>, caller: Caller, mut q: QueryParams) -> Answer {
    let f = filters(&mut q)?;
    q.finish()?;
    Ok(ApiResponse::ok(
        json!({"count": device::count(&mut *conn(&p).await?, &caller, &f).await?}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountFilters {
    #[serde(default)]
    org_id: Option<Uuid>,
    #[serde(default)]
    owner_patient_id: Option<Uuid>,
    #[serde(default)]
    device_type: Option<String>,
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    q: Option<String>,
}

pub async fn count_post(
    State(p): State<Platform>,
    caller: Caller,
    Payload(b): Payload<CountFilters>,
) -> Answer {
    let mut q = QueryParams::from_pairs(
        [
            ("device_type", b.device_type.as_deref()),
            ("q", b.q.as_deref()),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v))),
    );
    let mut f = filters(&mut q)?;
    f.org = b.org_id;
    f.owner = b.owner_patient_id;
    f.active = b.active;
    Ok(ApiResponse::ok(
        json!({"count": device::count(&mut *conn(&p).await?, &caller, &f).await?}),
    ))
}

#[derive(Deserialize)]
pub struct NewDevice {
    org_id: Uuid,
    serial: String,
    #[serde(default)]
    brand: Option<String>,
    #[serde(default)]
    model: Option<String>,
    device_type: String,
    #[serde(default)]
    owner_patient_id: Option<Uuid>,
    #[serde(default)]
    active: Option<bool>,
}

pub async fn create(
    State(p): State<Platform>,
    caller: Caller,
    Payload(b): Payload<NewDevice>,
) -> Answer {
    let d = device::create(
        &p,
        &caller,
        device::NewDevice {
            org_id: b.org_id,
            serial: &b.serial,
            brand: b.brand.as_deref(),
            model: b.model.as_deref(),
            device_type: &b.device_type,
            owner_patient_id: b.owner_patient_id,
            active: b.active,
        },
    )
    .await?;
    Ok(ApiResponse::created(format!("/devices/{}", d.id), d))
}

pub async fn get(State(p): State<Platform>, caller: Caller, IdPath(id): IdPath<Uuid>) -> Answer {
    Ok(ApiResponse::ok(
        device::get(&mut *conn(&p).await?, &caller, id).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicePatch {
    #[serde(default, deserialize_with = "double_option")]
    brand: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    model: Option<Option<String>>,
    #[serde(default)]
    device_type: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    owner_patient_id: Option<Option<Uuid>>,
    #[serde(default)]
    active: Option<bool>,
}

pub async fn update(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<DevicePatch>,
) -> Answer {
    let patch = device::DevicePatch {
        brand: b.brand.as_ref().map(|v| v.as_deref()),
        model: b.model.as_ref().map(|v| v.as_deref()),
        device_type: b.device_type.as_deref(),
        owner_patient_id: b.owner_patient_id,
        active: b.active,
    };
    Ok(ApiResponse::ok(
        device::update(&p, &caller, id, patch).await?,
    ))
}

pub async fn archive(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
) -> Result<Response, ApiError> {
    device::archive(&p, &caller, id).await?;
    no_content()
}

pub async fn rotate_credential(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
) -> Answer {
    let c = device::rotate_credential(&p, &caller, id).await?;
    Ok(ApiResponse::with_status(StatusCode::CREATED, c))
}

pub async fn streams(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    mut q: QueryParams,
) -> Answer {
    let page = q.page(device::STREAM_SORTS, true)?;
    let open = q.boolean("open")?;
    let signal = q.one_of("signal_type", device::SIGNAL_TYPES)?;
    q.finish()?;
    Ok(
        device::streams(&mut *conn(&p).await?, &caller, id, open, signal, &page)
            .await?
            .into_response(),
    )
}

#[derive(Deserialize)]
pub struct NewStream {
    signal_type: String,
    sample_rate_hz: f64,
    #[serde(default)]
    patient_id: Option<Uuid>,
}

pub async fn open_stream(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<NewStream>,
) -> Answer {
    let s = device::open_stream(
        &p,
        &caller,
        id,
        device::NewStream {
            signal_type: &b.signal_type,
            sample_rate_hz: b.sample_rate_hz,
            patient_id: b.patient_id,
        },
    )
    .await?;
    Ok(ApiResponse::created(format!("/streams/{}", s.id), s))
}

pub async fn stream(State(p): State<Platform>, caller: Caller, IdPath(id): IdPath<Uuid>) -> Answer {
    Ok(ApiResponse::ok(
        device::stream(&mut *conn(&p).await?, &caller, id).await?,
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Close {
    #[serde(default)]
    ended_at: Option<DateTime<Utc>>,
}

pub async fn close_stream(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    body: Option<Payload<Close>>,
) -> Answer {
    let ended_at = body.and_then(|Payload(b)| b.ended_at);
    Ok(ApiResponse::ok(
        device::close_stream(&p, &caller, id, ended_at).await?,
    ))
}

pub async fn bindings(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
) -> Answer {
    Ok(ApiResponse::ok(
        device::bindings(&mut *conn(&p).await?, &caller, id).await?,
    ))
}

#[derive(Deserialize)]
pub struct NewBinding {
    #[serde(default)]
    influx_org: Option<String>,
    bucket: String,
    measurement: String,
    #[serde(default)]
    retention_hint: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

pub async fn add_binding(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<NewBinding>,
) -> Answer {
    let binding = device::add_binding(
        &p,
        &caller,
        id,
        device::NewBinding {
            influx_org: b.influx_org.as_deref(),
            bucket: &b.bucket,
            measurement: &b.measurement,
            retention_hint: b.retention_hint.as_deref(),
            tags: &b.tags,
        },
    )
    .await?;
    Ok(ApiResponse::created(
        format!("/streams/{id}/bindings/{}", binding.id),
        binding,
    ))
}

pub async fn delete_binding(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, binding)): IdPath<(Uuid, Uuid)>,
) -> Result<Response, ApiError> {
    device::delete_binding(&p, &caller, id, binding).await?;
    no_content()
}

#[derive(Deserialize)]
pub struct TagValue {
    value: String,
}

pub async fn set_tag(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, binding, key)): IdPath<(Uuid, Uuid, String)>,
    Payload(b): Payload<TagValue>,
) -> Answer {
    Ok(ApiResponse::ok(
        device::set_tag(&p, &caller, id, binding, &key, &b.value).await?,
    ))
}

pub async fn remove_tag(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, binding, key)): IdPath<(Uuid, Uuid, String)>,
) -> Result<Response, ApiError> {
    device::remove_tag(&p, &caller, id, binding, &key).await?;
    no_content()
}
