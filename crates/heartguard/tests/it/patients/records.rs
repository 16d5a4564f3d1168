//! The record itself: created by org admins, edited by the care team, archived.

use super::*;

#[tokio::test]
pub(super) async fn org_admins_create_patients_with_validation_and_others_cannot() {
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
pub(super) async fn the_care_team_edits_the_record_and_caregivers_and_viewers_cannot() {
    let w = world().await;
    let path = format!("/patients/{}", w.p1);
    fixtures::caregiver_link(&w.app.db.pool, w.org_a, w.p1, w.caregiver.id, true).await;
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
    let (status, body) = w
        .req(
            Method::PATCH,
            &path,
            &w.doctor_a,
            Some(json!({"org_id": w.org_b})),
        )
        .await;
    assert_eq!(status, 400, "unknown fields are refused");
    assert!(
        body["error"]["details"]["fields"]["org_id"].is_string(),
        "names org_id: {body}"
    );
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
pub(super) async fn archiving_hides_the_patient_but_keeps_it_for_administrators() {
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
