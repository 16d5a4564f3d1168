//! The organization component (5002): organizations, members, invitations, statistics and care teams
//! (spec/03 "organization"). Every route is listed in [`api`]; handlers adapt `hg_domain`'s
//! `organization` and `care_team`.

mod dto;
mod handlers;

use utoipa_axum::routes;

use crate::api::Api;

use handlers as h;

pub fn api() -> Api {
    Api::new()
        .with(routes!(h::list, h::create))
        .with(routes!(h::get, h::update, h::archive))
        .with(routes!(h::stats))
        .with(routes!(h::members, h::add_member))
        .with(routes!(h::set_member_role, h::remove_member))
        .with(routes!(h::invitations, h::invite))
        .with(routes!(h::revoke_invitation))
        .with(routes!(h::revoke_invitation_post))
        .with(routes!(h::teams, h::create_team))
        .with(routes!(h::team, h::rename_team, h::delete_team))
        .with(routes!(h::team_members, h::add_team_member))
        .with(routes!(h::set_team_member_role, h::remove_team_member))
        .with(routes!(h::team_patients, h::add_team_patient))
        .with(routes!(h::remove_team_patient))
}

/// The organization component.
pub const DESCRIPTOR: crate::component::Descriptor =
    crate::component::Descriptor::api(hg_platform::Component::Organization, api);
