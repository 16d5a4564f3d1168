//! The auth component (5001): sign-in, sessions, passwords, e-mail verification, invitations, TOTP and
//! the public keys (spec/03 "auth"). Every route is listed in [`api`]; handlers are thin adapters
//! over `hg_domain::identity`.

mod dto;
mod handlers;

use utoipa_axum::routes;

use crate::api::Api;

/// Every route of the auth component, with its description.
pub fn api() -> Api {
    Api::new()
        .with(routes!(handlers::register))
        .with(routes!(handlers::login))
        .with(routes!(handlers::patient_login))
        .with(routes!(handlers::patient_register))
        .with(routes!(handlers::refresh))
        .with(routes!(handlers::logout))
        .with(routes!(handlers::me))
        .with(routes!(handlers::password_change))
        .with(routes!(handlers::password_forgot))
        .with(routes!(handlers::password_reset))
        .with(routes!(handlers::email_verify))
        .with(routes!(handlers::email_resend))
        .with(routes!(handlers::invitation_accept))
        .with(routes!(handlers::jwks))
        .with(routes!(handlers::totp_setup))
        .with(routes!(handlers::totp_confirm))
        .with(routes!(handlers::totp_disable))
}

/// The auth component: its routes, and the identity context its handlers share.
pub const DESCRIPTOR: crate::component::Descriptor = crate::component::Descriptor {
    start: |platform, _| {
        let identity = std::sync::Arc::new(hg_domain::identity::Identity::of(platform));
        Ok(crate::component::Started {
            inner: Box::new(move |r| r.layer(axum::Extension(identity))),
            ..crate::component::Started::routes(axum::Router::new())
        })
    },
    ..crate::component::Descriptor::api(hg_platform::Component::Auth, api)
};
