//! The organization component (5002): organizations, members, invitations, statistics and care teams
//! (spec/03 "organization"). Every route is listed in [`routes`]; handlers adapt `hg_domain`'s
//! `organization` and `care_team`.

mod dto;
mod handlers;

use axum::Router;
use axum::routing::{delete, get, post};
use hg_platform::Platform;

use handlers as h;

/// Every route of the organization component.
pub fn routes() -> Router<Platform> {
    Router::new()
        .route("/organizations", get(h::list).post(h::create))
        .route(
            "/organizations/{id}",
            get(h::get).patch(h::update).delete(h::archive),
        )
        .route("/organizations/{id}/stats", get(h::stats))
        .route(
            "/organizations/{id}/members",
            get(h::members).post(h::add_member),
        )
        .route(
            "/organizations/{id}/members/{user_id}",
            axum::routing::patch(h::set_member_role).delete(h::remove_member),
        )
        .route(
            "/organizations/{id}/invitations",
            get(h::invitations).post(h::invite),
        )
        .route(
            "/organizations/{id}/invitations/{invitation_id}",
            delete(h::revoke_invitation),
        )
        .route(
            "/organizations/{id}/invitations/{invitation_id}/revoke",
            post(h::revoke_invitation),
        )
        .route(
            "/organizations/{id}/care-teams",
            get(h::teams).post(h::create_team),
        )
        .route(
            "/organizations/{id}/care-teams/{team_id}",
            get(h::team).patch(h::rename_team).delete(h::delete_team),
        )
        .route(
            "/organizations/{id}/care-teams/{team_id}/members",
            get(h::team_members).post(h::add_team_member),
        )
        .route(
            "/organizations/{id}/care-teams/{team_id}/members/{user_id}",
            axum::routing::patch(h::set_team_member_role).delete(h::remove_team_member),
        )
        .route(
            "/organizations/{id}/care-teams/{team_id}/patients",
            get(h::team_patients).post(h::add_team_patient),
        )
        .route(
            "/organizations/{id}/care-teams/{team_id}/patients/{patient_id}",
            delete(h::remove_team_patient),
        )
}
