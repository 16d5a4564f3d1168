//! The AF model through the real path: RR intervals ingested → the inference-engine consumer
//! scores 60-beat windows → inferences stored, an ARRHYTHMIA alert with its evidence; the
//! evaluation against ground-truth labels; scope of the inference routes.

use super::*;
use hg_domain::simulation::physiology::{Episode, Patient};

/// An open HRV (RR) stream on p1's device.
async fn rr_stream(a: &Alerts) -> Uuid {
    let w = &a.w;
    let device: String =
        sqlx::query_scalar("select id::text from devices where owner_patient_id = $1 limit 1")
            .bind(w.p1)
            .fetch_one(&w.app.db.pool)
            .await
            .unwrap();
    let (status, s) = w
        .request(Method::POST, &format!("/devices/{device}/streams"))
        .on(Component::Device)
        .token(&w.admin_a)
        .json(json!({"signal_type": "HRV", "sample_rate_hz": 1.0}))
        .send()
        .await;
    assert_eq!(status, 201, "{s}");
    let id: Uuid = s["data"]["id"].as_str().unwrap().parse().unwrap();
    sqlx::query("update signal_streams set started_at = now() - interval '3 hours' where id = $1")
        .bind(id)
        .execute(&w.app.db.pool)
        .await
        .unwrap();
    id
}

/// `beats` RR intervals of a simulated patient in `episode`, one sample per beat from `start`;
/// returns the time of the last beat.
async fn send_rr(
    a: &Alerts,
    stream: Uuid,
    start: DateTime<Utc>,
    episode: Episode,
    beats: usize,
) -> DateTime<Utc> {
    let mut p = Patient::new(4242, 100);
    p.episode = episode;
    let mut rr = Vec::new();
    while rr.len() < beats {
        rr.extend(p.second().rr_ms);
    }
    let mut t = start;
    let samples: Vec<Value> = rr[..beats]
        .iter()
        .map(|v| {
            t += Duration::microseconds((f64::from(*v) * 1000.0) as i64);
            json!({"ts": t, "value": v})
        })
        .collect();
    let resp =
        a.w.app
            .client
            .post(a.w.app.url(TS, "/timeseries/ingest"))
            .header("authorization", format!("Device {}", a.credential))
            .json(&json!({"streams": [{"stream_id": stream, "samples": samples}]}))
            .send()
            .await
            .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    t
}

async fn inferences_of(a: &Alerts, stream: Uuid, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let (status, v) =
            a.w.request(
                Method::GET,
                &format!("/inference/inferences?stream_id={stream}&sort=window_start"),
            )
            .on(Component::Inference)
            .token(&a.w.doctor_a)
            .send()
            .await;
        assert_eq!(status, 200, "{v}");
        let list = v["data"].as_array().unwrap().clone();
        if list.len() >= n {
            return list;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    panic!("fewer than {n} inferences");
}

#[tokio::test]
async fn af_windows_raise_an_arrhythmia_alert_and_sinus_windows_do_not() {
    let a = alerts_with_also(&[Component::Inference]).await;
    let w = &a.w;
    let stream = rr_stream(&a).await;
    let start = minutes_ago(20);
    // Two windows of sinus rhythm, then two of AF (120 beats each).
    let mid = send_rr(&a, stream, start, Episode::Normal, 120).await;
    let sinus = inferences_of(&a, stream, 2).await;
    for i in &sinus {
        assert!(i["score"].as_f64().unwrap() < 0.5, "{i}");
    }
    assert!(a.of_type("ARRHYTHMIA").await.is_empty());
    send_rr(&a, stream, mid, Episode::AtrialFibrillation, 120).await;
    let all = inferences_of(&a, stream, 4).await;
    let af: Vec<&Value> = all
        .iter()
        .filter(|i| i["score"].as_f64().unwrap() >= 0.5)
        .collect();
    assert_eq!(af.len(), 2, "{all:?}");
    assert_eq!(af[0]["predicted_event_type"], "AFIB");
    assert!(af[0]["feature_snapshot"]["cosen"].is_number());

    let alerts = a.of_type("ARRHYTHMIA").await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    assert_eq!(alert["occurrence_count"], 2);
    assert!(alert["created_by_model"].is_string());
    let evidence = &alert["evidence"];
    assert_eq!(evidence["model"]["name"], "afib-rr-irregularity");
    assert_eq!(evidence["model"]["version"], "1.0.0");
    assert_eq!(evidence["inference_id"], alert["source_inference"]);
    assert!(
        evidence["ecg_strip"]["stream_id"].is_string(),
        "p1 has an ECG stream: {evidence}"
    );

    // Evaluation against ground truth: label the AF period; every window is then right.
    sqlx::query(
        "insert into ground_truth_labels (org_id, patient_id, event_type, onset, offset_at, source)
         values ($1, $2, 'AFIB', $3, $4, 'test')",
    )
    .bind(w.org_a)
    .bind(w.p1)
    .bind(mid + Duration::milliseconds(1))
    .bind(mid + Duration::minutes(10))
    .execute(&w.app.db.pool)
    .await
    .unwrap();
    let model = alert["created_by_model"].as_str().unwrap();
    let path = format!(
        "/inference/models/{model}/evaluation?from={}",
        (start - Duration::minutes(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let (status, e) = w
        .request(Method::GET, &path)
        .on(Component::Inference)
        .token(&w.doctor_a)
        .send()
        .await;
    assert_eq!(status, 200, "{e}");
    let d = &e["data"];
    assert_eq!(
        (
            d["true_positives"].as_i64(),
            d["false_positives"].as_i64(),
            d["true_negatives"].as_i64(),
            d["false_negatives"].as_i64()
        ),
        (Some(2), Some(0), Some(2), Some(0)),
        "{e}"
    );
    assert_eq!(d["f1"], 1.0);
    // Another organization evaluates on its own patients: nothing of A's.
    let (_, e) = w
        .request(Method::GET, &path)
        .on(Component::Inference)
        .token(&w.admin_b)
        .send()
        .await;
    assert_eq!(e["data"]["true_positives"], 0, "{e}");
    let (status, e) = w
        .request(
            Method::GET,
            &format!("/inference/models/{}/evaluation", Uuid::new_v4()),
        )
        .on(Component::Inference)
        .token(&w.doctor_a)
        .send()
        .await;
    assert_eq!((status, error_id(&e)), (404, "HG-MODEL-NOT-FOUND"));

    // Scope of the list, the on-demand run, and anonymous callers.
    let (_, b) = w
        .request(
            Method::GET,
            &format!("/inference/inferences?stream_id={stream}"),
        )
        .on(Component::Inference)
        .token(&w.admin_b)
        .send()
        .await;
    assert!(b["data"].as_array().unwrap().is_empty());
    let (status, r) = w
        .request(Method::POST, "/inference/run")
        .on(Component::Inference)
        .token(&w.doctor_a)
        .json(json!({"stream_id": stream}))
        .send()
        .await;
    assert_eq!(
        (status, r["data"].as_array().map(Vec::len)),
        (200, Some(0)),
        "all scored: {r}"
    );
    for (token, body, field) in [
        (&w.admin_b, json!({"stream_id": stream}), "stream_id"),
        (&w.doctor_a, json!({"stream_id": a.hr}), "stream_id"),
        (&w.doctor_a, json!({}), "stream_id"),
    ] {
        let (status, e) = w
            .request(Method::POST, "/inference/run")
            .on(Component::Inference)
            .token(token)
            .json(body)
            .send()
            .await;
        assert_eq!((status, names_field(&e, field)), (400, true), "{e}");
    }
    let (status, m) = w
        .request(Method::GET, "/inference/models")
        .on(Component::Inference)
        .token(&w.viewer_a)
        .send()
        .await;
    assert_eq!(status, 200);
    assert!(
        m["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["hyperparams"]["weights"].is_array()),
        "{m}"
    );
    let routes: Vec<(Method, String)> = vec![
        (Method::GET, "/inference/inferences".into()),
        (Method::POST, "/inference/run".into()),
        (Method::GET, "/inference/models".into()),
        (Method::GET, format!("/inference/models/{model}/evaluation")),
    ];
    for (method, path) in routes {
        let (status, e) = w
            .request(method.clone(), &path)
            .on(Component::Inference)
            .send()
            .await;
        assert_eq!(
            (status, error_id(&e)),
            (401, "HG-UNAUTHENTICATED"),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn superadmins_version_models_and_recorded_inferences_raise_their_alerts() {
    let a = alerts_with_also(&[Component::Inference]).await;
    let w = &a.w;
    let on = |m: Method, path: &str| w.request(m, path).on(Component::Inference);
    let new = json!({"name": "vendor-af", "version": "2.1", "task": "AF from PPG", "threshold": 0.8,
                     "hyperparams": {"layers": 3}});
    let (status, _) = on(Method::POST, "/inference/models")
        .token(&w.admin_a)
        .json(new.clone())
        .send()
        .await;
    assert_eq!(status, 403, "org admins do not register models");
    let (status, m) = on(Method::POST, "/inference/models")
        .token(&w.root)
        .json(new.clone())
        .send()
        .await;
    assert_eq!(status, 201, "{m}");
    let id = m["data"]["id"].as_str().unwrap().to_owned();
    let (status, e) = on(Method::POST, "/inference/models")
        .token(&w.root)
        .json(new)
        .send()
        .await;
    assert_eq!((status, error_id(&e)), (409, "HG-MODEL-VERSION-EXISTS"));
    for (body, field) in [
        (json!({"name": " ", "version": "1", "task": "x"}), "name"),
        (
            json!({"name": "m", "version": "1", "task": "x", "threshold": 1.5}),
            "threshold",
        ),
        (
            json!({"name": "m", "version": "1", "task": "x", "hyperparams": [1]}),
            "hyperparams",
        ),
    ] {
        let (status, e) = on(Method::POST, "/inference/models")
            .token(&w.root)
            .json(body.clone())
            .send()
            .await;
        assert_eq!((status, names_field(&e, field)), (400, true), "{body}: {e}");
    }
    let (status, e) = on(Method::PATCH, &format!("/inference/models/{id}"))
        .token(&w.root)
        .json(json!({"status": "gone"}))
        .send()
        .await;
    assert_eq!((status, names_field(&e, "status")), (400, true));
    let (status, m) = on(Method::PATCH, &format!("/inference/models/{id}"))
        .token(&w.root)
        .json(json!({"threshold": 0.7}))
        .send()
        .await;
    assert_eq!(
        (
            status,
            m["data"]["threshold"].as_f64().map(|t| (t * 10.0).round())
        ),
        (200, Some(7.0)),
        "{m}"
    );
    let (status, _) = on(
        Method::GET,
        &format!("/inference/models/{}", Uuid::new_v4()),
    )
    .token(&w.doctor_a)
    .send()
    .await;
    assert_eq!(status, 404);

    // An inference from elsewhere: superadmins hold inferences.write; at 0.9 ≥ 0.7 it raises.
    let start = minutes_ago(30);
    let body = json!({"model_id": id, "stream_id": a.hr, "window_start": start,
                      "window_end": start + Duration::minutes(1), "predicted_event_type": "AFIB", "score": 0.9});
    let (status, _) = on(Method::POST, "/inference/inferences")
        .token(&w.doctor_a)
        .json(body.clone())
        .send()
        .await;
    assert_eq!(
        status, 403,
        "clinicians read inferences, they do not write them"
    );
    let (status, r) = on(Method::POST, "/inference/inferences")
        .token(&w.root)
        .json(body.clone())
        .send()
        .await;
    assert_eq!(status, 201, "{r}");
    let (status, _) = on(Method::POST, "/inference/inferences")
        .token(&w.root)
        .json(body.clone())
        .send()
        .await;
    assert_eq!(status, 200, "recorded once");
    let alerts = a.of_type("ARRHYTHMIA").await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["occurrence_count"], 1, "a repeat raises nothing");
    assert_eq!(alerts[0]["source_inference"], r["data"]["id"]);
    for (change, field) in [
        (json!({"score": 1.5}), "score"),
        (
            json!({"predicted_event_type": "NOPE"}),
            "predicted_event_type",
        ),
        (json!({"window_end": start}), "window_end"),
        (json!({"stream_id": Uuid::new_v4()}), "stream_id"),
        (json!({"model_id": Uuid::new_v4()}), "model_id"),
    ] {
        let mut b = body.clone();
        b.as_object_mut()
            .unwrap()
            .extend(change.as_object().unwrap().clone());
        let (status, e) = on(Method::POST, "/inference/inferences")
            .token(&w.root)
            .json(b)
            .send()
            .await;
        assert_eq!(
            (status, names_field(&e, field)),
            (400, true),
            "{change}: {e}"
        );
    }
    let audited: i64 = sqlx::query_scalar(
        "select count(*) from outbox_events where payload->>'action' = 'MODEL_CHANGE'",
    )
    .fetch_one(&w.app.db.pool)
    .await
    .unwrap();
    assert_eq!(audited, 2);
    for (m, path) in [
        (Method::POST, "/inference/inferences".to_owned()),
        (Method::POST, "/inference/models".to_owned()),
        (Method::GET, format!("/inference/models/{id}")),
        (Method::PATCH, format!("/inference/models/{id}")),
    ] {
        let (status, _) = on(m, &path).json(json!({})).send().await;
        assert_eq!(status, 401, "{path}");
    }
}
