//! Clinical data around the patient: locations, ground-truth labels, alerts and devices.

use super::*;

#[tokio::test]
pub(super) async fn locations_are_posted_by_the_care_team_and_listed_newest_first() {
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
    fixtures::caregiver_link(&w.app.db.pool, w.org_a, w.p1, w.caregiver.id, false).await;
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
pub(super) async fn ground_truth_labels_are_written_by_the_care_team() {
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
pub(super) async fn alerts_and_devices_are_read_views_of_the_patient() {
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
