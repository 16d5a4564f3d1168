//! Request bodies of the organization component.

use hg_domain::ids::{PatientId, UserId};
use serde::Deserialize;
use uuid::Uuid;

use crate::common::double_option;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewOrganization {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub allow_patient_registration: Option<bool>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct OrganizationPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub allow_patient_registration: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    pub logo_url: Option<Option<String>>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewMember {
    #[serde(default)]
    pub user_id: Option<Uuid>,
    #[serde(default)]
    pub email: Option<String>,
    pub org_role: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct MemberRole {
    pub org_role: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewInvitation {
    pub email: String,
    pub org_role: String,
    #[serde(default)]
    pub ttl_hours: Option<i64>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TeamName {
    pub name: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewTeamMember {
    pub user_id: UserId,
    pub role: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TeamRole {
    pub role: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = TeamPatientLink)]
pub struct TeamPatient {
    pub patient_id: PatientId,
}
