//! The patient component (5004): patient records, their care-team and caregiver links, locations,
//! ground-truth labels, and read views of their alerts and devices (spec/03 "patient"). Every route
//! is listed in [`routes`]; handlers adapt `hg_domain::patient`.

mod dto;
mod handlers;

use axum::Router;
use axum::routing::{delete, get, post};
use hg_platform::Platform;

use handlers as h;

/// Every route of the patient component.
pub fn routes() -> Router<Platform> {
    Router::new()
        .route("/patients", get(h::list).post(h::create))
        .route("/patients/count", get(h::count).post(h::count_post))
        .route("/patients/{id}", get(h::get).patch(h::update))
        .route("/patients/{id}/archive", post(h::archive))
        .route(
            "/patients/{id}/care-teams",
            get(h::care_teams).post(h::link_team),
        )
        .route(
            "/patients/{id}/care-teams/{team_id}",
            delete(h::unlink_team),
        )
        .route(
            "/patients/{id}/caregivers",
            get(h::caregivers).post(h::add_caregiver),
        )
        .route(
            "/patients/{id}/caregivers/{link_id}",
            axum::routing::patch(h::update_caregiver).delete(h::end_caregiver),
        )
        .route(
            "/patients/{id}/locations",
            get(h::locations).post(h::add_location),
        )
        .route("/patients/{id}/alerts", get(h::alerts))
        .route("/patients/{id}/devices", get(h::devices))
        .route(
            "/patients/{id}/ground-truth",
            get(h::labels).post(h::add_label),
        )
        .route(
            "/patients/{id}/ground-truth/{label_id}",
            get(h::get_label)
                .put(h::update_label)
                .delete(h::delete_label),
        )
}
