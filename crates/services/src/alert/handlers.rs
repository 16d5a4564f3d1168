//! The alert routes; they adapt `hg_domain::alert`.

use axum::Extension;
use axum::extract::State;
use hg_domain::alert::lifecycle::Transition;
use hg_domain::alert::{EscalationPolicy, actions, read};
use hg_domain::catalog::{AlertLevel, AlertStatus};
use hg_domain::detection::admin as rule_admin;
use hg_http::list::PageResponse as _;
use hg_http::list::QueryParams;
use hg_http::{ApiError, ApiResponse, IdPath, Payload};
use hg_platform::Platform;
use serde::Deserialize;
use uuid::Uuid;

use crate::common::{Caller, conn};

type Answer = Result<ApiResponse, ApiError>;

fn filter(q: &mut QueryParams, caller: &Caller) -> Result<read::Filter, ApiError> {
    Ok(read::Filter {
        status: q.one_of("status", AlertStatus::CODES)?.map(str::to_owned),
        level: q.one_of("level", AlertLevel::CODES)?.map(str::to_owned),
        alert_type: q.text("type", 40)?,
        patient_id: q.uuid("patient_id")?,
        org_id: q.uuid("org_id")?,
        from: q.timestamp("from")?,
        to: q.timestamp("to")?,
        assigned_to: q.one_of("assigned_to", &["me"])?.map(|_| caller.id()),
        open: q.boolean("open")?.unwrap_or(false),
    })
}

#[utoipa::path(
    get,
    path = "/alerts",
    tag = "alerts",
    summary = "Alerts the caller may see, newest first",
    params(
        hg_http::openapi::PageParams,
        ("status" = Option<String>, Query, description = "created, notified, ack, resolved or closed"),
        ("open" = Option<bool>, Query, description = "only open alerts (created, notified, ack)"),
        ("level" = Option<String>, Query, description = "low, medium, high or critical"),
        ("type" = Option<String>, Query, description = "an alert type code, e.g. TACHY"),
        ("patient_id" = Option<Uuid>, Query),
        ("org_id" = Option<Uuid>, Query),
        ("from" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "created at or after"),
        ("to" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "created before"),
        ("assigned_to" = Option<String>, Query, description = "`me`: only alerts assigned to the caller"),
    ),
    responses((status = 200, description = "OK", body = hg_http::openapi::Listed<read::Alert>))
)]
pub async fn list(State(p): State<Platform>, caller: Caller, mut q: QueryParams) -> Answer {
    let page = q.page(read::SORTS, true)?;
    let f = filter(&mut q, &caller)?;
    q.finish()?;
    Ok(read::list(&mut *conn(&p).await?, &caller, &f, &page)
        .await?
        .into_response())
}

#[utoipa::path(
    get,
    path = "/alerts/me",
    tag = "alerts",
    summary = "Open alerts assigned to the caller, newest first",
    params(hg_http::openapi::PageParams),
    responses((status = 200, description = "OK", body = hg_http::openapi::Listed<read::Alert>))
)]
pub async fn mine(State(p): State<Platform>, caller: Caller, mut q: QueryParams) -> Answer {
    let page = q.page(read::SORTS, true)?;
    q.finish()?;
    let f = read::Filter {
        assigned_to: Some(caller.id()),
        open: true,
        ..Default::default()
    };
    Ok(read::list(&mut *conn(&p).await?, &caller, &f, &page)
        .await?
        .into_response())
}

#[utoipa::path(
    get,
    path = "/alerts/{id}",
    tag = "alerts",
    summary = "One alert with its assignees and history",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<read::AlertDetail>))
)]
pub async fn get(State(p): State<Platform>, caller: Caller, IdPath(id): IdPath<Uuid>) -> Answer {
    Ok(ApiResponse::ok(
        read::get(&mut *conn(&p).await?, &caller, id).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/alerts",
    tag = "alerts",
    summary = "Raise an alert by hand (an open alert of the same patient and type counts one more occurrence)",
    request_body = actions::NewAlert,
    responses(
        (status = 201, description = "A new alert (Location names it)", body = hg_http::openapi::Envelope<read::AlertDetail>),
        (status = 200, description = "The open alert of that patient and type, updated", body = hg_http::openapi::Envelope<read::AlertDetail>),
    )
)]
pub async fn create(
    State(p): State<Platform>,
    Extension(policy): Extension<EscalationPolicy>,
    caller: Caller,
    Payload(b): Payload<actions::NewAlert>,
) -> Answer {
    let (alert, new) = actions::create(&p.db, &caller, b, &policy).await?;
    Ok(if new {
        ApiResponse::created(format!("/alerts/{}", alert.alert.id), alert)
    } else {
        ApiResponse::ok(alert)
    })
}

async fn apply(
    p: &Platform,
    caller: &Caller,
    id: Uuid,
    t: Transition,
    b: Option<actions::TransitionInput>,
) -> Answer {
    Ok(ApiResponse::ok(
        actions::transition(&p.db, caller, id, t, b.unwrap_or_default()).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/alerts/{id}/ack",
    tag = "alerts",
    summary = "Acknowledge: the caller takes charge (from created or notified)",
    params(("id" = Uuid, Path)),
    request_body(content = Option<actions::TransitionInput>, description = "an optional note"),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<read::AlertDetail>))
)]
pub async fn ack(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    b: Option<Payload<actions::TransitionInput>>,
) -> Answer {
    apply(&p, &caller, id, Transition::Ack, b.map(|Payload(b)| b)).await
}

#[utoipa::path(
    post,
    path = "/alerts/{id}/resolve",
    tag = "alerts",
    summary = "Resolve with an outcome (from created, notified or ack)",
    params(("id" = Uuid, Path)),
    request_body(content = Option<actions::TransitionInput>, description = "outcome (default resolved) and an optional note"),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<read::AlertDetail>))
)]
pub async fn resolve(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    b: Option<Payload<actions::TransitionInput>>,
) -> Answer {
    apply(&p, &caller, id, Transition::Resolve, b.map(|Payload(b)| b)).await
}

#[utoipa::path(
    post,
    path = "/alerts/{id}/close",
    tag = "alerts",
    summary = "Close a resolved alert",
    params(("id" = Uuid, Path)),
    request_body(content = Option<actions::TransitionInput>, description = "an optional note"),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<read::AlertDetail>))
)]
pub async fn close(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    b: Option<Payload<actions::TransitionInput>>,
) -> Answer {
    apply(&p, &caller, id, Transition::Close, b.map(|Payload(b)| b)).await
}

/// Whom to assign an alert to.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Assign {
    pub user_id: Uuid,
}

#[utoipa::path(
    post,
    path = "/alerts/{id}/assign",
    tag = "alerts",
    summary = "Assign an open alert to a member of its organization or of the patient's care teams",
    params(("id" = Uuid, Path)),
    request_body = Assign,
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<read::AlertDetail>))
)]
pub async fn assign(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<Assign>,
) -> Answer {
    Ok(ApiResponse::ok(
        actions::assign(&p.db, &caller, id, b.user_id).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/alerts/stream",
    tag = "alerts",
    summary = "Live feed of alert changes (Server-Sent Events), scoped like GET /alerts",
    description = "Each change is an `alert` event whose id is its history id and whose data is the change \
                   (alert, action, statuses, level, actor, details). A client reconnecting with `Last-Event-ID` \
                   (or `?last_event_id=`) first receives what it missed. A comment line every 15 s keeps idle \
                   connections open through proxies.",
    params(("last_event_id" = Option<i64>, Query, description = "resume after this history id (the `Last-Event-ID` header wins)")),
    responses((status = 200, description = "text/event-stream", content_type = "text/event-stream", body = String))
)]
pub async fn stream(
    State(p): State<Platform>,
    caller: Caller,
    headers: http::HeaderMap,
    mut q: QueryParams,
) -> Result<axum::response::Response, ApiError> {
    let from_query = q.integer("last_event_id", 0, i64::MAX)?;
    q.finish()?;
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .or(from_query);
    let feed = hg_domain::alert::feed::Feed::start(&mut *conn(&p).await?, last).await?;
    Ok(super::live::sse(p, caller, feed))
}

#[utoipa::path(
    get,
    path = "/alerts/rules",
    tag = "alerts",
    summary = "Threshold rules the caller may see (platform defaults, organization and patient rules)",
    params(("patient_id" = Option<Uuid>, Query, description = "only the rules that apply to this patient")),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<Vec<rule_admin::AlertRule>>))
)]
pub async fn rules(State(p): State<Platform>, caller: Caller, mut q: QueryParams) -> Answer {
    let patient = q.uuid("patient_id")?;
    q.finish()?;
    Ok(ApiResponse::ok(
        rule_admin::list(&mut *conn(&p).await?, &caller, patient).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/alerts/rules",
    tag = "alerts",
    summary = "Create a rule: a platform default (superadmin), an organization's, or a patient's own (with a reason)",
    request_body = rule_admin::RuleInput,
    responses((status = 201, description = "Created (Location names it)", body = hg_http::openapi::Envelope<rule_admin::AlertRule>))
)]
pub async fn create_rule(
    State(p): State<Platform>,
    caller: Caller,
    Payload(b): Payload<rule_admin::RuleInput>,
) -> Answer {
    let r = rule_admin::create(&p.db, &caller, b).await?;
    Ok(ApiResponse::created(format!("/alerts/rules/{}", r.id), r))
}

#[utoipa::path(
    get,
    path = "/alerts/rules/{id}",
    tag = "alerts",
    summary = "One rule",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<rule_admin::AlertRule>))
)]
pub async fn rule(State(p): State<Platform>, caller: Caller, IdPath(id): IdPath<Uuid>) -> Answer {
    Ok(ApiResponse::ok(
        rule_admin::get(&mut *conn(&p).await?, &caller, id).await?,
    ))
}

#[utoipa::path(
    patch,
    path = "/alerts/rules/{id}",
    tag = "alerts",
    summary = "Change a rule (a patient's needs a reason; audited with before and after)",
    params(("id" = Uuid, Path)),
    request_body = rule_admin::RuleInput,
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<rule_admin::AlertRule>))
)]
pub async fn update_rule(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<rule_admin::RuleInput>,
) -> Answer {
    Ok(ApiResponse::ok(
        rule_admin::update(&p.db, &caller, id, b).await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/alerts/rules/{id}",
    tag = "alerts",
    summary = "Delete a rule (a patient's needs `?reason=`)",
    params(("id" = Uuid, Path), ("reason" = Option<String>, Query, description = "why (required for a patient's rule)")),
    responses((status = 204, description = "Deleted"))
)]
pub async fn delete_rule(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    mut q: QueryParams,
) -> Result<http::StatusCode, ApiError> {
    let reason = q.text("reason", 500)?;
    q.finish()?;
    rule_admin::delete(&p.db, &caller, id, reason.as_deref()).await?;
    Ok(http::StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/alerts/stats",
    tag = "alerts",
    summary = "MTTA and MTTR per organization and level for the alerts created in a period",
    params(
        ("org_id" = Option<Uuid>, Query),
        ("from" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "default: 30 days before `to`"),
        ("to" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "default: now"),
    ),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<Vec<hg_domain::alert::stats::LevelStats>>))
)]
pub async fn stats(State(p): State<Platform>, caller: Caller, mut q: QueryParams) -> Answer {
    let org = q.uuid("org_id")?;
    let from = q.timestamp("from")?;
    let to = q.timestamp("to")?;
    q.finish()?;
    let range = hg_domain::telemetry::query::Range::new(from, to, chrono::Duration::days(30))?;
    Ok(ApiResponse::ok(
        hg_domain::alert::stats::stats(&mut *conn(&p).await?, &caller, org, range.from, range.to)
            .await?,
    ))
}
