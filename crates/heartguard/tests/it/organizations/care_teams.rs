//! Care teams: their members and patients, audited reads, malformed input.

use super::*;

#[tokio::test]
pub(super) async fn care_teams_with_members_and_patients() {
    let w = world().await;
    let a = w.org_a;
    let base = format!("/organizations/{a}/care-teams");
    let (status, v) = w.post(&base, &w.admin_a, json!({"name": "Rhythm"})).await;
    assert_eq!(status, 201, "{v}");
    let team = v["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        w.post(&base, &w.admin_a, json!({"name": "rhythm"})).await.1["error"]["id"],
        "HG-TEAM-NAME-TAKEN"
    );
    let (status, v) = w.post(&base, &w.admin_a, json!({"name": "   "})).await;
    assert_eq!(status, 400);
    assert!(names_field(&v, "name"));
    assert_eq!(
        w.post(&base, &w.doctor_a, json!({"name": "Mine"})).await.0,
        403
    );

    let members = format!("{base}/{team}/members");
    let (status, v) = w
        .post(
            &members,
            &w.admin_a,
            json!({"user_id": w.doctor_a.id, "role": "Doctor"}),
        )
        .await;
    assert_eq!(
        (status, v["data"]["role"].as_str()),
        (201, Some("doctor")),
        "{v}"
    );
    let outsider = fixtures::user(&w.app.db.pool, "outsider@example.org", None).await;
    let (status, v) = w
        .post(
            &members,
            &w.admin_a,
            json!({"user_id": outsider, "role": "nurse"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(names_field(&v, "user_id"));
    let (status, v) = w
        .post(
            &members,
            &w.admin_a,
            json!({"user_id": w.admin_a.id, "role": "wizard"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(names_field(&v, "role"));
    let (status, v) = w
        .patch(
            &format!("{members}/{}", w.doctor_a.id),
            &w.admin_a,
            json!({"role": "specialist"}),
        )
        .await;
    assert_eq!(
        (status, v["data"]["role"].as_str()),
        (200, Some("specialist"))
    );

    let patients = format!("{base}/{team}/patients");
    let p1 = fixtures::patient(&w.app.db.pool, a, "Patient One", None).await;
    let p_other = fixtures::patient(&w.app.db.pool, w.org_b, "Other Org Patient", None).await;
    assert_eq!(
        w.post(&patients, &w.admin_a, json!({"patient_id": p1}))
            .await
            .0,
        201
    );
    assert_eq!(
        w.post(&patients, &w.admin_a, json!({"patient_id": p1}))
            .await
            .1["error"]["id"],
        "HG-ALREADY-LINKED"
    );
    let (status, v) = w
        .post(&patients, &w.admin_a, json!({"patient_id": p_other}))
        .await;
    assert_eq!(
        status, 400,
        "a patient of another organization cannot join: {v}"
    );
    // The clinician now sees the patient through the team.
    let (status, v) = w.get(&patients, &w.doctor_a).await;
    assert_eq!(
        (status, v["data"][0]["person_name"].as_str()),
        (200, Some("Patient One"))
    );
    // Names and risk levels are patient data: reading them is audited.
    let read: Value = sqlx::query_scalar(
        "select payload from outbox_events where payload->>'action' = 'PATIENT_LIST'
          and payload->'details'->>'care_team_id' = $1",
    )
    .bind(team.to_string())
    .fetch_one(&w.app.db.pool)
    .await
    .expect("a PATIENT_LIST audit entry for the team's list");
    assert_eq!(read["details"]["patient_ids"], json!([p1]));
    let (status, v) = w.get(&format!("{base}/{team}"), &w.doctor_a).await;
    assert_eq!(
        (
            status,
            v["data"]["members"].as_i64(),
            v["data"]["patients"].as_i64()
        ),
        (200, Some(1), Some(1))
    );

    assert_eq!(
        w.delete(&format!("{patients}/{p1}"), &w.admin_a).await.0,
        204
    );
    assert_eq!(
        w.delete(&format!("{patients}/{p1}"), &w.admin_a).await.0,
        404
    );
    assert_eq!(
        w.delete(&format!("{members}/{}", w.doctor_a.id), &w.admin_a)
            .await
            .0,
        204
    );
    let (status, v) = w
        .patch(
            &format!("{base}/{team}"),
            &w.admin_a,
            json!({"name": "Rhythm clinic"}),
        )
        .await;
    assert_eq!(
        (status, v["data"]["name"].as_str()),
        (200, Some("Rhythm clinic"))
    );
    let (_, list) = w.get(&format!("{base}?q=rhythm"), &w.doctor_a).await;
    assert_eq!(list["meta"]["total"], 1);
    assert_eq!(w.delete(&format!("{base}/{team}"), &w.admin_a).await.0, 204);
    assert_eq!(w.get(&format!("{base}/{team}"), &w.admin_a).await.0, 404);
}

#[tokio::test]
pub(super) async fn malformed_ids_and_bodies_get_the_envelope() {
    let w = world().await;
    let (status, v) = w.get("/organizations/not-a-uuid", &w.root).await;
    assert_eq!((status, error_id(&v)), (404, "HG-NOT-FOUND"));
    let resp = w
        .app
        .client
        .post(w.app.url(ORG, "/organizations"))
        .bearer_auth(&w.root)
        .header("content-type", "application/json")
        .body("{\"code\":")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(error_id(&v), "HG-BAD-PAYLOAD");
    assert!(v["error"]["request_id"].is_string());
}
