//! The rule engine through the real path: a device ingests, the `alert-engine` consumer evaluates
//! the committed samples and raises alerts.

use super::*;

#[tokio::test]
async fn a_tachycardia_held_30_s_raises_one_high_alert_for_the_care_team() {
    let a = alerts().await;
    let w = &a.w;
    let start = minutes_ago(10);
    // 40 s above 120: the high rule (> 120 for 30 s) fires at the 31st second.
    a.send_hr(start, &[130.0; 40]).await;
    a.evaluated(start + Duration::seconds(39)).await;
    let list = a.of_type("TACHY").await;
    assert_eq!(list.len(), 1, "{list:?}");
    let alert = &list[0];
    assert_eq!(alert["alert_level"], "high");
    assert_eq!(alert["status"], "created");
    assert_eq!(alert["occurrence_count"], 1);
    assert!(alert["source_rule"].is_string(), "{alert}");
    assert_eq!(alert["evidence"]["value"], 130.0);
    let id = alert["id"].as_str().unwrap();

    let (status, d) = w.get(&format!("/alerts/{id}"), &w.doctor_a).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(
        texts(&d["data"]["history"], "action"),
        ["created", "assigned"]
    );
    assert_eq!(
        texts(&d["data"]["assignees"], "user_id"),
        [w.doctor_a.id.to_string()],
        "assigned to the patient's care team"
    );
    assert_eq!(events(w, "alert.created", id).await, 1);
    let (status, mine) = w.get("/alerts/me", &w.doctor_a).await;
    assert_eq!((status, pluck(&mine, "id")), (200, vec![id]));

    // Still above: the firing episode does not fire again; after 60 s the medium rule (> 100 for
    // 60 s) fires too, on the same open alert, which stays high.
    a.send_hr(start + Duration::seconds(40), &[130.0; 30]).await;
    a.evaluated(start + Duration::seconds(69)).await;
    let list = a.of_type("TACHY").await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["occurrence_count"], 2, "{}", list[0]);
    assert_eq!(list[0]["alert_level"], "high", "a level never falls");
    assert_eq!(
        events(w, "alert.updated", id).await,
        0,
        "no level rise, no new notification"
    );
}

#[tokio::test]
async fn a_rising_bradycardia_raises_the_level_of_the_open_alert() {
    let a = alerts().await;
    let w = &a.w;
    let start = minutes_ago(10);
    // Below 50 for 35 s: medium. Then below 40 for 35 s: the same alert becomes high.
    let mut values = vec![45.0; 35];
    values.extend([35.0; 35]);
    a.send_hr(start, &values).await;
    a.evaluated(start + Duration::seconds(69)).await;
    let list = a.of_type("BRADY").await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["alert_level"], "high");
    let id = list[0]["id"].as_str().unwrap();
    let (_, d) = w.get(&format!("/alerts/{id}"), &w.doctor_a).await;
    let actions = texts(&d["data"]["history"], "action");
    assert!(actions.contains(&"level_raised"), "{actions:?}");
    assert_eq!(events(w, "alert.updated", id).await, 1);
}

#[tokio::test]
async fn a_patient_rule_replaces_the_defaults_and_an_org_rule_applies_to_its_patients() {
    let a = alerts().await;
    let w = &a.w;
    let pool = &w.app.db.pool;
    // For p1: TACHY only above 140 (for 10 s). For the organization: BRADY below 60 at once.
    sqlx::query(
        "insert into alert_rules (org_id, patient_id, alert_type, signal_type, condition, threshold, duration_s, hysteresis, level, reason)
         values ($1, $2, 'TACHY', 'HR', 'above', 140, 10, 2, 'high', 'athlete'),
                ($1, null, 'BRADY', 'HR', 'below', 60, 0, 2, 'medium', 'stricter')",
    )
    .bind(w.org_a)
    .bind(w.p1)
    .execute(pool)
    .await
    .unwrap();
    let start = minutes_ago(10);
    a.send_hr(start, &[130.0; 40]).await;
    a.evaluated(start + Duration::seconds(39)).await;
    assert!(
        a.of_type("TACHY").await.is_empty(),
        "130 is below p1's own threshold"
    );
    a.send_hr(start + Duration::seconds(40), &[145.0; 15]).await;
    a.evaluated(start + Duration::seconds(54)).await;
    assert_eq!(a.of_type("TACHY").await.len(), 1, "above 140 for 10 s");
    a.send_hr(start + Duration::seconds(60), &[55.0]).await;
    a.evaluated(start + Duration::seconds(60)).await;
    let brady = a.of_type("BRADY").await;
    assert_eq!(
        brady.len(),
        1,
        "the organization's rule fires at once: {brady:?}"
    );
    assert_eq!(brady[0]["alert_level"], "medium");
}

#[tokio::test]
async fn a_redelivered_batch_event_raises_nothing_twice() {
    let a = alerts().await;
    let w = &a.w;
    let start = minutes_ago(10);
    a.send_hr(start, &[130.0; 40]).await;
    a.evaluated(start + Duration::seconds(39)).await;
    // The same event handled again (a redelivery after a crash before the ack): the cursor has
    // moved past its samples, so nothing is counted again.
    let event: Value = sqlx::query_scalar(
        "select payload from outbox_events where event_type = 'telemetry.ingested' order by created_at desc limit 1",
    )
    .fetch_one(&w.app.db.pool)
    .await
    .unwrap();
    let data: hg_domain::detection::engine::Ingested = serde_json::from_value(event).unwrap();
    let mut conn = w.app.db.pool.acquire().await.unwrap();
    let raised = hg_domain::detection::engine::on_ingested(
        &mut conn,
        w.org_a,
        &data,
        &hg_domain::alert::EscalationPolicy::default(),
    )
    .await
    .unwrap();
    assert!(raised.is_empty(), "{raised:?}");
    assert_eq!(a.of_type("TACHY").await[0]["occurrence_count"], 1);
}

#[tokio::test]
async fn ready_and_metrics_report_the_engines_queue() {
    let w = World::new(&[ALERT]).await;
    let ready: Value = w
        .app
        .client
        .get(w.app.url(ALERT, "/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let queue = &ready["data"]["consumers"]["alert-engine"];
    assert_eq!(queue["dead"], 0, "{ready}");
    assert!(queue["ready"].is_u64(), "{ready}");
    let metrics = w
        .app
        .client
        .get(w.app.url(ALERT, "/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("events_queue_dead{consumer=\"alert-engine\"}"),
        "{metrics}"
    );
}
