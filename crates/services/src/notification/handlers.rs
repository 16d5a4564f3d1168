//! The notification routes: a user's own preferences and push devices, the deliveries of an alert
//! they may see, the VAPID key browsers subscribe with, and a test notification to oneself.

use axum::Extension;
use axum::extract::State;
use chrono::Utc;
use hg_domain::catalog::AlertLevel;
use hg_domain::notify::message::{self, Why};
use hg_domain::notify::{self, deliver, plan, prefs, push};
use hg_http::list::QueryParams;
use hg_http::{ApiError, ApiResponse, IdPath, Payload};
use hg_platform::Platform;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::channels::Target;
use crate::common::{Caller, conn};

type Answer = Result<ApiResponse, ApiError>;

#[utoipa::path(
    get,
    path = "/notifications/preferences",
    tag = "notifications",
    summary = "The caller's channels per alert level, quiet hours and SMS number (defaults until set)",
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<prefs::Preferences>))
)]
pub async fn preferences(State(p): State<Platform>, caller: Caller) -> Answer {
    Ok(ApiResponse::ok(
        notify::my_preferences(&mut *conn(&p).await?, &caller).await?,
    ))
}

#[utoipa::path(
    put,
    path = "/notifications/preferences",
    tag = "notifications",
    summary = "Replace the caller's preferences (a level left out gets its default channels; critical needs one)",
    request_body = prefs::PreferencesInput,
    responses((status = 200, description = "Stored", body = hg_http::openapi::Envelope<prefs::Preferences>))
)]
pub async fn set_preferences(
    State(p): State<Platform>,
    caller: Caller,
    Payload(b): Payload<prefs::PreferencesInput>,
) -> Answer {
    Ok(ApiResponse::ok(
        notify::set_preferences(&p.db, &caller, b).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/notifications/push-devices",
    tag = "notifications",
    summary = "The caller's registered push devices, newest first",
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<Vec<push::PushDevice>>))
)]
pub async fn push_devices(State(p): State<Platform>, caller: Caller) -> Answer {
    Ok(ApiResponse::ok(
        notify::my_push_devices(&mut *conn(&p).await?, &caller).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/notifications/push-devices",
    tag = "notifications",
    summary = "Register a browser's Web Push subscription (registering it again refreshes it)",
    request_body = push::NewPushDevice,
    responses((status = 201, description = "Registered", body = hg_http::openapi::Envelope<push::PushDevice>))
)]
pub async fn register_push_device(
    State(p): State<Platform>,
    caller: Caller,
    Payload(b): Payload<push::NewPushDevice>,
) -> Answer {
    let device = notify::register_push_device(&p.db, &caller, b).await?;
    Ok(ApiResponse::created(
        format!("/notifications/push-devices/{}", device.id),
        device,
    ))
}

#[utoipa::path(
    delete,
    path = "/notifications/push-devices/{id}",
    tag = "notifications",
    summary = "Stop pushing to one of the caller's devices",
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deactivated"))
)]
pub async fn remove_push_device(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
) -> Result<http::StatusCode, ApiError> {
    notify::remove_push_device(&p.db, &caller, id).await?;
    Ok(http::StatusCode::NO_CONTENT)
}

/// The key browsers subscribe with.
#[derive(Serialize, utoipa::ToSchema)]
pub struct VapidKey {
    /// base64url of the uncompressed P-256 public key; null when push is not configured.
    pub public_key: Option<String>,
}

#[utoipa::path(
    get,
    path = "/notifications/vapid-key",
    tag = "notifications",
    summary = "The VAPID public key to pass to pushManager.subscribe (applicationServerKey)",
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<VapidKey>))
)]
pub async fn vapid_key(Extension(s): Extension<super::State>, _caller: Caller) -> Answer {
    Ok(ApiResponse::ok(VapidKey {
        public_key: s.channels.vapid_public_key.clone(),
    }))
}

#[utoipa::path(
    get,
    path = "/notifications/deliveries",
    tag = "notifications",
    summary = "The deliveries of an alert the caller may see, in the order they were (or will be) sent",
    params(("alert_id" = Uuid, Query, description = "required")),
    responses(
        (status = 200, description = "OK", body = hg_http::openapi::Envelope<Vec<deliver::Delivery>>),
        (status = 404, description = "No such alert among the caller's (HG-ALERT-NOT-FOUND)", body = hg_http::openapi::ErrorDocument),
    )
)]
pub async fn deliveries(State(p): State<Platform>, caller: Caller, mut q: QueryParams) -> Answer {
    let alert = q.uuid("alert_id")?;
    q.finish()?;
    let alert = alert.ok_or_else(|| ApiError::invalid_field("alert_id", "is required"))?;
    Ok(ApiResponse::ok(
        deliver::of_alert(&mut *conn(&p).await?, &caller, alert).await?,
    ))
}

/// One channel's answer to a test.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TestResult {
    pub channel: String,
    pub target: String,
    pub ok: bool,
    /// What the server answered, or why it failed.
    pub detail: serde_json::Value,
}

#[utoipa::path(
    post,
    path = "/notifications/test",
    tag = "notifications",
    summary = "Send a test notification to the caller now, over every configured channel their critical preferences name",
    responses((status = 200, description = "One result per channel and target (nothing is queued or retried)", body = hg_http::openapi::Envelope<Vec<TestResult>>))
)]
pub async fn test(
    State(p): State<Platform>,
    Extension(s): Extension<super::State>,
    caller: Caller,
) -> Answer {
    let me = notify::account(&caller)?;
    let mut c = conn(&p).await?;
    let prefs = notify::my_preferences(&mut c, &caller).await?;
    let locale = notify::locale(&mut c, me).await?;
    let notice = message::alert_notice(
        Uuid::nil(),
        "TEST",
        AlertLevel::Critical,
        Utc::now(),
        Why::Test,
        locale.as_deref(),
        &s.base_url,
    );
    let mut results = Vec::new();
    for code in prefs.channels_of(AlertLevel::Critical) {
        let Some(channel) = s.channels.get(code) else {
            continue;
        };
        let targets = plan::targets(&mut c, me, code, &prefs)
            .await
            .map_err(hg_platform::db::DbError::from)?;
        for (address, device) in targets {
            let subscription = match device {
                Some(d) => {
                    sqlx::query_scalar!("select subscription from push_devices where id = $1", d)
                        .fetch_optional(&mut *c)
                        .await
                        .map_err(hg_platform::db::DbError::from)?
                        .flatten()
                }
                None => None,
            };
            let target = Target {
                address: &address,
                subscription: subscription.as_ref(),
                level: "critical",
                reference: format!("test-{}", Uuid::new_v4()),
            };
            let outcome = channel.send(&target, &notice).await;
            results.push(TestResult {
                channel: code.code().to_owned(),
                target: address.clone(),
                ok: outcome.is_ok(),
                detail: match outcome {
                    Ok(v) => v,
                    Err(e) => json!(e.to_string()),
                },
            });
        }
    }
    Ok(ApiResponse::ok(results))
}
