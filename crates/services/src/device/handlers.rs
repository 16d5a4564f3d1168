//! Handlers of the device component: parse input, call the domain, shape the answer.

use hg_http::list::PageResponse as _;
use std::collections::BTreeMap;

use crate::common::Caller;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use hg_domain::device;
use hg_domain::ids::{BindingId, StreamId};
use hg_http::list::QueryParams;
use hg_http::{ApiError, ApiResponse, IdPath, Payload};
use hg_platform::Platform;
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

#[utoipa::path(
    get,
    path = "/devices",
    tag = "devices",
    summary = "The devices the caller can see",
    params(hg_http::openapi::PageParams, ("org_id" = Option<Uuid>, Query, description = "only this organization"), ("owner_patient_id" = Option<Uuid>, Query, description = "only devices of this patient"), ("device_type" = Option<String>, Query, description = "ECG_1LEAD, PULSE_OX, BP_CUFF or WEARABLE_MULTI"), ("active" = Option<bool>, Query, description = "active or inactive only"), ("q" = Option<String>, Query, description = "text in the serial, brand or model")),
    responses((status = 200, description = "OK", body = hg_http::openapi::Listed<device::Device>))
)]
pub async fn list(State(p): State<Platform>, caller: Caller, mut q: QueryParams) -> Answer {
    let page = q.page(device::SORTS, false)?;
    let f = filters(&mut q)?;
    q.finish()?;
    Ok(device::list(&mut *conn(&p).await?, &caller, &f, &page)
        .await?
        .into_response())
}

#[utoipa::path(
    get,
    path = "/devices/count",
    tag = "devices",
    summary = "How many devices the caller can see",
    params(("org_id" = Option<Uuid>, Query, description = "only this organization"), ("owner_patient_id" = Option<Uuid>, Query, description = "only devices of this patient"), ("device_type" = Option<String>, Query, description = "ECG_1LEAD, PULSE_OX, BP_CUFF or WEARABLE_MULTI"), ("active" = Option<bool>, Query, description = "active or inactive only"), ("q" = Option<String>, Query, description = "text in the serial, brand or model")),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<hg_http::openapi::Count>))
)]
pub async fn count(State(p): State<Platform>, caller: Caller, mut q: QueryParams) -> Answer {
    let f = filters(&mut q)?;
    q.finish()?;
    Ok(ApiResponse::ok(
        json!({"count": device::count(&mut *conn(&p).await?, &caller, &f).await?}),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = DeviceCountFilters)]
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

#[utoipa::path(
    post,
    path = "/devices/count",
    tag = "devices",
    summary = "How many devices the caller can see (filters in the body)",
    request_body = CountFilters,
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<hg_http::openapi::Count>))
)]
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

#[derive(Deserialize, utoipa::ToSchema)]
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

#[utoipa::path(
    post,
    path = "/devices",
    tag = "devices",
    summary = "Register a device (unique serial)",
    request_body = NewDevice,
    responses((status = 201, description = "Created (Location names it)", body = hg_http::openapi::Envelope<device::Device>))
)]
pub async fn create(
    State(p): State<Platform>,
    caller: Caller,
    Payload(b): Payload<NewDevice>,
) -> Answer {
    let d = device::create(
        &p.db,
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

#[utoipa::path(
    get,
    path = "/devices/{id}",
    tag = "devices",
    summary = "One device",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<device::Device>))
)]
pub async fn get(State(p): State<Platform>, caller: Caller, IdPath(id): IdPath<Uuid>) -> Answer {
    Ok(ApiResponse::ok(
        device::get(&mut *conn(&p).await?, &caller, id).await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
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

#[utoipa::path(
    patch,
    path = "/devices/{id}",
    tag = "devices",
    summary = "Edit a device; null clears a field",
    params(("id" = Uuid, Path)),
    request_body = DevicePatch,
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<device::Device>))
)]
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
        device::update(&p.db, &caller, id, patch).await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/devices/{id}",
    tag = "devices",
    summary = "Retire a device",
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "Done"))
)]
pub async fn archive(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
) -> Result<Response, ApiError> {
    device::archive(&p.db, &caller, id).await?;
    no_content()
}

#[utoipa::path(
    post,
    path = "/devices/{id}/credentials",
    tag = "devices",
    summary = "Issue or rotate the device credential (the secret is shown once)",
    params(("id" = Uuid, Path)),
    responses((status = 201, description = "Created (Location names it)", body = hg_http::openapi::Envelope<device::Credential>), (status = 422, description = "The device is inactive or archived (HG-DEVICE-INACTIVE)", body = hg_http::openapi::ErrorDocument))
)]
pub async fn rotate_credential(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
) -> Answer {
    let c = device::rotate_credential(&p.db, &caller, id).await?;
    Ok(ApiResponse::with_status(StatusCode::CREATED, c))
}

#[utoipa::path(
    get,
    path = "/devices/{id}/streams",
    tag = "streams",
    summary = "The device's signal streams",
    params(("id" = Uuid, Path), hg_http::openapi::PageParams, ("open" = Option<bool>, Query, description = "open or closed only"), ("signal_type" = Option<String>, Query, description = "ECG, HR, SpO2, HRV, BP, TEMP or RESP")),
    responses((status = 200, description = "OK", body = hg_http::openapi::Listed<device::Stream>))
)]
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

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewStream {
    signal_type: String,
    sample_rate_hz: f64,
    #[serde(default)]
    patient_id: Option<Uuid>,
}

#[utoipa::path(
    post,
    path = "/devices/{id}/streams",
    tag = "streams",
    summary = "Open a stream (one open per device and signal type)",
    params(("id" = Uuid, Path)),
    request_body = NewStream,
    responses((status = 201, description = "Created (Location names it)", body = hg_http::openapi::Envelope<device::Stream>))
)]
pub async fn open_stream(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<NewStream>,
) -> Answer {
    let s = device::open_stream(
        &p.db,
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

#[utoipa::path(
    get,
    path = "/streams/{id}",
    tag = "streams",
    summary = "One stream",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<device::Stream>))
)]
pub async fn stream(State(p): State<Platform>, caller: Caller, IdPath(id): IdPath<Uuid>) -> Answer {
    Ok(ApiResponse::ok(
        device::stream(&mut *conn(&p).await?, &caller, id).await?,
    ))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[schema(as = CloseStream)]
pub struct Close {
    #[serde(default)]
    ended_at: Option<DateTime<Utc>>,
}

#[utoipa::path(
    post,
    path = "/streams/{id}/close",
    tag = "streams",
    summary = "Close a stream",
    params(("id" = Uuid, Path)),
    request_body = Option<Close>,
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<device::Stream>))
)]
pub async fn close_stream(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    body: Option<Payload<Close>>,
) -> Answer {
    let ended_at = body.and_then(|Payload(b)| b.ended_at);
    Ok(ApiResponse::ok(
        device::close_stream(&p.db, &caller, id, ended_at).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/streams/{id}/bindings",
    tag = "streams",
    summary = "The stream's time-series bindings",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<Vec<device::Binding>>))
)]
pub async fn bindings(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
) -> Answer {
    Ok(ApiResponse::ok(
        device::bindings(&mut *conn(&p).await?, &caller, id).await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
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

#[utoipa::path(
    post,
    path = "/streams/{id}/bindings",
    tag = "streams",
    summary = "Bind the stream to a time-series store",
    params(("id" = Uuid, Path)),
    request_body = NewBinding,
    responses((status = 201, description = "Created (Location names it)", body = hg_http::openapi::Envelope<device::Binding>))
)]
pub async fn add_binding(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<NewBinding>,
) -> Answer {
    let binding = device::add_binding(
        &p.db,
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

#[utoipa::path(
    delete,
    path = "/streams/{id}/bindings/{binding_id}",
    tag = "streams",
    summary = "Remove a binding",
    params(("id" = Uuid, Path), ("binding_id" = Uuid, Path)),
    responses((status = 204, description = "Done"))
)]
pub async fn delete_binding(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, binding)): IdPath<(StreamId, BindingId)>,
) -> Result<Response, ApiError> {
    device::delete_binding(&p.db, &caller, id, binding).await?;
    no_content()
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = TagValue)]
pub struct TagValue {
    value: String,
}

#[utoipa::path(
    put,
    path = "/streams/{id}/bindings/{binding_id}/tags/{key}",
    tag = "streams",
    summary = "Set a tag of a binding",
    params(("id" = Uuid, Path), ("binding_id" = Uuid, Path), ("key" = String, Path)),
    request_body = TagValue,
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<device::Binding>))
)]
pub async fn set_tag(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, binding, key)): IdPath<(StreamId, BindingId, String)>,
    Payload(b): Payload<TagValue>,
) -> Answer {
    Ok(ApiResponse::ok(
        device::set_tag(&p.db, &caller, id, binding, &key, &b.value).await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/streams/{id}/bindings/{binding_id}/tags/{key}",
    tag = "streams",
    summary = "Remove a tag of a binding",
    params(("id" = Uuid, Path), ("binding_id" = Uuid, Path), ("key" = String, Path)),
    responses((status = 204, description = "Done"))
)]
pub async fn remove_tag(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, binding, key)): IdPath<(StreamId, BindingId, String)>,
) -> Result<Response, ApiError> {
    device::remove_tag(&p.db, &caller, id, binding, &key).await?;
    no_content()
}
