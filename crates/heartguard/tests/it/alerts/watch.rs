//! Escalation on stored deadlines (once per deadline, across a restart, stopped by an
//! acknowledgement) and devices gone silent (raised once per silence, cleared when data returns).

use super::*;
use hg_domain::alert::EscalationPolicy;
use hg_domain::alert::watch::{escalate_due, offline_sweep};

async fn escalation_level(w: &World, id: &str) -> (i32, Option<DateTime<Utc>>) {
    sqlx::query_as("select escalation_level, escalate_at from alerts where id = $1::uuid")
        .bind(id)
        .fetch_one(&w.app.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_unacknowledged_alert_escalates_once_per_deadline_until_acknowledged() {
    let w = World::with_env(&[ALERT], &[("ALERT_ESCALATE_CRITICAL_S", "1")]).await;
    let (status, v) = w
        .post(
            "/alerts",
            &w.doctor_a,
            json!({"patient_id": w.p1, "alert_type": "DESAT", "alert_level": "critical"}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    // The component's watch escalates it every second it stays unacknowledged.
    let mut level = 0;
    for _ in 0..100 {
        level = escalation_level(&w, &id).await.0;
        if level >= 2 {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    assert!(level >= 2, "escalated twice within 10 s: {level}");
    let (_, d) = w.get(&format!("/alerts/{id}"), &w.doctor_a).await;
    let escalations: Vec<&Value> = d["data"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["action"] == "escalated")
        .collect();
    assert_eq!(escalations[0]["details"]["circle"], "org_admins");
    assert_eq!(escalations[1]["details"]["circle"], "caregiver");
    let escalated_events: i64 = sqlx::query_scalar(
        "select count(*) from outbox_events where event_type = 'alert.escalated' and payload->>'alert_id' = $1",
    )
    .bind(&id)
    .fetch_one(&w.app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        escalated_events as usize,
        escalations.len(),
        "one event per escalation"
    );

    let (status, _) = w
        .post(&format!("/alerts/{id}/ack"), &w.doctor_a, json!({}))
        .await;
    assert_eq!(status, 200);
    let (after_ack, deadline) = escalation_level(&w, &id).await;
    assert!(deadline.is_none());
    tokio::time::sleep(StdDuration::from_millis(2500)).await;
    assert_eq!(
        escalation_level(&w, &id).await.0,
        after_ack,
        "acknowledged: no more escalations"
    );
}

#[tokio::test]
async fn deadlines_are_stored_so_another_process_escalates_exactly_once() {
    // No alert component runs here: the escalations below are what a restarted process would do.
    let w = World::new(&[Component::Patient]).await;
    let pool = &w.app.db.pool;
    let id: Uuid = sqlx::query_scalar(
        "insert into alerts (org_id, patient_id, alert_type, alert_level, dedup_key, escalate_at)
         values ($1, $2, 'TACHY', 'high', $3, now() - interval '1 second') returning id",
    )
    .bind(w.org_a)
    .bind(w.p1)
    .bind(format!("{}:TACHY", w.p1))
    .fetch_one(pool)
    .await
    .unwrap();
    let policy = EscalationPolicy::default();
    // Two processes at once: the row lock lets one of them escalate it.
    let (a, b) = tokio::join!(
        escalate_due(pool, &policy, 10),
        escalate_due(pool, &policy, 10)
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(
        escalate_due(pool, &policy, 10).await.unwrap(),
        0,
        "the next deadline is 5 min away"
    );
    let (level, at): (i32, DateTime<Utc>) =
        sqlx::query_as("select escalation_level, escalate_at from alerts where id = $1")
            .bind(id)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(level, 1);
    assert!(at > Utc::now() + Duration::minutes(4), "{at}");
}

#[tokio::test]
async fn a_silent_device_raises_device_offline_once_and_data_clears_it() {
    // The component's own sweep waits a day here; the sweeps below are the test's.
    let a = alerts_with(&[("DEVICE_OFFLINE_AFTER", "86400")]).await;
    let w = &a.w;
    let pool = &w.app.db.pool;
    let policy = EscalationPolicy::default();
    // The device sent data, then went silent ten minutes ago.
    let first = minutes_ago(12);
    a.send_hr(first, &[70.0; 5]).await;
    a.evaluated(first + Duration::seconds(4)).await;
    sqlx::query("update devices set last_seen_at = now() - interval '10 minutes' where owner_patient_id = $1")
        .bind(w.p1)
        .execute(pool)
        .await
        .unwrap();
    assert_eq!(
        offline_sweep(pool, Duration::minutes(5), &policy)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        offline_sweep(pool, Duration::minutes(5), &policy)
            .await
            .unwrap(),
        0,
        "once per silence"
    );
    let offline = a.of_type("DEVICE_OFFLINE").await;
    assert_eq!(offline.len(), 1);
    assert_eq!(offline[0]["alert_level"], "low");
    assert_eq!(offline[0]["status"], "created");
    // Resolved by a person while still silent: not raised again for the same silence.
    let id = offline[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = w
        .post(&format!("/alerts/{id}/resolve"), &w.doctor_a, json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        offline_sweep(pool, Duration::minutes(5), &policy)
            .await
            .unwrap(),
        0
    );

    // Data comes back, then stops again: a new silence raises a new alert (an immediate sweep here,
    // as if DEVICE_OFFLINE_AFTER had passed), and data arriving resolves it.
    let start = minutes_ago(4);
    a.send_hr(start, &[71.0; 3]).await;
    a.evaluated(start + Duration::seconds(2)).await;
    assert_eq!(
        offline_sweep(pool, Duration::zero(), &policy)
            .await
            .unwrap(),
        1
    );
    let start = minutes_ago(2);
    a.send_hr(start, &[72.0; 3]).await;
    a.evaluated(start + Duration::seconds(2)).await;
    let statuses: Vec<String> = a
        .of_type("DEVICE_OFFLINE")
        .await
        .iter()
        .map(|x| x["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        statuses,
        ["resolved", "resolved"],
        "the data cleared the second one"
    );
}
