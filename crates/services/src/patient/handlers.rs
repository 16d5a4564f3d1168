//! Handlers of the patient component: parse input, call the domain, shape the answer.

use crate::common::Caller;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use hg_domain::ids::{CareTeamId, CaregiverLinkId, LabelId, PatientId};
use hg_domain::patient;
use hg_http::list::PageResponse as _;
use hg_http::list::QueryParams;
use hg_http::{ApiError, ApiResponse, IdPath, Payload};
use hg_platform::Platform;
use http::StatusCode;
use serde_json::json;
use uuid::Uuid;

use super::dto;
use crate::common::conn;

type Answer = Result<ApiResponse, ApiError>;

fn no_content() -> Result<Response, ApiError> {
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn filters(q: &mut QueryParams) -> Result<patient::Filters, ApiError> {
    Ok(patient::Filters {
        org: q.uuid("org_id")?,
        risk_level: q.one_of("risk_level", hg_domain::catalog::RiskLevel::CODES)?,
        care_team: q.uuid("care_team_id")?,
        q: q.text("q", 100)?,
        archived: q.boolean("archived")?.unwrap_or(false),
    })
}

#[utoipa::path(
    get,
    path = "/patients",
    tag = "patients",
    summary = "The patients the caller can see (audited)",
    params(hg_http::openapi::PageParams, ("org_id" = Option<Uuid>, Query, description = "only this organization"), ("risk_level" = Option<String>, Query, description = "low, medium or high"), ("care_team_id" = Option<Uuid>, Query, description = "only this care team"), ("q" = Option<String>, Query, description = "text in the name or e-mail"), ("archived" = Option<bool>, Query, description = "archived patients instead (administrators)")),
    responses((status = 200, description = "OK", body = hg_http::openapi::Listed<patient::Patient>))
)]
pub async fn list(State(p): State<Platform>, caller: Caller, mut q: QueryParams) -> Answer {
    let page = q.page(patient::SORTS, false)?;
    let f = filters(&mut q)?;
    q.finish()?;
    Ok(patient::list(&mut *conn(&p).await?, &caller, &f, &page)
        .await?
        .into_response())
}

#[utoipa::path(
    get,
    path = "/patients/count",
    tag = "patients",
    summary = "How many patients the caller can see",
    params(("org_id" = Option<Uuid>, Query, description = "only this organization"), ("risk_level" = Option<String>, Query, description = "low, medium or high"), ("care_team_id" = Option<Uuid>, Query, description = "only this care team"), ("q" = Option<String>, Query, description = "text in the name or e-mail")),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<hg_http::openapi::Count>))
)]
pub async fn count(State(p): State<Platform>, caller: Caller, mut q: QueryParams) -> Answer {
    let f = filters(&mut q)?;
    q.finish()?;
    let n = patient::count(&mut *conn(&p).await?, &caller, &f).await?;
    Ok(ApiResponse::ok(json!({ "count": n })))
}

#[utoipa::path(
    post,
    path = "/patients/count",
    tag = "patients",
    summary = "How many patients the caller can see (filters in the body)",
    request_body = dto::CountFilters,
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<hg_http::openapi::Count>))
)]
pub async fn count_post(
    State(p): State<Platform>,
    caller: Caller,
    Payload(b): Payload<dto::CountFilters>,
) -> Answer {
    let mut q = QueryParams::from_pairs(
        [
            ("risk_level", b.risk_level.as_deref()),
            ("q", b.q.as_deref()),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v))),
    );
    let mut f = filters(&mut q)?;
    f.org = b.org_id;
    f.care_team = b.care_team_id;
    let n = patient::count(&mut *conn(&p).await?, &caller, &f).await?;
    Ok(ApiResponse::ok(json!({ "count": n })))
}

#[utoipa::path(
    post,
    path = "/patients",
    tag = "patients",
    summary = "Enrol a patient",
    request_body = dto::NewPatient,
    responses((status = 201, description = "Created (Location names it)", body = hg_http::openapi::Envelope<patient::Patient>))
)]
pub async fn create(
    State(p): State<Platform>,
    caller: Caller,
    Payload(b): Payload<dto::NewPatient>,
) -> Answer {
    let created = patient::create(
        &p.db,
        &caller,
        patient::NewPatient {
            org_id: b.org_id,
            person_name: &b.person_name,
            email: b.email.as_deref(),
            birthdate: b.birthdate,
            sex: b.sex.as_deref(),
            risk_level: b.risk_level.as_deref(),
            care_team_ids: &b.care_team_ids,
        },
    )
    .await?;
    Ok(ApiResponse::created(
        format!("/patients/{}", created.id),
        created,
    ))
}

#[utoipa::path(
    get,
    path = "/patients/{id}",
    tag = "patients",
    summary = "One patient (audited)",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<patient::Patient>))
)]
pub async fn get(State(p): State<Platform>, caller: Caller, IdPath(id): IdPath<Uuid>) -> Answer {
    Ok(ApiResponse::ok(
        patient::get(&mut *conn(&p).await?, &caller, id).await?,
    ))
}

#[utoipa::path(
    patch,
    path = "/patients/{id}",
    tag = "patients",
    summary = "Edit a patient; null clears a field",
    params(("id" = Uuid, Path)),
    request_body = dto::PatientPatch,
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<patient::Patient>))
)]
pub async fn update(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<dto::PatientPatch>,
) -> Answer {
    let patch = patient::PatientPatch {
        person_name: b.person_name.as_deref(),
        email: b.email.as_ref().map(|v| v.as_deref()),
        birthdate: b.birthdate,
        sex: b.sex.as_ref().map(|v| v.as_deref()),
        risk_level: b.risk_level.as_ref().map(|v| v.as_deref()),
    };
    Ok(ApiResponse::ok(
        patient::update(&p.db, &caller, id, patch).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/patients/{id}/archive",
    tag = "patients",
    summary = "Archive a patient",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<patient::Patient>))
)]
pub async fn archive(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
) -> Answer {
    Ok(ApiResponse::ok(patient::archive(&p.db, &caller, id).await?))
}

#[utoipa::path(
    get,
    path = "/patients/{id}/care-teams",
    tag = "patients",
    summary = "The patient's care teams",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<Vec<patient::PatientTeam>>))
)]
pub async fn care_teams(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
) -> Answer {
    Ok(ApiResponse::ok(
        patient::care_teams(&mut *conn(&p).await?, &caller, id).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/patients/{id}/care-teams",
    tag = "patients",
    summary = "Add the patient to a care team",
    params(("id" = Uuid, Path)),
    request_body = dto::TeamLink,
    responses((status = 201, description = "OK"))
)]
pub async fn link_team(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<PatientId>,
    Payload(b): Payload<dto::TeamLink>,
) -> Result<Response, ApiError> {
    patient::link_team(&p.db, &caller, id, b.team_id).await?;
    Ok(ApiResponse::with_status(
        StatusCode::CREATED,
        json!({"patient_id": id, "team_id": b.team_id}),
    )
    .into_response())
}

#[utoipa::path(
    delete,
    path = "/patients/{id}/care-teams/{team_id}",
    tag = "patients",
    summary = "Remove the patient from a care team",
    params(("id" = Uuid, Path), ("team_id" = Uuid, Path)),
    responses((status = 204, description = "Done"))
)]
pub async fn unlink_team(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, team)): IdPath<(PatientId, CareTeamId)>,
) -> Result<Response, ApiError> {
    patient::unlink_team(&p.db, &caller, id, team).await?;
    no_content()
}

#[utoipa::path(
    get,
    path = "/patients/{id}/caregivers",
    tag = "patients",
    summary = "The patient's caregivers",
    params(("id" = Uuid, Path), ("include_ended" = Option<bool>, Query, description = "ended links too")),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<Vec<patient::Caregiver>>))
)]
pub async fn caregivers(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    mut q: QueryParams,
) -> Answer {
    let ended = q.boolean("include_ended")?.unwrap_or(false);
    q.finish()?;
    Ok(ApiResponse::ok(
        patient::caregivers(&mut *conn(&p).await?, &caller, id, ended).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/patients/{id}/caregivers",
    tag = "patients",
    summary = "Link a caregiver (one active primary)",
    params(("id" = Uuid, Path)),
    request_body = dto::NewCaregiver,
    responses((status = 201, description = "Created (Location names it)", body = hg_http::openapi::Envelope<patient::Caregiver>))
)]
pub async fn add_caregiver(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<dto::NewCaregiver>,
) -> Answer {
    let c = patient::add_caregiver(
        &p.db,
        &caller,
        id,
        patient::NewCaregiver {
            user_id: b.user_id,
            relationship: &b.relationship,
            is_primary: b.is_primary,
            note: b.note.as_deref(),
        },
    )
    .await?;
    Ok(ApiResponse::created(
        format!("/patients/{id}/caregivers/{}", c.id),
        c,
    ))
}

#[utoipa::path(
    patch,
    path = "/patients/{id}/caregivers/{link_id}",
    tag = "patients",
    summary = "Edit a caregiver link",
    params(("id" = Uuid, Path), ("link_id" = Uuid, Path)),
    request_body = dto::CaregiverPatch,
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<patient::Caregiver>))
)]
pub async fn update_caregiver(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, link)): IdPath<(PatientId, CaregiverLinkId)>,
    Payload(b): Payload<dto::CaregiverPatch>,
) -> Answer {
    let patch = patient::CaregiverPatch {
        relationship: b.relationship.as_deref(),
        is_primary: b.is_primary,
        note: b.note.as_ref().map(|v| v.as_deref()),
    };
    Ok(ApiResponse::ok(
        patient::update_caregiver(&p.db, &caller, id, link, patch).await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/patients/{id}/caregivers/{link_id}",
    tag = "patients",
    summary = "End a caregiver link",
    params(("id" = Uuid, Path), ("link_id" = Uuid, Path)),
    responses((status = 204, description = "Done"))
)]
pub async fn end_caregiver(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, link)): IdPath<(PatientId, CaregiverLinkId)>,
) -> Result<Response, ApiError> {
    patient::end_caregiver(&p.db, &caller, id, link).await?;
    no_content()
}

#[utoipa::path(
    get,
    path = "/patients/{id}/locations",
    tag = "patients",
    summary = "The patient's locations",
    params(("id" = Uuid, Path), hg_http::openapi::PageParams, ("from" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "from this instant"), ("to" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "before this instant")),
    responses((status = 200, description = "OK", body = hg_http::openapi::Listed<patient::Location>))
)]
pub async fn locations(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    mut q: QueryParams,
) -> Answer {
    let page = q.page(patient::LOCATION_SORTS, true)?;
    let from = q.timestamp("from")?;
    let to = q.timestamp("to")?;
    q.finish()?;
    Ok(
        patient::locations(&mut *conn(&p).await?, &caller, id, from, to, &page)
            .await?
            .into_response(),
    )
}

#[utoipa::path(
    post,
    path = "/patients/{id}/locations",
    tag = "patients",
    summary = "Record a location",
    params(("id" = Uuid, Path)),
    request_body = dto::NewLocation,
    responses((status = 201, description = "Created (Location names it)", body = hg_http::openapi::Envelope<patient::Location>))
)]
pub async fn add_location(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<dto::NewLocation>,
) -> Answer {
    let loc = patient::add_location(
        &p.db,
        &caller,
        id,
        patient::NewLocation {
            ts: b.ts,
            latitude: b.latitude,
            longitude: b.longitude,
            accuracy_m: b.accuracy_m,
            source: b.source.as_deref(),
        },
    )
    .await?;
    Ok(ApiResponse::created(
        format!("/patients/{id}/locations"),
        loc,
    ))
}

#[utoipa::path(
    get,
    path = "/patients/{id}/alerts",
    tag = "patients",
    summary = "The patient's alerts",
    params(("id" = Uuid, Path), hg_http::openapi::PageParams, ("status" = Option<String>, Query, description = "created, notified, ack, resolved or closed")),
    responses((status = 200, description = "OK", body = hg_http::openapi::Listed<patient::PatientAlert>))
)]
pub async fn alerts(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    mut q: QueryParams,
) -> Answer {
    let page = q.page(patient::ALERT_SORTS, true)?;
    let status = q.one_of("status", hg_domain::catalog::AlertStatus::CODES)?;
    q.finish()?;
    Ok(
        patient::alerts(&mut *conn(&p).await?, &caller, id, status, &page)
            .await?
            .into_response(),
    )
}

#[utoipa::path(
    get,
    path = "/patients/{id}/devices",
    tag = "patients",
    summary = "The patient's devices",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<Vec<patient::PatientDevice>>))
)]
pub async fn devices(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
) -> Answer {
    Ok(ApiResponse::ok(
        patient::devices(&mut *conn(&p).await?, &caller, id).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/patients/{id}/ground-truth",
    tag = "patients",
    summary = "The patient's ground-truth labels",
    params(("id" = Uuid, Path), hg_http::openapi::PageParams),
    responses((status = 200, description = "OK", body = hg_http::openapi::Listed<patient::Label>))
)]
pub async fn labels(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    mut q: QueryParams,
) -> Answer {
    let page = q.page(patient::LABEL_SORTS, true)?;
    q.finish()?;
    Ok(patient::labels(&mut *conn(&p).await?, &caller, id, &page)
        .await?
        .into_response())
}

fn label_input(b: &dto::Label) -> patient::LabelInput<'_> {
    patient::LabelInput {
        event_type: &b.event_type,
        onset: b.onset,
        offset_at: b.offset_at,
        source: b.source.as_deref(),
        note: b.note.as_deref(),
    }
}

#[utoipa::path(
    post,
    path = "/patients/{id}/ground-truth",
    tag = "patients",
    summary = "Add a ground-truth label",
    params(("id" = Uuid, Path)),
    request_body = dto::Label,
    responses((status = 201, description = "Created (Location names it)", body = hg_http::openapi::Envelope<patient::Label>))
)]
pub async fn add_label(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<dto::Label>,
) -> Answer {
    let l = patient::add_label(&p.db, &caller, id, label_input(&b)).await?;
    Ok(ApiResponse::created(
        format!("/patients/{id}/ground-truth/{}", l.id),
        l,
    ))
}

#[utoipa::path(
    get,
    path = "/patients/{id}/ground-truth/{label_id}",
    tag = "patients",
    summary = "One ground-truth label",
    params(("id" = Uuid, Path), ("label_id" = Uuid, Path)),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<patient::Label>))
)]
pub async fn get_label(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, label)): IdPath<(PatientId, LabelId)>,
) -> Answer {
    Ok(ApiResponse::ok(
        patient::get_label(&mut *conn(&p).await?, &caller, id, label).await?,
    ))
}

#[utoipa::path(
    put,
    path = "/patients/{id}/ground-truth/{label_id}",
    tag = "patients",
    summary = "Replace a ground-truth label",
    params(("id" = Uuid, Path), ("label_id" = Uuid, Path)),
    request_body = dto::Label,
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<patient::Label>))
)]
pub async fn update_label(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, label)): IdPath<(PatientId, LabelId)>,
    Payload(b): Payload<dto::Label>,
) -> Answer {
    Ok(ApiResponse::ok(
        patient::update_label(&p.db, &caller, id, label, label_input(&b)).await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/patients/{id}/ground-truth/{label_id}",
    tag = "patients",
    summary = "Delete a ground-truth label",
    params(("id" = Uuid, Path), ("label_id" = Uuid, Path)),
    responses((status = 204, description = "Done"))
)]
pub async fn delete_label(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, label)): IdPath<(PatientId, LabelId)>,
) -> Result<Response, ApiError> {
    patient::delete_label(&p.db, &caller, id, label).await?;
    no_content()
}
