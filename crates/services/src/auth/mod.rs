//! The auth component (5001): sign-in, sessions, passwords, e-mail verification, invitations, TOTP and
//! the public keys (spec/03 "auth"). Every route is listed in [`routes`]; handlers are thin adapters
//! over `hg_domain::identity`.

mod dto;
mod handlers;

use axum::Router;
use axum::routing::{get, post};
use hg_platform::Platform;

/// Every route of the auth component.
pub fn routes() -> Router<Platform> {
    Router::new()
        .route("/auth/register", post(handlers::register))
        .route("/auth/login", post(handlers::login))
        .route("/auth/patient/login", post(handlers::patient_login))
        .route("/auth/patient/register", post(handlers::patient_register))
        .route("/auth/refresh", post(handlers::refresh))
        .route("/auth/logout", post(handlers::logout))
        .route("/auth/me", get(handlers::me))
        .route("/auth/password/change", post(handlers::password_change))
        .route("/auth/password/forgot", post(handlers::password_forgot))
        .route("/auth/password/reset", post(handlers::password_reset))
        .route("/auth/email/verify", post(handlers::email_verify))
        .route("/auth/email/resend", post(handlers::email_resend))
        .route(
            "/auth/invitations/accept",
            post(handlers::invitation_accept),
        )
        .route("/auth/.well-known/jwks.json", get(handlers::jwks))
        .route("/auth/2fa/setup", post(handlers::totp_setup))
        .route("/auth/2fa/confirm", post(handlers::totp_confirm))
        .route("/auth/2fa/disable", post(handlers::totp_disable))
}
