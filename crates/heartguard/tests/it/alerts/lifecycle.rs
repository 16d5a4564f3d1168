//! The alert API: manual alerts deduplicated under concurrency, every legal and illegal transition,
//! validation, permissions, scope, audit and the error envelope.

use super::*;

async fn manual(
    w: &World,
    token: &str,
    patient: Uuid,
    alert_type: &str,
    level: &str,
) -> (u16, Value) {
    w.post(
        "/alerts",
        token,
        json!({"patient_id": patient, "alert_type": alert_type, "alert_level": level, "description": "looks unwell"}),
    )
    .await
}

#[tokio::test]
async fn an_alert_moves_through_its_lifecycle_and_illegal_steps_are_422() {
    let w = World::new(&[ALERT]).await;
    let (status, v) = manual(&w, &w.doctor_a, w.p1, "DESAT", "critical").await;
    assert_eq!(status, 201, "{v}");
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(v["data"]["status"], "created");
    assert!(
        v["data"]["escalate_at"].is_string(),
        "a critical alert has a deadline"
    );
    let path = |step: &str| format!("/alerts/{id}/{step}");

    // Closing an open alert is not a step of the lifecycle.
    let (status, e) = w.post(&path("close"), &w.doctor_a, json!({})).await;
    assert_eq!((status, error_id(&e)), (422, "HG-ALERT-TRANSITION"), "{e}");
    // A viewer reads but does not acknowledge.
    let (status, e) = w.post(&path("ack"), &w.viewer_a, json!({})).await;
    assert_eq!(status, 403, "{e}");
    let (status, v) = w
        .post(&path("ack"), &w.doctor_a, json!({"note": "on my way"}))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["status"], "ack");
    assert!(v["data"]["acknowledged_at"].is_string());
    assert!(
        v["data"]["escalate_at"].is_null(),
        "acknowledged: no more escalation"
    );
    let (status, e) = w.post(&path("ack"), &w.doctor_a, json!({})).await;
    assert_eq!((status, error_id(&e)), (422, "HG-ALERT-TRANSITION"));

    for (body, field) in [
        (json!({"outcome": "cured"}), "outcome"),
        (json!({"note": "x".repeat(2001)}), "note"),
        (json!({"surprise": 1}), "surprise"),
    ] {
        let (status, e) = w.post(&path("resolve"), &w.doctor_a, body.clone()).await;
        assert_eq!(status, 400, "{body}: {e}");
        assert!(names_field(&e, field), "{body} names {field}: {e}");
    }
    let (status, v) = w
        .post(
            &path("resolve"),
            &w.doctor_a,
            json!({"outcome": "stabilized"}),
        )
        .await;
    assert_eq!(
        (status, v["data"]["status"].as_str()),
        (200, Some("resolved")),
        "{v}"
    );
    let (status, e) = w.post(&path("resolve"), &w.doctor_a, json!({})).await;
    assert_eq!((status, error_id(&e)), (422, "HG-ALERT-TRANSITION"));
    let (status, v) = w.post(&path("close"), &w.doctor_a, json!({})).await;
    assert_eq!(
        (status, v["data"]["status"].as_str()),
        (200, Some("closed")),
        "{v}"
    );
    for step in ["ack", "resolve", "close"] {
        let (status, e) = w.post(&path(step), &w.doctor_a, json!({})).await;
        assert_eq!(
            (status, error_id(&e)),
            (422, "HG-ALERT-TRANSITION"),
            "{step}"
        );
    }

    let (_, d) = w.get(&format!("/alerts/{id}"), &w.doctor_a).await;
    assert_eq!(
        texts(&d["data"]["history"], "action"),
        ["created", "assigned", "acknowledged", "resolved", "closed"]
    );
    let pool = &w.app.db.pool;
    let resolution: (String, Uuid) = sqlx::query_as(
        "select outcome, resolved_by from alert_resolution where alert_id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(resolution, ("stabilized".to_owned(), w.doctor_a.id));
    let audited: Vec<String> = sqlx::query_scalar(
        "select payload->>'action' from outbox_events
          where event_type = 'audit.recorded' and payload->>'entity_id' = $1 order by created_at",
    )
    .bind(&id)
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(
        audited,
        ["ALERT_CREATE", "ALERT_ACK", "ALERT_RESOLVE", "ALERT_CLOSE"]
    );
    assert_eq!(events(&w, "alert.acknowledged", &id).await, 1);
    assert_eq!(events(&w, "alert.resolved", &id).await, 1);

    // Resolving straight from created is allowed too; a closed alert frees its key for a new one.
    let (status, v) = manual(&w, &w.doctor_a, w.p1, "DESAT", "high").await;
    assert_eq!(
        status, 201,
        "a closed alert does not absorb new triggers: {v}"
    );
    let again = v["data"]["id"].as_str().unwrap();
    let (status, v) = w
        .post(&format!("/alerts/{again}/resolve"), &w.doctor_a, json!({}))
        .await;
    assert_eq!(
        (status, v["data"]["status"].as_str()),
        (200, Some("resolved")),
        "{v}"
    );
}

#[tokio::test]
async fn an_acknowledgement_racing_the_notifier_succeeds() {
    // The notifier moves created → notified in a transaction that commits while a clinician's
    // acknowledgement waits for the row: the acknowledgement applies to the new status.
    let w = World::new(&[ALERT]).await;
    let (_, v) = manual(&w, &w.doctor_a, w.p1, "TACHY", "high").await;
    let id: Uuid = v["data"]["id"].as_str().unwrap().parse().unwrap();
    let mut notifier = w.app.db.pool.begin().await.unwrap();
    sqlx::query("update alerts set status = 'notified' where id = $1 and status = 'created'")
        .bind(id)
        .execute(&mut *notifier)
        .await
        .unwrap();
    let ack = {
        let url = w.app.url(ALERT, &format!("/alerts/{id}/ack"));
        let req = w
            .app
            .client
            .post(url)
            .bearer_auth(&w.doctor_a.token)
            .json(&json!({}));
        tokio::spawn(async move { req.send().await.unwrap() })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    notifier.commit().await.unwrap();
    let resp = ack.await.unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["status"], "ack");
    let from: Option<String> = sqlx::query_scalar(
        "select from_status from alert_history where alert_id = $1 and action = 'acknowledged'",
    )
    .bind(id)
    .fetch_one(&w.app.db.pool)
    .await
    .unwrap();
    assert_eq!(from.as_deref(), Some("notified"));
}

#[tokio::test]
async fn fifty_concurrent_triggers_make_one_open_alert_with_fifty_occurrences() {
    let w = World::new(&[ALERT]).await;
    let calls = (0..50).map(|_| manual(&w, &w.doctor_a, w.p1, "TACHY", "medium"));
    let answers = futures::future::join_all(calls).await;
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    let updated = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!((created, updated), (1, 49), "{answers:?}");
    let (count, occurrences): (i64, i32) = sqlx::query_as(
        "select count(*), max(occurrence_count) from alerts where patient_id = $1 and alert_type = 'TACHY'",
    )
    .bind(w.p1)
    .fetch_one(&w.app.db.pool)
    .await
    .unwrap();
    assert_eq!((count, occurrences), (1, 50));

    // Two people acknowledging at once: one does, the other is told it is too late.
    let id = answers[0].1["data"]["id"].as_str().unwrap().to_owned();
    let path = format!("/alerts/{id}/ack");
    let (x, y) = tokio::join!(
        w.post(&path, &w.doctor_a, json!({})),
        w.post(&path, &w.admin_a, json!({}))
    );
    let mut statuses = [x.0, y.0];
    statuses.sort();
    assert_eq!(statuses, [200, 422], "{x:?} {y:?}");
}

#[tokio::test]
async fn manual_alerts_are_validated() {
    let w = World::new(&[ALERT]).await;
    for (body, field) in [
        (
            json!({"patient_id": w.p1, "alert_type": "NOPE", "alert_level": "high"}),
            "alert_type",
        ),
        (
            json!({"patient_id": w.p1, "alert_type": "TACHY", "alert_level": "critical"}),
            "alert_level",
        ),
        (
            json!({"patient_id": w.p1, "alert_type": "TACHY", "alert_level": "loud"}),
            "alert_level",
        ),
        (
            json!({"patient_id": w.pb, "alert_type": "TACHY", "alert_level": "high"}),
            "patient_id",
        ),
        (
            json!({"alert_type": "TACHY", "alert_level": "high"}),
            "patient_id",
        ),
    ] {
        let (status, e) = w.post("/alerts", &w.doctor_a, body.clone()).await;
        assert_eq!(status, 400, "{body}: {e}");
        assert!(names_field(&e, field), "{body} names {field}: {e}");
    }
    let n: i64 = sqlx::query_scalar("select count(*) from alerts")
        .fetch_one(&w.app.db.pool)
        .await
        .unwrap();
    assert_eq!(n, 0, "nothing half-written");
    let (status, e) = manual(&w, &w.viewer_a, w.p1, "TACHY", "high").await;
    assert_eq!(status, 403, "{e}");
}

#[tokio::test]
async fn alerts_are_scoped_like_their_patients_and_anonymous_callers_are_refused() {
    let w = World::new(&[ALERT]).await;
    let (_, a) = manual(&w, &w.doctor_a, w.p1, "TACHY", "high").await;
    let id = a["data"]["id"].as_str().unwrap().to_owned();
    let (_, b) = manual(&w, &w.admin_b, w.pb, "FEVER", "low").await;
    let id_b = b["data"]["id"].as_str().unwrap().to_owned();
    assert_ne!(id_b, "");

    let routes: Vec<(Method, String)> = [
        (Method::GET, "/alerts".to_owned()),
        (Method::GET, "/alerts/me".to_owned()),
        (Method::POST, "/alerts".to_owned()),
        (Method::GET, format!("/alerts/{id}")),
        (Method::POST, format!("/alerts/{id}/ack")),
        (Method::POST, format!("/alerts/{id}/resolve")),
        (Method::POST, format!("/alerts/{id}/close")),
        (Method::POST, format!("/alerts/{id}/assign")),
    ]
    .into();
    w.assert_anonymous_refused(&routes).await;

    // Another organization's alert is 404 for every route; their lists hold only their own.
    for token in [&w.admin_b, &w.doctor_b] {
        let (status, e) = w.get(&format!("/alerts/{id}"), token).await;
        assert_eq!((status, error_id(&e)), (404, "HG-ALERT-NOT-FOUND"));
        for step in ["ack", "resolve", "close"] {
            let (status, _) = w
                .post(&format!("/alerts/{id}/{step}"), token, json!({}))
                .await;
            assert_eq!(status, 404, "{step}");
        }
        let (status, _) = w
            .post(
                &format!("/alerts/{id}/assign"),
                token,
                json!({"user_id": w.doctor_b.id}),
            )
            .await;
        assert_eq!(status, 404);
        let (_, list) = w.get("/alerts", token).await;
        assert!(!pluck(&list, "id").contains(&id.as_str()));
    }
    let (_, list) = w.get("/alerts", &w.admin_b).await;
    assert_eq!(pluck(&list, "id"), [id_b.as_str()]);
    // A clinician of organization A outside p1's care team does not see it either.
    let (status, _) = w.get(&format!("/alerts/{id}"), &w.other_doctor_a).await;
    assert_eq!(status, 404);
    let (_, list) = w.get("/alerts", &w.admin_a).await;
    assert_eq!(pluck(&list, "id"), [id.as_str()]);

    // Assignment: to a member of the organization, not to a stranger.
    let (status, e) = w
        .post(
            &format!("/alerts/{id}/assign"),
            &w.admin_a,
            json!({"user_id": w.doctor_b.id}),
        )
        .await;
    assert_eq!((status, names_field(&e, "user_id")), (400, true), "{e}");
    let (status, v) = w
        .post(
            &format!("/alerts/{id}/assign"),
            &w.admin_a,
            json!({"user_id": w.other_doctor_a.id}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (_, mine) = w.get("/alerts?assigned_to=me", &w.other_doctor_a).await;
    assert!(
        mine["data"].as_array().unwrap().is_empty(),
        "assigned, but p1 is outside their scope"
    );
    let (_, mine) = w
        .get("/alerts?assigned_to=me&open=true&level=high", &w.doctor_a)
        .await;
    assert_eq!(pluck(&mine, "id"), [id.as_str()]);
    let (status, e) = w.get("/alerts?level=loud", &w.doctor_a).await;
    assert_eq!((status, names_field(&e, "level")), (400, true));

    // The error envelope in XML.
    let resp = w
        .app
        .client
        .get(w.app.url(ALERT, &format!("/alerts/{}", Uuid::new_v4())))
        .bearer_auth(&w.doctor_a.token)
        .header("accept", "application/xml")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let xml = resp.text().await.unwrap();
    assert!(xml.contains("<id>HG-ALERT-NOT-FOUND</id>"), "{xml}");
}

#[tokio::test]
async fn mtta_and_mttr_come_from_the_alerts_rows() {
    let w = World::new(&[ALERT]).await;
    let pool = &w.app.db.pool;
    // Two high alerts of p1: acknowledged after 60 s and 120 s, one resolved after 300 s; one low
    // alert never acknowledged; one of organization B.
    let insert = |patient: Uuid,
                  org: Uuid,
                  t: &'static str,
                  level: &'static str,
                  ack: Option<i32>,
                  res: Option<i32>| {
        sqlx::query(
            "insert into alerts (org_id, patient_id, alert_type, alert_level, status, dedup_key, created_at,
                                 acknowledged_at, resolved_at)
             values ($1, $2, $3, $4, 'resolved', gen_random_uuid()::text, now() - interval '1 hour',
                     now() - interval '1 hour' + make_interval(secs => $5),
                     now() - interval '1 hour' + make_interval(secs => $6))",
        )
        .bind(org)
        .bind(patient)
        .bind(t)
        .bind(level)
        .bind(ack.map(f64::from))
        .bind(res.map(f64::from))
        .execute(pool)
    };
    insert(w.p1, w.org_a, "TACHY", "high", Some(60), Some(300))
        .await
        .unwrap();
    insert(w.p1, w.org_a, "BRADY", "high", Some(120), None)
        .await
        .unwrap();
    insert(w.p1, w.org_a, "FEVER", "low", None, None)
        .await
        .unwrap();
    insert(w.pb, w.org_b, "FEVER", "low", Some(10), Some(20))
        .await
        .unwrap();
    let (status, v) = w.get("/alerts/stats", &w.admin_a).await;
    assert_eq!(status, 200, "{v}");
    let rows = v["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "A's two levels only: {v}");
    let low = &rows[0];
    assert_eq!(
        (low["alert_level"].as_str(), low["alerts"].as_i64()),
        (Some("low"), Some(1))
    );
    assert!(low["mtta_s"].is_null());
    let high = &rows[1];
    assert_eq!(high["alerts"], 2);
    assert_eq!(high["acknowledged"], 2);
    assert_eq!(high["resolved"], 1);
    assert!(
        (high["mtta_s"].as_f64().unwrap() - 90.0).abs() < 0.01,
        "{high}"
    );
    assert!(
        (high["mttr_s"].as_f64().unwrap() - 300.0).abs() < 0.01,
        "{high}"
    );
    let (status, e) = w
        .get("/alerts/stats?from=2026-13-01T00:00:00Z", &w.admin_a)
        .await;
    assert_eq!((status, names_field(&e, "from")), (400, true), "{e}");
    let (status, _) = w.get("/alerts/stats", "").await;
    assert_eq!(status, 401);
}
