//! The patient component: records by scope (org_admin, care-team clinician, caregiver, patient),
//! writes by role, care-team and caregiver links (one active primary, also under concurrency),
//! locations, ground truth, read views, audit of reads, and 401/404 everywhere.

use hg_platform::Component;
use hg_test_support::{TestApp, fixtures};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{call, error_id, names_field};

const PATIENT: Component = Component::Patient;

struct World {
    app: TestApp,
    org_a: Uuid,
    org_b: Uuid,
    team_a: Uuid,
    admin_a: String,
    doctor_a: String,
    doctor_a_id: Uuid,
    other_doctor_a: String,
    viewer_a: String,
    admin_b: String,
    caregiver: String,
    caregiver_id: Uuid,
    /// In team A.
    p1: Uuid,
    /// In no team.
    p2: Uuid,
    /// Organization B.
    pb: Uuid,
}

async fn world() -> World {
    let app = TestApp::builder()
        .with(PATIENT)
        .with(Component::Auth)
        .spawn()
        .await;
    let pool = &app.db.pool;
    let org_a = fixtures::org(pool, "ORG-A").await;
    let org_b = fixtures::org(pool, "ORG-B").await;
    let admin_a = fixtures::user(pool, "admin.a@example.org", None).await;
    fixtures::membership(pool, org_a, admin_a, "org_admin").await;
    let doctor_a_id = fixtures::user(pool, "doctor.a@example.org", Some("clinician")).await;
    fixtures::membership(pool, org_a, doctor_a_id, "org_user").await;
    let other_doctor = fixtures::user(pool, "other.doctor@example.org", Some("clinician")).await;
    fixtures::membership(pool, org_a, other_doctor, "org_user").await;
    let viewer = fixtures::user(pool, "viewer.a@example.org", None).await;
    fixtures::membership(pool, org_a, viewer, "viewer").await;
    let admin_b = fixtures::user(pool, "admin.b@example.org", None).await;
    fixtures::membership(pool, org_b, admin_b, "org_admin").await;
    let caregiver_id = fixtures::user(pool, "carer@example.org", Some("caregiver")).await;
    let team_a = fixtures::care_team(pool, org_a, "Cardio", &[doctor_a_id]).await;
    let p1 = fixtures::patient(pool, org_a, "Ana Uno", Some(team_a)).await;
    let p2 = fixtures::patient(pool, org_a, "Beto Dos", None).await;
    let pb = fixtures::patient(pool, org_b, "Carla Be", None).await;
    World {
        admin_a: app.token_for(admin_a).await,
        doctor_a: app.token_for(doctor_a_id).await,
        other_doctor_a: app.token_for(other_doctor).await,
        viewer_a: app.token_for(viewer).await,
        admin_b: app.token_for(admin_b).await,
        caregiver: app.token_for(caregiver_id).await,
        app,
        org_a,
        org_b,
        team_a,
        doctor_a_id,
        caregiver_id,
        p1,
        p2,
        pb,
    }
}

impl World {
    async fn req(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        call(&self.app, method, PATIENT, path, Some(token), body).await
    }
    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.req(Method::GET, path, token, None).await
    }
    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.req(Method::POST, path, token, Some(body)).await
    }
}

fn names(list: &Value) -> Vec<&str> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["person_name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn every_route_refuses_anonymous_callers() {
    let w = world().await;
    let (p, x) = (w.p1, Uuid::new_v4());
    for (method, path) in [
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
    ] {
        let (status, body) = call(
            &w.app,
            method.clone(),
            PATIENT,
            &path,
            None,
            Some(json!({})),
        )
        .await;
        assert_eq!(
            (status, error_id(&body)),
            (401, "HG-UNAUTHENTICATED"),
            "{method} {path}"
        );
    }
}

mod clinical;
mod links;
mod records;
mod scope;
