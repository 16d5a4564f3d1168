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

#[tokio::test]
async fn each_principal_lists_exactly_its_patients() {
    let w = world().await;
    fixtures::caregiver_link(&w.app.db.pool, w.org_a, w.p2, w.caregiver_id, true).await;
    for (token, expected) in [
        (&w.admin_a, vec!["Ana Uno", "Beto Dos"]),
        (&w.viewer_a, vec!["Ana Uno", "Beto Dos"]),
        (&w.doctor_a, vec!["Ana Uno"]),
        (&w.other_doctor_a, vec![]),
        (&w.caregiver, vec!["Beto Dos"]),
        (&w.admin_b, vec!["Carla Be"]),
    ] {
        let (status, list) = w.get("/patients", token).await;
        assert_eq!(status, 200, "{list}");
        assert_eq!(names(&list), expected);
        assert_eq!(list["meta"]["total"], expected.len());
    }
    let (_, v) = w.get("/patients/count", &w.doctor_a).await;
    assert_eq!(v["data"]["count"], 1);
    let (_, v) = w
        .post(
            "/patients/count",
            &w.admin_a,
            json!({"care_team_id": w.team_a}),
        )
        .await;
    assert_eq!(v["data"]["count"], 1);
    let (_, list) = w
        .get(
            &format!("/patients?care_team_id={}&q=ana", w.team_a),
            &w.admin_a,
        )
        .await;
    assert_eq!(names(&list), ["Ana Uno"]);
    for bad in [
        "risk_level=extreme",
        "org_id=x",
        "sort=email",
        "care_team_id=1",
        "foo=bar",
    ] {
        let (status, v) = w.get(&format!("/patients?{bad}"), &w.admin_a).await;
        assert_eq!((status, error_id(&v)), (400, "HG-VALIDATION"), "{bad}");
    }
}

#[tokio::test]
async fn every_page_of_a_list_tells_the_same_total_whatever_the_scope() {
    let w = world().await;
    let pool = &w.app.db.pool;
    // Ana Uno is already in the team; four more make five, over three pages of two.
    for name in ["Dora Tres", "Eva Cuatro", "Fede Cinco", "Gala Seis"] {
        fixtures::patient(pool, w.org_a, name, Some(w.team_a)).await;
    }
    // The doctor's scope is bounded by the team (the page query counts), the admin's is org-wide
    // (a separate count); both must agree on every page, from a cursor or an offset too.
    for (token, total) in [(&w.doctor_a, 5), (&w.admin_a, 6)] {
        let mut seen = Vec::new();
        let mut path = "/patients?limit=2".to_owned();
        loop {
            let (status, page) = w.get(&path, token).await;
            assert_eq!(status, 200, "{page}");
            assert_eq!(page["meta"]["total"], total, "{path}");
            seen.extend(names(&page).into_iter().map(str::to_owned));
            match page["meta"]["next_cursor"].as_str() {
                Some(c) => path = format!("/patients?limit=2&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen.len(), total, "{seen:?}");
        for (offset, len) in [(1, 2), (total - 1, 1), (total + 3, 0)] {
            let (status, page) = w
                .get(&format!("/patients?limit=2&offset={offset}"), token)
                .await;
            assert_eq!(status, 200, "{page}");
            assert_eq!(names(&page).len(), len, "offset {offset}");
            assert_eq!(page["meta"]["total"], total, "offset {offset}");
        }
    }
}

#[tokio::test]
async fn patients_of_other_teams_and_organizations_are_404_for_every_route() {
    let w = world().await;
    for (token, id) in [
        (&w.admin_a, w.pb),
        (&w.other_doctor_a, w.p1),
        (&w.doctor_a, w.p2),
        (&w.caregiver, w.p1),
    ] {
        for path in [
            format!("/patients/{id}"),
            format!("/patients/{id}/care-teams"),
            format!("/patients/{id}/caregivers"),
            format!("/patients/{id}/locations"),
            format!("/patients/{id}/alerts"),
            format!("/patients/{id}/devices"),
            format!("/patients/{id}/ground-truth"),
        ] {
            let (status, v) = w.get(&path, token).await;
            assert_eq!(
                (status, error_id(&v)),
                (404, "HG-PATIENT-NOT-FOUND"),
                "{path}"
            );
        }
        let (status, _) = w
            .req(
                Method::PATCH,
                &format!("/patients/{id}"),
                token,
                Some(json!({"person_name": "X"})),
            )
            .await;
        assert_eq!(status, 404);
        let (status, _) = w
            .post(&format!("/patients/{id}/archive"), token, json!({}))
            .await;
        assert_eq!(status, 404);
    }
}

#[tokio::test]
async fn reading_a_patient_is_audited() {
    let w = world().await;
    let (status, v) = w.get(&format!("/patients/{}", w.p1), &w.doctor_a).await;
    assert_eq!(
        (status, v["data"]["person_name"].as_str()),
        (200, Some("Ana Uno"))
    );
    let entry: Value = sqlx::query_scalar(
        "select payload from outbox_events where payload->>'action' = 'PATIENT_READ'",
    )
    .fetch_one(&w.app.db.pool)
    .await
    .unwrap();
    assert_eq!(entry["entity_id"], w.p1.to_string());
    assert_eq!(entry["actor_id"], w.doctor_a_id.to_string());
    assert_eq!(entry["org_id"], w.org_a.to_string());
    w.get("/patients", &w.doctor_a).await;
    let n: i64 = sqlx::query_scalar(
        "select count(*) from outbox_events where payload->>'action' = 'PATIENT_LIST'",
    )
    .fetch_one(&w.app.db.pool)
    .await
    .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn no_answer_tells_that_an_email_is_a_patient_of_another_organization() {
    let w = world().await;
    let pool = &w.app.db.pool;
    // A patient of ORG-B who signs in with this address.
    let theirs = fixtures::patient_login(pool, w.org_b, "cardiac.person@example.org").await;
    sqlx::query("update organizations set allow_patient_registration = true where id = $1")
        .bind(w.org_a)
        .execute(pool)
        .await
        .unwrap();

    // An org admin of ORG-A registers a patient with that address: nothing says it is taken.
    let (status, v) = w
        .post(
            "/patients",
            &w.admin_a,
            json!({"org_id": w.org_a, "person_name": "Same Address", "email": "Cardiac.Person@example.org"}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    // Within ORG-A itself the address is taken, and saying so tells only about ORG-A.
    let (status, v) = w
        .post(
            "/patients",
            &w.admin_a,
            json!({"org_id": w.org_a, "person_name": "Again", "email": "cardiac.person@example.org"}),
        )
        .await;
    assert_eq!((status, error_id(&v)), (409, "HG-EMAIL-TAKEN"));

    // Self-registration answers alike for that address and for a fresh one.
    let register = |email: &'static str, org: &'static str| {
        let app = &w.app;
        async move {
            call(
                app,
                Method::POST,
                Component::Auth,
                "/auth/patient/register",
                None,
                Some(json!({"org_code": org, "name": "Some One", "email": email, "password": "heart rhythm 42"})),
            )
            .await
        }
    };
    let taken = register("cardiac.person@example.org", "ORG-A").await;
    let fresh = register("fresh.person@example.org", "ORG-A").await;
    assert_eq!((taken.0, &taken.1["data"]), (fresh.0, &fresh.1["data"]));
    assert_eq!(taken.0, 202);
    // The existing patient still signs in, and is the only login for the address.
    let (status, v) = call(
        &w.app,
        Method::POST,
        Component::Auth,
        "/auth/patient/login",
        None,
        Some(
            json!({"email": "cardiac.person@example.org", "password": fixtures::FIXTURE_PASSWORD}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["patient"]["id"], theirs.to_string());
}

#[tokio::test]
async fn org_admins_create_patients_with_validation_and_others_cannot() {
    let w = world().await;
    let body = json!({"org_id": w.org_a, "person_name": "Nuevo Paciente", "email": "nuevo@example.org", "birthdate": "1970-05-06", "sex": "f", "risk_level": "High", "care_team_ids": [w.team_a]});
    let (status, v) = w.post("/patients", &w.admin_a, body.clone()).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(
        (v["data"]["sex"].as_str(), v["data"]["risk_level"].as_str()),
        (Some("F"), Some("high"))
    );
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    let (_, teams) = w
        .get(&format!("/patients/{id}/care-teams"), &w.doctor_a)
        .await;
    assert_eq!(teams["data"][0]["name"], "Cardio");

    let (status, v) = w.post("/patients", &w.admin_a, body.clone()).await;
    assert_eq!((status, error_id(&v)), (409, "HG-EMAIL-TAKEN"));
    for (change, field) in [
        (json!({"person_name": ""}), "person_name"),
        (json!({"email": "not-an-email"}), "email"),
        (json!({"birthdate": "2999-01-01"}), "birthdate"),
        (json!({"birthdate": "yesterday"}), "birthdate"),
        (json!({"sex": "Q"}), "sex"),
        (json!({"risk_level": "apocalyptic"}), "risk_level"),
        (json!({"care_team_ids": [Uuid::new_v4()]}), "care_team_ids"),
        (json!({"org_id": Uuid::new_v4()}), "org_id"),
        (json!({"org_id": "nope"}), "org_id"),
    ] {
        let mut b = json!({"org_id": w.org_a, "person_name": "Valid Name"});
        for (k, v) in change.as_object().unwrap() {
            b[k] = v.clone();
        }
        let (status, v) = w.post("/patients", &w.admin_a, b.clone()).await;
        assert_eq!(status, 400, "{b}");
        assert!(names_field(&v, field), "{field}: {v}");
    }
    let (status, v) = w
        .post(
            "/patients",
            &w.admin_a,
            json!({"org_id": w.org_b, "person_name": "Intruso"}),
        )
        .await;
    assert_eq!(status, 400, "another organization is not visible: {v}");
    assert!(names_field(&v, "org_id"));
    let (status, _) = w
        .post(
            "/patients",
            &w.doctor_a,
            json!({"org_id": w.org_a, "person_name": "By doctor"}),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn the_care_team_edits_the_record_and_caregivers_and_viewers_cannot() {
    let w = world().await;
    let path = format!("/patients/{}", w.p1);
    fixtures::caregiver_link(&w.app.db.pool, w.org_a, w.p1, w.caregiver_id, true).await;
    let (status, v) = w
        .req(
            Method::PATCH,
            &path,
            &w.doctor_a,
            Some(json!({"risk_level": "high", "birthdate": null})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["risk_level"], "high");
    for token in [&w.caregiver, &w.viewer_a] {
        let (status, v) = w
            .req(
                Method::PATCH,
                &path,
                token,
                Some(json!({"person_name": "Changed"})),
            )
            .await;
        assert_eq!((status, error_id(&v)), (403, "HG-FORBIDDEN"));
        let (status, _) = w.get(&path, token).await;
        assert_eq!(status, 200, "they can still read it");
    }
    let (status, v) = w
        .req(
            Method::PATCH,
            &path,
            &w.doctor_a,
            Some(json!({"person_name": "   "})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(names_field(&v, "person_name"));
    let (status, _) = w
        .req(
            Method::PATCH,
            &path,
            &w.doctor_a,
            Some(json!({"org_id": w.org_b})),
        )
        .await;
    assert_eq!(status, 400, "unknown fields are refused");
    let changes: Vec<Value> = sqlx::query_scalar(
        "select payload from outbox_events where payload->>'action' = 'PATIENT_UPDATE'",
    )
    .fetch_all(&w.app.db.pool)
    .await
    .unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["details"]["changed"]["risk_level"], "high");
}

#[tokio::test]
async fn archiving_hides_the_patient_but_keeps_it_for_administrators() {
    let w = world().await;
    let (status, _) = w
        .post(
            &format!("/patients/{}/archive", w.p1),
            &w.doctor_a,
            json!({}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, v) = w
        .post(
            &format!("/patients/{}/archive", w.p1),
            &w.admin_a,
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(v["data"]["archived_at"].is_string());
    assert_eq!(
        w.get(&format!("/patients/{}", w.p1), &w.doctor_a).await.0,
        404
    );
    let (_, list) = w.get("/patients", &w.admin_a).await;
    assert_eq!(names(&list), ["Beto Dos"]);
    let (_, list) = w.get("/patients?archived=true", &w.admin_a).await;
    assert_eq!(names(&list), ["Ana Uno"]);
    assert_eq!(
        w.get(&format!("/patients/{}", w.p1), &w.admin_a).await.0,
        200
    );
    let (status, v) = w
        .req(
            Method::PATCH,
            &format!("/patients/{}", w.p1),
            &w.admin_a,
            Some(json!({"person_name": "Back"})),
        )
        .await;
    assert_eq!((status, error_id(&v)), (422, "HG-PATIENT-ARCHIVED"));
}

#[tokio::test]
async fn care_team_links_are_managed_by_org_admins() {
    let w = world().await;
    let path = format!("/patients/{}/care-teams", w.p2);
    let team_b = fixtures::care_team(&w.app.db.pool, w.org_b, "B team", &[]).await;
    let (status, v) = w.post(&path, &w.admin_a, json!({"team_id": team_b})).await;
    assert_eq!(status, 400, "a team of another organization: {v}");
    assert!(names_field(&v, "team_id"));
    assert_eq!(
        w.post(&path, &w.doctor_a, json!({"team_id": w.team_a}))
            .await
            .0,
        404,
        "the doctor cannot see p2 yet"
    );
    assert_eq!(
        w.post(&path, &w.admin_a, json!({"team_id": w.team_a}))
            .await
            .0,
        201
    );
    assert_eq!(
        w.post(&path, &w.admin_a, json!({"team_id": w.team_a}))
            .await
            .1["error"]["id"],
        "HG-ALREADY-LINKED"
    );
    assert_eq!(
        w.get(&format!("/patients/{}", w.p2), &w.doctor_a).await.0,
        200,
        "now in the doctor's team"
    );
    assert_eq!(
        w.req(
            Method::DELETE,
            &format!("{path}/{}", w.team_a),
            &w.admin_a,
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        w.req(
            Method::DELETE,
            &format!("{path}/{}", w.team_a),
            &w.admin_a,
            None
        )
        .await
        .0,
        404
    );
}

#[tokio::test]
async fn caregivers_are_linked_with_one_active_primary() {
    let w = world().await;
    let path = format!("/patients/{}/caregivers", w.p1);
    let second = fixtures::user(
        &w.app.db.pool,
        "second.carer@example.org",
        Some("caregiver"),
    )
    .await;
    let not_carer = fixtures::user(&w.app.db.pool, "plain@example.org", None).await;
    let (status, v) = w
        .post(
            &path,
            &w.admin_a,
            json!({"user_id": w.caregiver_id, "relationship": "Child", "is_primary": true}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let link = v["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(v["data"]["relationship"], "child");
    let (status, v) = w
        .post(
            &path,
            &w.admin_a,
            json!({"user_id": second, "relationship": "spouse", "is_primary": true}),
        )
        .await;
    assert_eq!((status, error_id(&v)), (409, "HG-PRIMARY-CAREGIVER-EXISTS"));
    assert!(names_field(&v, "is_primary"));
    assert_eq!(
        w.post(
            &path,
            &w.admin_a,
            json!({"user_id": w.caregiver_id, "relationship": "child"})
        )
        .await
        .1["error"]["id"],
        "HG-CAREGIVER-LINKED"
    );
    for (body, field) in [
        (
            json!({"user_id": not_carer, "relationship": "friend"}),
            "user_id",
        ),
        (
            json!({"user_id": second, "relationship": "butler"}),
            "relationship",
        ),
        (json!({"user_id": second}), "relationship"),
        (
            json!({"user_id": second, "relationship": "friend", "note": "x".repeat(1001)}),
            "note",
        ),
    ] {
        let (status, v) = w.post(&path, &w.admin_a, body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert!(names_field(&v, field), "{field}: {v}");
    }
    assert_eq!(
        w.post(
            &path,
            &w.doctor_a,
            json!({"user_id": second, "relationship": "friend"})
        )
        .await
        .0,
        403
    );

    // The caregiver now sees the patient, read-only.
    assert_eq!(
        w.get(&format!("/patients/{}", w.p1), &w.caregiver).await.0,
        200
    );
    let (status, v) = w
        .req(
            Method::PATCH,
            &format!("{path}/{link}"),
            &w.admin_a,
            Some(json!({"is_primary": false, "note": "weekends"})),
        )
        .await;
    assert_eq!(
        (status, v["data"]["is_primary"].as_bool()),
        (200, Some(false))
    );
    assert_eq!(
        w.post(
            &path,
            &w.admin_a,
            json!({"user_id": second, "relationship": "spouse", "is_primary": true})
        )
        .await
        .0,
        201
    );
    assert_eq!(
        w.req(Method::DELETE, &format!("{path}/{link}"), &w.admin_a, None)
            .await
            .0,
        204
    );
    assert_eq!(
        w.get(&format!("/patients/{}", w.p1), &w.caregiver).await.0,
        404,
        "an ended link gives no access"
    );
    let (_, list) = w
        .get(&format!("{path}?include_ended=true"), &w.admin_a)
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    let (_, list) = w.get(&path, &w.admin_a).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn two_primary_caregivers_at_the_same_time_make_exactly_one() {
    let w = world().await;
    let path = format!("/patients/{}/caregivers", w.p2);
    let c2 = fixtures::user(&w.app.db.pool, "c2@example.org", Some("caregiver")).await;
    let (a, b) = tokio::join!(
        w.post(
            &path,
            &w.admin_a,
            json!({"user_id": w.caregiver_id, "relationship": "child", "is_primary": true})
        ),
        w.post(
            &path,
            &w.admin_a,
            json!({"user_id": c2, "relationship": "spouse", "is_primary": true})
        )
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{a:?} {b:?}");
    let primaries: i64 = sqlx::query_scalar("select count(*) from caregiver_patient where patient_id = $1 and is_primary and ended_at is null")
        .bind(w.p2)
        .fetch_one(&w.app.db.pool)
        .await
        .unwrap();
    assert_eq!(primaries, 1);
}

#[tokio::test]
async fn locations_are_posted_by_the_care_team_and_listed_newest_first() {
    let w = world().await;
    let path = format!("/patients/{}/locations", w.p1);
    let (status, v) = w.post(&path, &w.doctor_a, json!({"latitude": 19.43, "longitude": -99.13, "accuracy_m": 12.5, "ts": "2026-01-01T10:00:00Z"})).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(
        w.post(
            &path,
            &w.doctor_a,
            json!({"latitude": 19.44, "longitude": -99.14})
        )
        .await
        .0,
        201
    );
    for (body, field) in [
        (json!({"latitude": 91, "longitude": 0}), "latitude"),
        (json!({"latitude": 0, "longitude": -181}), "longitude"),
        (
            json!({"latitude": 0, "longitude": 0, "accuracy_m": -1}),
            "accuracy_m",
        ),
        (
            json!({"latitude": 0, "longitude": 0, "ts": "2999-01-01T00:00:00Z"}),
            "ts",
        ),
        (json!({"latitude": "north", "longitude": 0}), "latitude"),
        (json!({"longitude": 0}), "latitude"),
    ] {
        let (status, v) = w.post(&path, &w.doctor_a, body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert!(names_field(&v, field), "{field}: {v}");
    }
    fixtures::caregiver_link(&w.app.db.pool, w.org_a, w.p1, w.caregiver_id, false).await;
    assert_eq!(
        w.post(&path, &w.caregiver, json!({"latitude": 1, "longitude": 1}))
            .await
            .0,
        403
    );
    let (status, list) = w.get(&path, &w.caregiver).await;
    assert_eq!(status, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert!(list["data"][0]["ts"].as_str().unwrap() > list["data"][1]["ts"].as_str().unwrap());
    let (_, list) = w
        .get(
            &format!("{path}?from=2025-12-31T00:00:00Z&to=2026-01-02T00:00:00Z"),
            &w.doctor_a,
        )
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        w.get(&format!("{path}?from=yesterday"), &w.doctor_a)
            .await
            .0,
        400
    );
}

#[tokio::test]
async fn ground_truth_labels_are_written_by_the_care_team() {
    let w = world().await;
    let path = format!("/patients/{}/ground-truth", w.p1);
    let body = json!({"event_type": "afib", "onset": "2026-01-01T10:00:00Z", "offset_at": "2026-01-01T10:20:00Z", "note": "confirmed on Holter"});
    let (status, v) = w.post(&path, &w.doctor_a, body.clone()).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["data"]["event_type"], "AFIB");
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    for (change, field) in [
        (json!({"event_type": "HICCUPS"}), "event_type"),
        (json!({"offset_at": "2026-01-01T09:00:00Z"}), "offset_at"),
        (
            json!({"onset": "2999-01-01T00:00:00Z", "offset_at": "2999-01-02T00:00:00Z"}),
            "onset",
        ),
        (json!({"onset": "soon"}), "onset"),
    ] {
        let mut b = body.clone();
        for (k, v) in change.as_object().unwrap() {
            b[k] = v.clone();
        }
        let (status, v) = w.post(&path, &w.doctor_a, b.clone()).await;
        assert_eq!(status, 400, "{b}");
        assert!(names_field(&v, field), "{field}: {v}");
    }
    assert_eq!(w.post(&path, &w.viewer_a, body.clone()).await.0, 403);
    let mut changed = body.clone();
    changed["event_type"] = json!("TACHY");
    let (status, v) = w
        .req(
            Method::PUT,
            &format!("{path}/{id}"),
            &w.doctor_a,
            Some(changed),
        )
        .await;
    assert_eq!(
        (status, v["data"]["event_type"].as_str()),
        (200, Some("TACHY"))
    );
    let (status, list) = w.get(&path, &w.viewer_a).await;
    assert_eq!((status, list["data"].as_array().unwrap().len()), (200, 1));
    assert_eq!(w.get(&format!("{path}/{id}"), &w.viewer_a).await.0, 200);
    assert_eq!(
        w.req(Method::DELETE, &format!("{path}/{id}"), &w.doctor_a, None)
            .await
            .0,
        204
    );
    assert_eq!(
        w.get(&format!("{path}/{id}"), &w.doctor_a).await.1["error"]["id"],
        "HG-LABEL-NOT-FOUND"
    );
}

#[tokio::test]
async fn alerts_and_devices_are_read_views_of_the_patient() {
    let w = world().await;
    sqlx::query(
        "insert into alerts (org_id, patient_id, alert_type, alert_level, status, dedup_key) values ($1, $2, 'TACHY', 'high', 'created', $3)",
    )
    .bind(w.org_a)
    .bind(w.p1)
    .bind(format!("{}:TACHY", w.p1))
    .execute(&w.app.db.pool)
    .await
    .unwrap();
    sqlx::query("insert into devices (org_id, serial, device_type, owner_patient_id) values ($1, 'SER-1', 'PULSE_OX', $2)")
        .bind(w.org_a)
        .bind(w.p1)
        .execute(&w.app.db.pool)
        .await
        .unwrap();
    let (status, v) = w
        .get(
            &format!("/patients/{}/alerts?status=created", w.p1),
            &w.doctor_a,
        )
        .await;
    assert_eq!(
        (status, v["data"][0]["alert_type"].as_str()),
        (200, Some("TACHY"))
    );
    let (_, v) = w
        .get(
            &format!("/patients/{}/alerts?status=closed", w.p1),
            &w.doctor_a,
        )
        .await;
    assert!(v["data"].as_array().unwrap().is_empty());
    assert_eq!(
        w.get(
            &format!("/patients/{}/alerts?status=asleep", w.p1),
            &w.doctor_a
        )
        .await
        .0,
        400
    );
    let (status, v) = w
        .get(&format!("/patients/{}/devices", w.p1), &w.doctor_a)
        .await;
    assert_eq!(
        (status, v["data"][0]["serial"].as_str()),
        (200, Some("SER-1"))
    );
}
