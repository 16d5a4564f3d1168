//! The patient component (5004): patient records, their care-team and caregiver links, locations,
//! ground-truth labels, and read views of their alerts and devices (spec/03 "patient"). Every route
//! is listed in [`api`]; handlers adapt `hg_domain::patient`.

mod dto;
mod handlers;

use utoipa_axum::routes;

use crate::api::Api;

use handlers as h;

/// Every route of the patient component, with its description.
pub fn api() -> Api {
    Api::new()
        .with(routes!(h::list, h::create))
        .with(routes!(h::count, h::count_post))
        .with(routes!(h::get, h::update))
        .with(routes!(h::archive))
        .with(routes!(h::care_teams, h::link_team))
        .with(routes!(h::unlink_team))
        .with(routes!(h::caregivers, h::add_caregiver))
        .with(routes!(h::update_caregiver, h::end_caregiver))
        .with(routes!(h::locations, h::add_location))
        .with(routes!(h::alerts))
        .with(routes!(h::devices))
        .with(routes!(h::labels, h::add_label))
        .with(routes!(h::get_label, h::update_label, h::delete_label))
}

/// The patient component.
pub const DESCRIPTOR: crate::component::Descriptor =
    crate::component::Descriptor::api(hg_platform::Component::Patient, api);
