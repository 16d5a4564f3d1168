//! Handlers of the auth component: extract and check input, call `hg_domain::identity`, shape the
//! answer.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{FromRequestParts, State};
use axum::response::{IntoResponse, Response};
use hg_domain::identity::accounts::{self, AccountKind};
use hg_domain::identity::sessions::{self, Subject};
use hg_domain::identity::{self, AuthError, Identity, RequestMeta, login, recovery, signup, totp};
use hg_http::auth::Authenticated;
use hg_http::{ApiError, ApiResponse, Payload};
use hg_platform::Platform;
use hg_platform::auth::{Principal, PrincipalKind, Role};
use http::StatusCode;
use http::request::Parts;
use serde_json::json;

use super::dto;

/// Where a request came from (see `RequestMeta::from_parts`).
pub struct Meta(pub RequestMeta);

impl FromRequestParts<Platform> for Meta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        platform: &Platform,
    ) -> Result<Self, Self::Rejection> {
        Ok(Meta(crate::common::request_meta(parts, platform)))
    }
}

fn subject_of(p: &Principal) -> Result<Subject, ApiError> {
    match p.kind() {
        PrincipalKind::User => Ok(Subject::Staff(p.id())),
        PrincipalKind::Patient => Ok(Subject::Patient(p.id())),
        PrincipalKind::Device => Err(ApiError::forbidden("devices have no account")),
    }
}

fn staff_only(p: &Principal) -> Result<(), ApiError> {
    if p.kind() == PrincipalKind::User {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only staff accounts use two-factor authentication",
        ))
    }
}

fn required<'a>(field: &'static str, v: &'a Option<String>) -> Result<&'a str, ApiError> {
    v.as_deref()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::invalid_field(field, "is required"))
}

fn non_empty(field: &'static str, v: &str) -> Result<(), ApiError> {
    if v.trim().is_empty() {
        Err(ApiError::invalid_field(field, "is required"))
    } else {
        Ok(())
    }
}

/// `POST /auth/login`.
#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "auth",
    summary = "Staff login: access and refresh tokens",
    request_body = dto::Login,
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<dto::LoginAnswer>)),
    security(("api_key" = []))
)]
pub async fn login(
    State(p): State<Platform>,
    Extension(ctx): Extension<Arc<Identity>>,
    Meta(meta): Meta,
    Payload(body): Payload<dto::Login>,
) -> Result<ApiResponse, ApiError> {
    non_empty("email", &body.email)?;
    non_empty("password", &body.password)?;
    let session = login::staff(
        &ctx,
        login::Credentials {
            email: &body.email,
            password: &body.password,
            totp_code: body.totp_code.as_deref(),
        },
        &meta,
    )
    .await?;
    let mut conn =
        p.db.acquire()
            .await
            .map_err(hg_platform::db::DbError::from)?;
    let user = accounts::staff_view(&mut conn, session.claims.sub)
        .await
        .map_err(AuthError::from)?;
    let mfa_setup_required = p.settings.auth.require_2fa_superadmin
        && user.as_ref().is_some_and(|u| {
            u.roles.iter().any(|r| r == Role::Superadmin.code()) && !u.totp_enabled
        });
    Ok(ApiResponse::ok(dto::LoginAnswer {
        tokens: session.tokens,
        user,
        mfa_setup_required,
    }))
}

/// `POST /auth/patient/login`.
#[utoipa::path(
    post,
    path = "/auth/patient/login",
    tag = "auth",
    summary = "Patient login",
    request_body = dto::Login,
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<dto::PatientLoginAnswer>)),
    security(("api_key" = []))
)]
pub async fn patient_login(
    State(p): State<Platform>,
    Extension(ctx): Extension<Arc<Identity>>,
    Meta(meta): Meta,
    Payload(body): Payload<dto::Login>,
) -> Result<ApiResponse, ApiError> {
    non_empty("email", &body.email)?;
    non_empty("password", &body.password)?;
    let session = login::patient(
        &ctx,
        login::Credentials {
            email: &body.email,
            password: &body.password,
            totp_code: None,
        },
        &meta,
    )
    .await?;
    let mut conn =
        p.db.acquire()
            .await
            .map_err(hg_platform::db::DbError::from)?;
    let patient = accounts::patient_view(&mut conn, session.claims.sub)
        .await
        .map_err(AuthError::from)?;
    Ok(ApiResponse::ok(dto::PatientLoginAnswer {
        tokens: session.tokens,
        patient,
    }))
}

/// `POST /auth/register`: with an invitation token, accepts it; otherwise self-service sign-up when
/// enabled.
#[utoipa::path(
    post,
    path = "/auth/register",
    tag = "auth",
    summary = "Accept an invitation (with invitation_token) or sign up as staff when enabled",
    request_body = dto::Register,
    responses((status = 202, description = "Sign-up accepted: the e-mail says how to go on (the same answer whether the address has an account or not)", body = hg_http::openapi::Envelope<serde_json::Value>), (status = 201, description = "Invitation accepted, account created", body = hg_http::openapi::Envelope<hg_domain::identity::signup::Accepted>), (status = 200, description = "Invitation accepted by an existing account", body = hg_http::openapi::Envelope<hg_domain::identity::signup::Accepted>), (status = 404, description = "No such invitation (HG-INVITATION-NOT-FOUND)", body = hg_http::openapi::ErrorDocument)),
    security(("api_key" = []))
)]
pub async fn register(
    Extension(ctx): Extension<Arc<Identity>>,
    Meta(meta): Meta,
    Payload(body): Payload<dto::Register>,
) -> Result<Response, ApiError> {
    if let Some(token) = body.invitation_token.as_deref() {
        let accepted = signup::accept_invitation(
            &ctx,
            token,
            body.name.as_deref(),
            body.password.as_deref(),
            &meta,
        )
        .await?;
        let status = if accepted.account_created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        return Ok(ApiResponse::with_status(status, accepted).into_response());
    }
    let new = signup::NewStaff {
        name: required("name", &body.name)?,
        email: required("email", &body.email)?,
        password: required("password", &body.password)?,
    };
    signup::register_staff(&ctx, new, &meta).await?;
    Ok(ApiResponse::with_status(StatusCode::ACCEPTED, registration_answer()).into_response())
}

/// `POST /auth/patient/register`.
#[utoipa::path(
    post,
    path = "/auth/patient/register",
    tag = "auth",
    summary = "Patient self-registration with an organization code",
    request_body = dto::PatientRegister,
    responses((status = 202, description = "Accepted: the e-mail says how to go on (the same answer whether the address has an account or not)", body = hg_http::openapi::Envelope<serde_json::Value>)),
    security(("api_key" = []))
)]
pub async fn patient_register(
    Extension(ctx): Extension<Arc<Identity>>,
    Meta(meta): Meta,
    Payload(body): Payload<dto::PatientRegister>,
) -> Result<ApiResponse, ApiError> {
    non_empty("org_code", &body.org_code)?;
    signup::register_patient(
        &ctx,
        signup::NewPatient {
            org_code: &body.org_code,
            name: &body.name,
            email: &body.email,
            password: &body.password,
            birthdate: body.birthdate,
            sex: body.sex.as_deref(),
        },
        &meta,
    )
    .await?;
    Ok(ApiResponse::with_status(
        StatusCode::ACCEPTED,
        registration_answer(),
    ))
}

/// What every registration answers, whether the address could be registered or has an account
/// already (spec/04 "Enumeration"): the e-mail tells its owner which.
fn registration_answer() -> serde_json::Value {
    json!({
        "email_verification": "sent",
        "message": "check your e-mail: it says how to finish the registration",
    })
}

/// `POST /auth/refresh`.
#[utoipa::path(
    post,
    path = "/auth/refresh",
    tag = "auth",
    summary = "Rotate the refresh token for new tokens",
    request_body = dto::Refresh,
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<dto::TokensAnswer>)),
    security(("api_key" = []))
)]
pub async fn refresh(
    Extension(ctx): Extension<Arc<Identity>>,
    Meta(meta): Meta,
    Payload(body): Payload<dto::Refresh>,
) -> Result<ApiResponse, ApiError> {
    non_empty("refresh_token", &body.refresh_token)?;
    let session = sessions::refresh(&ctx, &body.refresh_token, &meta).await?;
    Ok(ApiResponse::ok(dto::TokensAnswer {
        tokens: session.tokens,
    }))
}

/// `POST /auth/logout`: the session's refresh family is revoked and this access token deny-listed.
#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "auth",
    summary = "Revoke the session's refresh family and this access token",
    responses((status = 204, description = "Done"))
)]
pub async fn logout(
    Extension(ctx): Extension<Arc<Identity>>,
    Authenticated(principal): Authenticated,
    Meta(meta): Meta,
) -> Result<Response, ApiError> {
    sessions::logout(&ctx, &principal.claims, &meta).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /auth/me`.
#[utoipa::path(
    get,
    path = "/auth/me",
    tag = "auth",
    summary = "Who the token belongs to, with roles and permissions",
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<serde_json::Value>))
)]
pub async fn me(
    State(p): State<Platform>,
    Authenticated(principal): Authenticated,
) -> Result<ApiResponse, ApiError> {
    let mut conn =
        p.db.acquire()
            .await
            .map_err(hg_platform::db::DbError::from)?;
    match principal.kind() {
        PrincipalKind::User => {
            let user = accounts::staff_view(&mut conn, principal.id())
                .await
                .map_err(AuthError::from)?
                .ok_or_else(|| ApiError::from(hg_platform::auth::TokenError::Revoked))?;
            let granted = hg_domain::access::permissions()
                .of(&p.db, &principal)
                .await
                .map_err(AuthError::from)?;
            Ok(ApiResponse::ok(json!({
                "type": "user",
                "user": user,
                "session_roles": principal.claims.roles,
                "permissions": granted,
            })))
        }
        PrincipalKind::Patient => {
            let patient = accounts::patient_view(&mut conn, principal.id())
                .await
                .map_err(AuthError::from)?
                .ok_or_else(|| ApiError::from(hg_platform::auth::TokenError::Revoked))?;
            Ok(ApiResponse::ok(
                json!({"type": "patient", "patient": patient}),
            ))
        }
        PrincipalKind::Device => Err(ApiError::forbidden("devices have no profile")),
    }
}

/// `POST /auth/password/change`.
#[utoipa::path(
    post,
    path = "/auth/password/change",
    tag = "auth",
    summary = "Change the password (other sessions end)",
    request_body = dto::PasswordChange,
    responses((status = 204, description = "Done"))
)]
pub async fn password_change(
    Extension(ctx): Extension<Arc<Identity>>,
    Authenticated(principal): Authenticated,
    Meta(meta): Meta,
    Payload(body): Payload<dto::PasswordChange>,
) -> Result<Response, ApiError> {
    let subject = subject_of(&principal)?;
    recovery::change_password(
        &ctx,
        subject,
        principal.claims.fid,
        &body.current_password,
        &body.new_password,
        &meta,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /auth/password/forgot`: always 202, whether the address exists or not.
#[utoipa::path(
    post,
    path = "/auth/password/forgot",
    tag = "auth",
    summary = "Ask for a reset link (always 202)",
    request_body = dto::PasswordForgot,
    responses((status = 202, description = "Accepted")),
    security(("api_key" = []))
)]
pub async fn password_forgot(
    Extension(ctx): Extension<Arc<Identity>>,
    Meta(meta): Meta,
    Payload(body): Payload<dto::PasswordForgot>,
) -> Result<ApiResponse, ApiError> {
    identity::normalize_email(&body.email).map_err(|e| ApiError::invalid_field("email", e))?;
    let kind = match body.account {
        dto::AccountType::Staff => AccountKind::Staff,
        dto::AccountType::Patient => AccountKind::Patient,
    };
    recovery::forgot_password(&ctx, kind, &body.email, &meta).await?;
    Ok(ApiResponse::with_status(
        StatusCode::ACCEPTED,
        json!({"message": "if the address belongs to an account, a reset link is on its way"}),
    ))
}

/// `POST /auth/password/reset`.
#[utoipa::path(
    post,
    path = "/auth/password/reset",
    tag = "auth",
    summary = "Set a new password with a reset token",
    request_body = dto::PasswordReset,
    responses((status = 204, description = "Done"), (status = 404, description = "No such link (HG-LINK-NOT-FOUND)", body = hg_http::openapi::ErrorDocument)),
    security(("api_key" = []))
)]
pub async fn password_reset(
    Extension(ctx): Extension<Arc<Identity>>,
    Meta(meta): Meta,
    Payload(body): Payload<dto::PasswordReset>,
) -> Result<Response, ApiError> {
    non_empty("token", &body.token)?;
    recovery::reset_password(&ctx, &body.token, &body.new_password, &meta).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /auth/email/verify`.
#[utoipa::path(
    post,
    path = "/auth/email/verify",
    tag = "auth",
    summary = "Verify an e-mail address with its token",
    request_body = dto::Token,
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<serde_json::Value>), (status = 404, description = "No such link (HG-LINK-NOT-FOUND)", body = hg_http::openapi::ErrorDocument)),
    security(("api_key" = []))
)]
pub async fn email_verify(
    Extension(ctx): Extension<Arc<Identity>>,
    Meta(meta): Meta,
    Payload(body): Payload<dto::Token>,
) -> Result<ApiResponse, ApiError> {
    non_empty("token", &body.token)?;
    let subject = recovery::verify_email(&ctx, &body.token, &meta).await?;
    Ok(ApiResponse::ok(
        json!({"verified": true, "id": subject.id()}),
    ))
}

/// `POST /auth/email/resend`.
#[utoipa::path(
    post,
    path = "/auth/email/resend",
    tag = "auth",
    summary = "Send the verification e-mail again",
    responses((status = 202, description = "Accepted"), (status = 409, description = "Already verified (HG-EMAIL-ALREADY-VERIFIED)", body = hg_http::openapi::ErrorDocument))
)]
pub async fn email_resend(
    Extension(ctx): Extension<Arc<Identity>>,
    Authenticated(principal): Authenticated,
    Meta(meta): Meta,
) -> Result<ApiResponse, ApiError> {
    recovery::resend_verification(&ctx, subject_of(&principal)?, &meta).await?;
    Ok(ApiResponse::with_status(
        StatusCode::ACCEPTED,
        json!({"email_verification": "sent"}),
    ))
}

/// `POST /auth/invitations/accept`.
#[utoipa::path(
    post,
    path = "/auth/invitations/accept",
    tag = "auth",
    summary = "Accept an invitation",
    request_body = dto::InvitationAccept,
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<hg_domain::identity::signup::Accepted>), (status = 404, description = "No such invitation (HG-INVITATION-NOT-FOUND)", body = hg_http::openapi::ErrorDocument)),
    security(("api_key" = []))
)]
pub async fn invitation_accept(
    Extension(ctx): Extension<Arc<Identity>>,
    Meta(meta): Meta,
    Payload(body): Payload<dto::InvitationAccept>,
) -> Result<ApiResponse, ApiError> {
    non_empty("token", &body.token)?;
    let accepted = signup::accept_invitation(
        &ctx,
        &body.token,
        body.name.as_deref(),
        body.password.as_deref(),
        &meta,
    )
    .await?;
    let status = if accepted.account_created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(ApiResponse::with_status(status, accepted))
}

/// `GET /auth/.well-known/jwks.json`: the bare JWKS document (not an envelope: clients expect RFC 7517).
#[utoipa::path(
    get,
    path = "/auth/.well-known/jwks.json",
    tag = "auth",
    summary = "The public keys that verify access tokens (RFC 7517, not an envelope)",
    responses((status = 200, description = "OK", body = serde_json::Value)),
    security(("api_key" = []))
)]
pub async fn jwks(State(p): State<Platform>) -> Result<Response, ApiError> {
    let keys = p.tokens.as_ref().ok_or_else(ApiError::unavailable)?;
    Ok(axum::Json(keys.jwks()).into_response())
}

/// `POST /auth/2fa/setup`.
#[utoipa::path(
    post,
    path = "/auth/2fa/setup",
    tag = "auth",
    summary = "Start two-factor enrolment (secret and otpauth URI)",
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<hg_domain::identity::totp::Enrollment>))
)]
pub async fn totp_setup(
    Extension(ctx): Extension<Arc<Identity>>,
    Authenticated(principal): Authenticated,
) -> Result<ApiResponse, ApiError> {
    staff_only(&principal)?;
    let enrollment = totp::setup(&ctx, principal.id()).await?;
    Ok(ApiResponse::ok(enrollment))
}

/// `POST /auth/2fa/confirm`.
#[utoipa::path(
    post,
    path = "/auth/2fa/confirm",
    tag = "auth",
    summary = "Confirm two-factor enrolment with a code",
    request_body = dto::TotpCode,
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<dto::TotpState>))
)]
pub async fn totp_confirm(
    Extension(ctx): Extension<Arc<Identity>>,
    Authenticated(principal): Authenticated,
    Meta(meta): Meta,
    Payload(body): Payload<dto::TotpCode>,
) -> Result<ApiResponse, ApiError> {
    staff_only(&principal)?;
    non_empty("code", &body.code)?;
    totp::confirm(&ctx, principal.id(), &body.code, &meta).await?;
    Ok(ApiResponse::ok(dto::TotpState { totp_enabled: true }))
}

/// `POST /auth/2fa/disable`.
#[utoipa::path(
    post,
    path = "/auth/2fa/disable",
    tag = "auth",
    summary = "Turn two-factor authentication off",
    request_body = dto::TotpDisable,
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<dto::TotpState>))
)]
pub async fn totp_disable(
    Extension(ctx): Extension<Arc<Identity>>,
    Authenticated(principal): Authenticated,
    Meta(meta): Meta,
    Payload(body): Payload<dto::TotpDisable>,
) -> Result<ApiResponse, ApiError> {
    staff_only(&principal)?;
    totp::disable(&ctx, principal.id(), &body.password, &meta).await?;
    Ok(ApiResponse::ok(dto::TotpState {
        totp_enabled: false,
    }))
}
