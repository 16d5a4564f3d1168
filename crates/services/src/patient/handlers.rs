//! Handlers of the patient component: parse input, call the domain, shape the answer.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use hg_domain::patient;
use hg_domain::records::Caller;
use hg_platform::Platform;
use hg_platform::http::list::QueryParams;
use hg_platform::http::{ApiError, ApiResponse, IdPath, Payload};
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
        risk_level: q.one_of("risk_level", patient::RISK_LEVELS)?,
        care_team: q.uuid("care_team_id")?,
        q: q.text("q", 100)?,
        archived: q.boolean("archived")?.unwrap_or(false),
    })
}

pub async fn list(State(p): State<Platform>, caller: Caller, mut q: QueryParams) -> Answer {
    let page = q.page(patient::SORTS, false)?;
    let f = filters(&mut q)?;
    q.finish()?;
    Ok(patient::list(&mut *conn(&p).await?, &caller, &f, &page)
        .await?
        .into_response())
}

pub async fn count(State(p): State<Platform>, caller: Caller, mut q: QueryParams) -> Answer {
    let f = filters(&mut q)?;
    q.finish()?;
    let n = patient::count(&mut *conn(&p).await?, &caller, &f).await?;
    Ok(ApiResponse::ok(json!({ "count": n })))
}

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

pub async fn create(
    State(p): State<Platform>,
    caller: Caller,
    Payload(b): Payload<dto::NewPatient>,
) -> Answer {
    let created = patient::create(
        &p,
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

pub async fn get(State(p): State<Platform>, caller: Caller, IdPath(id): IdPath<Uuid>) -> Answer {
    Ok(ApiResponse::ok(
        patient::get(&mut *conn(&p).await?, &caller, id).await?,
    ))
}

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
        patient::update(&p, &caller, id, patch).await?,
    ))
}

pub async fn archive(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
) -> Answer {
    Ok(ApiResponse::ok(patient::archive(&p, &caller, id).await?))
}

pub async fn care_teams(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
) -> Answer {
    Ok(ApiResponse::ok(
        patient::care_teams(&mut *conn(&p).await?, &caller, id).await?,
    ))
}

pub async fn link_team(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<dto::TeamLink>,
) -> Result<Response, ApiError> {
    patient::link_team(&p, &caller, id, b.team_id).await?;
    Ok(ApiResponse::with_status(
        StatusCode::CREATED,
        json!({"patient_id": id, "team_id": b.team_id}),
    )
    .into_response())
}

pub async fn unlink_team(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, team)): IdPath<(Uuid, Uuid)>,
) -> Result<Response, ApiError> {
    patient::unlink_team(&p, &caller, id, team).await?;
    no_content()
}

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

pub async fn add_caregiver(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<dto::NewCaregiver>,
) -> Answer {
    let c = patient::add_caregiver(
        &p,
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

pub async fn update_caregiver(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, link)): IdPath<(Uuid, Uuid)>,
    Payload(b): Payload<dto::CaregiverPatch>,
) -> Answer {
    let patch = patient::CaregiverPatch {
        relationship: b.relationship.as_deref(),
        is_primary: b.is_primary,
        note: b.note.as_ref().map(|v| v.as_deref()),
    };
    Ok(ApiResponse::ok(
        patient::update_caregiver(&p, &caller, id, link, patch).await?,
    ))
}

pub async fn end_caregiver(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, link)): IdPath<(Uuid, Uuid)>,
) -> Result<Response, ApiError> {
    patient::end_caregiver(&p, &caller, id, link).await?;
    no_content()
}

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

pub async fn add_location(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<dto::NewLocation>,
) -> Answer {
    let loc = patient::add_location(
        &p,
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

pub async fn alerts(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    mut q: QueryParams,
) -> Answer {
    let page = q.page(patient::ALERT_SORTS, true)?;
    let status = q.one_of("status", patient::ALERT_STATUSES)?;
    q.finish()?;
    Ok(
        patient::alerts(&mut *conn(&p).await?, &caller, id, status, &page)
            .await?
            .into_response(),
    )
}

pub async fn devices(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
) -> Answer {
    Ok(ApiResponse::ok(
        patient::devices(&mut *conn(&p).await?, &caller, id).await?,
    ))
}

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

pub async fn add_label(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<dto::Label>,
) -> Answer {
    let l = patient::add_label(&p, &caller, id, label_input(&b)).await?;
    Ok(ApiResponse::created(
        format!("/patients/{id}/ground-truth/{}", l.id),
        l,
    ))
}

pub async fn get_label(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, label)): IdPath<(Uuid, Uuid)>,
) -> Answer {
    Ok(ApiResponse::ok(
        patient::get_label(&mut *conn(&p).await?, &caller, id, label).await?,
    ))
}

pub async fn update_label(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, label)): IdPath<(Uuid, Uuid)>,
    Payload(b): Payload<dto::Label>,
) -> Answer {
    Ok(ApiResponse::ok(
        patient::update_label(&p, &caller, id, label, label_input(&b)).await?,
    ))
}

pub async fn delete_label(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, label)): IdPath<(Uuid, Uuid)>,
) -> Result<Response, ApiError> {
    patient::delete_label(&p, &caller, id, label).await?;
    no_content()
}
