//! The patient component: records by scope (org_admin, care-team clinician, caregiver, patient),
//! writes by role, care-team and caregiver links (one active primary, also under concurrency),
//! locations, ground truth, read views, audit of reads, and 401/404 everywhere.

use hg_platform::Component;
use hg_test_support::fixtures;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{error_id, names_field, pluck};
use crate::world::World;

const PATIENT: Component = Component::Patient;

async fn world() -> World {
    World::new(&[PATIENT, Component::Auth]).await
}

fn names(list: &Value) -> Vec<&str> {
    pluck(list, "person_name")
}

#[tokio::test]
async fn every_route_refuses_anonymous_callers() {
    let w = world().await;
    let (p, x) = (w.p1, Uuid::new_v4());
    w.assert_anonymous_refused(&[
        (Method::GET, "/patients".to_owned()),
        (Method::POST, "/patients".to_owned()),
        (Method::GET, "/patients/count".to_owned()),
        (Method::POST, "/patients/count".to_owned()),
        (Method::GET, format!("/patients/{p}")),
        (Method::PATCH, format!("/patients/{p}")),
        (Method::POST, format!("/patients/{p}/archive")),
        (Method::GET, format!("/patients/{p}/care-teams")),
        (Method::POST, format!("/patients/{p}/care-teams")),
        (Method::DELETE, format!("/patients/{p}/care-teams/{x}")),
        (Method::GET, format!("/patients/{p}/caregivers")),
        (Method::POST, format!("/patients/{p}/caregivers")),
        (Method::PATCH, format!("/patients/{p}/caregivers/{x}")),
        (Method::DELETE, format!("/patients/{p}/caregivers/{x}")),
        (Method::GET, format!("/patients/{p}/locations")),
        (Method::POST, format!("/patients/{p}/locations")),
        (Method::GET, format!("/patients/{p}/alerts")),
        (Method::GET, format!("/patients/{p}/devices")),
        (Method::GET, format!("/patients/{p}/ground-truth")),
        (Method::POST, format!("/patients/{p}/ground-truth")),
        (Method::GET, format!("/patients/{p}/ground-truth/{x}")),
        (Method::PUT, format!("/patients/{p}/ground-truth/{x}")),
        (Method::DELETE, format!("/patients/{p}/ground-truth/{x}")),
    ])
    .await;
}

mod clinical;
mod links;
mod records;
mod scope;
