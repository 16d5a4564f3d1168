//! Request bodies of the patient component.

use chrono::{DateTime, NaiveDate, Utc};
use hg_domain::ids::CareTeamId;
use serde::Deserialize;
use uuid::Uuid;

use crate::common::double_option;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewPatient {
    pub org_id: Uuid,
    pub person_name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub birthdate: Option<NaiveDate>,
    #[serde(default)]
    pub sex: Option<String>,
    #[serde(default)]
    pub risk_level: Option<String>,
    #[serde(default)]
    pub care_team_ids: Vec<Uuid>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PatientPatch {
    #[serde(default)]
    pub person_name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub birthdate: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "double_option")]
    pub sex: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub risk_level: Option<Option<String>>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[schema(as = PatientCountFilters)]
pub struct CountFilters {
    #[serde(default)]
    pub org_id: Option<Uuid>,
    #[serde(default)]
    pub risk_level: Option<String>,
    #[serde(default)]
    pub care_team_id: Option<Uuid>,
    #[serde(default)]
    pub q: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TeamLink {
    pub team_id: CareTeamId,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewCaregiver {
    pub user_id: Uuid,
    pub relationship: String,
    #[serde(default)]
    pub is_primary: bool,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CaregiverPatch {
    #[serde(default)]
    pub relationship: Option<String>,
    #[serde(default)]
    pub is_primary: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    pub note: Option<Option<String>>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewLocation {
    #[serde(default)]
    pub ts: Option<DateTime<Utc>>,
    pub latitude: f64,
    pub longitude: f64,
    #[serde(default)]
    pub accuracy_m: Option<f64>,
    #[serde(default)]
    pub source: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = LabelInput)]
pub struct Label {
    pub event_type: String,
    pub onset: DateTime<Utc>,
    pub offset_at: DateTime<Utc>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}
