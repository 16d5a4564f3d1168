//! Rule management: who may change which scope, validation, the reason a patient's threshold needs,
//! the audit of every change, scope on reads, and the engine using what was configured.

use super::*;

fn rule(extra: Value) -> Value {
    let mut r = json!({"alert_type": "TACHY", "signal_type": "HR", "condition": "above",
                       "threshold": 140, "duration_s": 10, "hysteresis": 3, "level": "high"});
    r.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    r
}

#[tokio::test]
async fn rules_are_managed_per_scope_validated_and_audited() {
    let w = World::new(&[ALERT]).await;
    // The platform defaults are seeded and everyone sees them.
    let (status, all) = w.get("/alerts/rules", &w.doctor_a).await;
    assert_eq!(status, 200, "{all}");
    let defaults = all["data"].as_array().unwrap().len();
    assert!(defaults >= 12, "{all}");

    // A patient's threshold: the care-team clinician may set it, with a reason.
    let (status, e) = w
        .post(
            "/alerts/rules",
            &w.doctor_a,
            rule(json!({"patient_id": w.p1})),
        )
        .await;
    assert_eq!((status, names_field(&e, "reason")), (400, true), "{e}");
    let (status, r) = w
        .post(
            "/alerts/rules",
            &w.doctor_a,
            rule(json!({"patient_id": w.p1, "reason": "athlete, resting HR 45"})),
        )
        .await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(r["data"]["org_id"], w.org_a.to_string());
    let id = r["data"]["id"].as_str().unwrap().to_owned();
    let (status, e) = w
        .patch(
            &format!("/alerts/rules/{id}"),
            &w.doctor_a,
            json!({"threshold": 150}),
        )
        .await;
    assert_eq!((status, names_field(&e, "reason")), (400, true), "{e}");
    let (status, r) = w
        .patch(
            &format!("/alerts/rules/{id}"),
            &w.doctor_a,
            json!({"threshold": 150, "reason": "after the stress test"}),
        )
        .await;
    assert_eq!(
        (status, r["data"]["threshold"].as_f64()),
        (200, Some(150.0)),
        "{r}"
    );
    let audit: Value = sqlx::query_scalar(
        "select payload from outbox_events where payload->>'action' = 'ALERT_RULE_CHANGE'
          and payload->'details'->>'change' = 'updated'",
    )
    .fetch_one(&w.app.db.pool)
    .await
    .unwrap();
    assert_eq!(audit["details"]["before"]["threshold"], 140.0);
    assert_eq!(audit["details"]["after"]["threshold"], 150.0);
    assert_eq!(audit["details"]["reason"], "after the stress test");
    assert_eq!(audit["actor_id"], w.doctor_a.id.to_string());

    // What applies to p1: the defaults, and p1's own.
    let (_, applies) = w
        .get(&format!("/alerts/rules?patient_id={}", w.p1), &w.doctor_a)
        .await;
    assert_eq!(applies["data"].as_array().unwrap().len(), defaults + 1);

    // Validation, each field named; nothing written.
    for (body, field) in [
        (
            rule(json!({"org_id": w.org_a, "condition": "near"})),
            "condition",
        ),
        (
            rule(json!({"org_id": w.org_a, "signal_type": "ECG"})),
            "signal_type",
        ),
        (
            rule(json!({"org_id": w.org_a, "signal_type": "XX"})),
            "signal_type",
        ),
        (
            rule(json!({"org_id": w.org_a, "duration_s": -1})),
            "duration_s",
        ),
        (
            rule(json!({"org_id": w.org_a, "hysteresis": -2})),
            "hysteresis",
        ),
        (
            rule(json!({"org_id": w.org_a, "level": "critical"})),
            "level",
        ),
        (
            rule(json!({"org_id": w.org_a, "alert_type": "NOPE"})),
            "alert_type",
        ),
        (
            json!({"org_id": w.org_a, "alert_type": "TACHY"}),
            "signal_type",
        ),
    ] {
        let (status, e) = w.post("/alerts/rules", &w.admin_a, body.clone()).await;
        assert_eq!(status, 400, "{body}: {e}");
        assert!(names_field(&e, field), "{body} names {field}: {e}");
    }

    // Organization rules: its admins, not its clinicians; platform defaults: superadmins only.
    let (status, _) = w
        .post(
            "/alerts/rules",
            &w.doctor_a,
            rule(json!({"org_id": w.org_a})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, org_rule) = w
        .post(
            "/alerts/rules",
            &w.admin_a,
            rule(json!({"org_id": w.org_a})),
        )
        .await;
    assert_eq!(status, 201, "{org_rule}");
    let (status, _) = w.post("/alerts/rules", &w.admin_a, rule(json!({}))).await;
    assert_eq!(status, 403);
    let (status, _) = w
        .post("/alerts/rules", &w.root, rule(json!({"threshold": 200})))
        .await;
    assert_eq!(status, 201);

    // Another organization sees neither A's rules nor may touch them.
    let org_rule_id = org_rule["data"]["id"].as_str().unwrap();
    for path in [
        format!("/alerts/rules/{id}"),
        format!("/alerts/rules/{org_rule_id}"),
    ] {
        let (status, e) = w.get(&path, &w.admin_b).await;
        assert_eq!((status, error_id(&e)), (404, "HG-RULE-NOT-FOUND"), "{path}");
        let (status, _) = w.patch(&path, &w.admin_b, json!({"threshold": 1})).await;
        assert_eq!(status, 404);
        let (status, _) = w.delete(&path, &w.admin_b).await;
        assert_eq!(status, 404);
    }
    let (status, none) = w
        .get(&format!("/alerts/rules?patient_id={}", w.p1), &w.admin_b)
        .await;
    assert_eq!(
        (status, none["data"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{none}"
    );
    let (_, b_sees) = w.get("/alerts/rules", &w.admin_b).await;
    assert_eq!(
        b_sees["data"].as_array().unwrap().len(),
        defaults + 1,
        "defaults and root's new one"
    );

    // Deleting a patient's threshold needs a reason too.
    let (status, e) = w.delete(&format!("/alerts/rules/{id}"), &w.doctor_a).await;
    assert_eq!((status, names_field(&e, "reason")), (400, true));
    let (status, _) = w
        .delete(
            &format!("/alerts/rules/{id}?reason=back%20to%20defaults"),
            &w.doctor_a,
        )
        .await;
    assert_eq!(status, 204);

    let routes: Vec<(Method, String)> = vec![
        (Method::GET, "/alerts/rules".into()),
        (Method::POST, "/alerts/rules".into()),
        (Method::GET, format!("/alerts/rules/{org_rule_id}")),
        (Method::PATCH, format!("/alerts/rules/{org_rule_id}")),
        (Method::DELETE, format!("/alerts/rules/{org_rule_id}")),
        (Method::GET, "/alerts/stream".into()),
    ];
    w.assert_anonymous_refused(&routes).await;
}
