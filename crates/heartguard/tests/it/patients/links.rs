//! A patient's links: care teams and caregivers (one active primary, also under concurrency).

use super::*;

#[tokio::test]
pub(super) async fn care_team_links_are_managed_by_org_admins() {
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
pub(super) async fn caregivers_are_linked_with_one_active_primary() {
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
            json!({"user_id": w.caregiver.id, "relationship": "Child", "is_primary": true}),
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
            json!({"user_id": w.caregiver.id, "relationship": "child"})
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
pub(super) async fn two_primary_caregivers_at_the_same_time_make_exactly_one() {
    let w = world().await;
    let path = format!("/patients/{}/caregivers", w.p2);
    let c2 = fixtures::user(&w.app.db.pool, "c2@example.org", Some("caregiver")).await;
    let (a, b) = tokio::join!(
        w.post(
            &path,
            &w.admin_a,
            json!({"user_id": w.caregiver.id, "relationship": "child", "is_primary": true})
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
