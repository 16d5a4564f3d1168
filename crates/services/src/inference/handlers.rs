//! The inference routes; they adapt `hg_domain::detection::{inference, evaluation}`.

use axum::Extension;
use axum::extract::State;
use chrono::Duration;
use hg_domain::alert::EscalationPolicy;
use hg_domain::detection::{evaluation, inference, models};
use hg_http::list::PageResponse as _;
use hg_http::list::QueryParams;
use hg_http::{ApiError, ApiResponse, IdPath, Payload};
use hg_platform::Platform;
use serde::Deserialize;
use uuid::Uuid;

use crate::common::{Caller, conn};

type Answer = Result<ApiResponse, ApiError>;

#[utoipa::path(
    get,
    path = "/inference/inferences",
    tag = "inference",
    summary = "Stored inferences of the patients the caller sees, by window start",
    params(
        hg_http::openapi::PageParams,
        ("patient_id" = Option<Uuid>, Query),
        ("stream_id" = Option<Uuid>, Query),
        ("from" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "windows starting at or after"),
        ("to" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "windows starting before"),
    ),
    responses((status = 200, description = "OK", body = hg_http::openapi::Listed<inference::Inference>))
)]
pub async fn inferences(State(p): State<Platform>, caller: Caller, mut q: QueryParams) -> Answer {
    let page = q.page(inference::SORTS, true)?;
    let patient = q.uuid("patient_id")?;
    let stream = q.uuid("stream_id")?;
    let from = q.timestamp("from")?;
    let to = q.timestamp("to")?;
    q.finish()?;
    Ok(inference::list(
        &mut *conn(&p).await?,
        &caller,
        patient,
        stream,
        from,
        to,
        &page,
    )
    .await?
    .into_response())
}

/// What to run the model on.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Run {
    /// An RR (HRV) stream.
    pub stream_id: Uuid,
}

#[utoipa::path(
    post,
    path = "/inference/run",
    tag = "inference",
    summary = "Score the AF model now on an RR stream's windows not yet scored",
    request_body = Run,
    responses((status = 200, description = "The windows scored (none when all were)", body = hg_http::openapi::Envelope<Vec<inference::Scored>>))
)]
pub async fn run(
    State(p): State<Platform>,
    Extension(policy): Extension<EscalationPolicy>,
    caller: Caller,
    Payload(b): Payload<Run>,
) -> Answer {
    Ok(ApiResponse::ok(
        inference::run(&p.db, &caller, b.stream_id, &policy).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/inference/models",
    tag = "inference",
    summary = "The detection models and their versions",
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<Vec<inference::ModelRow>>))
)]
pub async fn models(State(p): State<Platform>, _caller: Caller) -> Answer {
    Ok(ApiResponse::ok(
        inference::models(&mut *conn(&p).await?).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/inference/models/{id}/evaluation",
    tag = "inference",
    summary = "Precision, recall, F1 and confusion counts of a model against ground-truth labels over a period",
    params(
        ("id" = Uuid, Path),
        ("from" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "default: 30 days before `to`"),
        ("to" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "default: now"),
    ),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<evaluation::Evaluation>))
)]
pub async fn evaluation(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    mut q: QueryParams,
) -> Answer {
    let from = q.timestamp("from")?;
    let to = q.timestamp("to")?;
    q.finish()?;
    let range = hg_domain::telemetry::query::Range::new(from, to, Duration::days(30))?;
    Ok(ApiResponse::ok(
        evaluation::evaluate(&mut *conn(&p).await?, &caller, id, range.from, range.to).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/inference/inferences",
    tag = "inference",
    summary = "Record an inference made elsewhere (inferences.write); at its threshold it raises its alert",
    request_body = models::NewInference,
    responses(
        (status = 201, description = "Recorded (Location names it)", body = hg_http::openapi::Envelope<inference::Inference>),
        (status = 200, description = "The same window was recorded before", body = hg_http::openapi::Envelope<inference::Inference>),
    )
)]
pub async fn record(
    State(p): State<Platform>,
    Extension(policy): Extension<EscalationPolicy>,
    caller: Caller,
    Payload(b): Payload<models::NewInference>,
) -> Answer {
    let (row, new) = models::record(&p.db, &caller, b, &policy).await?;
    Ok(if new {
        ApiResponse::created(
            format!("/inference/inferences?stream_id={}", row.stream_id),
            row,
        )
    } else {
        ApiResponse::ok(row)
    })
}

#[utoipa::path(
    post,
    path = "/inference/models",
    tag = "inference",
    summary = "Register a model version (superadmins)",
    request_body = models::NewModel,
    responses((status = 201, description = "Created (Location names it)", body = hg_http::openapi::Envelope<inference::ModelRow>))
)]
pub async fn create_model(
    State(p): State<Platform>,
    caller: Caller,
    Payload(b): Payload<models::NewModel>,
) -> Answer {
    let m = models::create(&p.db, &caller, b).await?;
    Ok(ApiResponse::created(
        format!("/inference/models/{}", m.id),
        m,
    ))
}

#[utoipa::path(
    get,
    path = "/inference/models/{id}",
    tag = "inference",
    summary = "One model version",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<inference::ModelRow>))
)]
pub async fn model(State(p): State<Platform>, _caller: Caller, IdPath(id): IdPath<Uuid>) -> Answer {
    Ok(ApiResponse::ok(
        models::get(&mut *conn(&p).await?, id).await?,
    ))
}

#[utoipa::path(
    patch,
    path = "/inference/models/{id}",
    tag = "inference",
    summary = "Retire or re-activate a model version, or move its threshold (superadmins)",
    params(("id" = Uuid, Path)),
    request_body = models::ModelChange,
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<inference::ModelRow>))
)]
pub async fn update_model(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<models::ModelChange>,
) -> Answer {
    Ok(ApiResponse::ok(
        models::update(&p.db, &caller, id, b).await?,
    ))
}
