//! Queries: raw and bucketed series equal a reference computed here, latest values, downsampled
//! vitals, ECG windows in JSON and binary, scope (404 for another organization) and audit.

use super::*;
use crate::support::{error_id, names_field};
use hg_domain::telemetry::wire::decode;

/// 600 HR samples a second apart, ending two minutes ago, and their values.
async fn ten_minutes_of_hr(t: &Telemetry) -> (DateTime<Utc>, Vec<(DateTime<Utc>, f32)>) {
    let start = (Utc::now() - Duration::minutes(12))
        .duration_trunc(Duration::minutes(1))
        .unwrap();
    let samples: Vec<(DateTime<Utc>, f32)> = (0..600)
        .map(|i| (start + Duration::seconds(i), 60.0 + ((i * 7) % 61) as f32))
        .collect();
    let body = json!({"streams": [{"stream_id": t.hr, "samples": samples
        .iter()
        .map(|(ts, v)| json!({"ts": ts, "value": v}))
        .collect::<Vec<_>>()}]});
    let (status, v) = t.send(&t.device_auth(), &body, None).await;
    assert_eq!(status, 201, "{v}");
    (start, samples)
}

use chrono::DurationRound;

/// An instant for a query string (`Z`, no `+` to be read as a space).
fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[tokio::test]
async fn a_stream_reads_raw_and_in_buckets_equal_to_a_reference() {
    let t = telemetry(&[]).await;
    let w = &t.w;
    let (start, samples) = ten_minutes_of_hr(&t).await;
    let end = start + Duration::minutes(10);
    let q = |extra: &str| {
        format!(
            "/timeseries/streams/{}?from={}&to={}{extra}",
            t.hr,
            start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    };
    let (status, raw) = w.get(&q(""), &w.doctor_a).await;
    assert_eq!(status, 200, "{raw}");
    let got: Vec<f64> = raw["data"]["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["value"].as_f64().unwrap())
        .collect();
    let expected: Vec<f64> = samples.iter().map(|(_, v)| f64::from(*v)).collect();
    assert_eq!(got, expected);

    let (status, b) = w.get(&q("&resolution=1m"), &w.viewer_a).await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["data"]["bucket_seconds"], 60);
    let buckets = b["data"]["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 10);
    for (k, bucket) in buckets.iter().enumerate() {
        let minute: Vec<f64> = expected[k * 60..(k + 1) * 60].to_vec();
        let min = minute.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = minute.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let avg = minute.iter().sum::<f64>() / 60.0;
        assert_eq!(bucket["count"], 60);
        assert_eq!(bucket["min"].as_f64().unwrap(), min);
        assert_eq!(bucket["max"].as_f64().unwrap(), max);
        assert!(
            (bucket["avg"].as_f64().unwrap() - avg).abs() < 1e-9,
            "{bucket}"
        );
        let ts: DateTime<Utc> = bucket["ts"].as_str().unwrap().parse().unwrap();
        assert_eq!(ts, start + Duration::minutes(k as i64));
    }

    // The same answer in XML.
    let xml = w
        .app
        .client
        .get(w.app.url(TS, &q("&resolution=5m")))
        .bearer_auth(&w.doctor_a)
        .header("accept", "application/xml")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        xml.contains("<bucket_seconds>300</bucket_seconds>") && xml.contains("<count>300</count>"),
        "{xml}"
    );

    for (bad, field) in [
        ("&resolution=7x", "resolution"),
        ("&resolution=0s", "resolution"),
        ("&resolution=1s&from=2020-01-01T00:00:00Z", "from"),
    ] {
        let (status, v) = w.get(&q(bad), &w.doctor_a).await;
        assert_eq!(status, 400, "{bad}: {v}");
        assert!(
            names_field(&v, field) || names_field(&v, "resolution"),
            "{bad} names {field}: {v}"
        );
    }
    let (status, v) = w
        .get(
            &format!(
                "/timeseries/streams/{}?from={}&to={}",
                t.hr,
                iso(end),
                iso(start)
            ),
            &w.doctor_a,
        )
        .await;
    assert_eq!((status, names_field(&v, "to")), (400, true), "{v}");
    let (status, v) = w
        .get(
            &format!("/timeseries/streams/{}?resolution=1m", t.ecg),
            &w.doctor_a,
        )
        .await;
    assert_eq!(status, 200, "an ECG stream in buckets: {v}");
    let (status, v) = w
        .get(&format!("/timeseries/streams/{}", t.ecg), &w.doctor_a)
        .await;
    assert_eq!((status, names_field(&v, "resolution")), (400, true), "{v}");

    let audits: i64 = sqlx::query_scalar(
        "select count(*) from outbox_events
          where payload->>'action' = 'PATIENT_READ' and payload->'details'->>'what' = 'telemetry'",
    )
    .fetch_one(&w.app.db.pool)
    .await
    .unwrap();
    assert!(audits >= 3, "every read of a stream is audited: {audits}");
}

#[tokio::test]
async fn latest_values_vitals_and_ecg_windows() {
    let t = telemetry(&[]).await;
    let w = &t.w;
    let (start, samples) = ten_minutes_of_hr(&t).await;
    let bp_at = Utc::now() - Duration::minutes(3);
    let ecg_start = start + Duration::seconds(30);
    let ecg: Vec<Block> = (0..4)
        .map(|i| ecg_block(ecg_start + Duration::seconds(i), 250))
        .collect();
    let body = json!({"streams": [
        {"stream_id": t.bp, "samples": [{"ts": bp_at, "value": 118.0, "value2": 76.0}]},
        {"stream_id": t.ecg, "blocks": ecg.iter().map(|b| json!({"start_ts": b.start_ts, "sample_rate_hz": 250.0, "values_mv": b.values_mv})).collect::<Vec<_>>()},
    ]});
    let (status, v) = t.send(&t.device_auth(), &body, None).await;
    assert_eq!(status, 201, "{v}");

    let p = w.p1;
    let (status, latest) = w
        .get(&format!("/timeseries/patients/{p}/latest"), &w.doctor_a)
        .await;
    assert_eq!(status, 200, "{latest}");
    let latest = latest["data"].as_array().unwrap();
    let of = |signal: &str| latest.iter().find(|l| l["signal_type"] == signal).unwrap();
    assert_eq!(of("BP")["value2"], 76.0);
    assert_eq!(
        of("HR")["value"].as_f64().unwrap(),
        f64::from(samples[599].1)
    );

    let range = format!(
        "from={}&to={}",
        start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        (start + Duration::minutes(10)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let (status, v) = w
        .get(
            &format!("/timeseries/patients/{p}/vitals?{range}&points=20"),
            &w.viewer_a,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["bucket_seconds"], 30);
    let signals = v["data"]["signals"].as_array().unwrap();
    let hr = signals.iter().find(|s| s["signal_type"] == "HR").unwrap();
    assert_eq!(hr["buckets"].as_array().unwrap().len(), 20);
    let total: i64 = hr["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 600);
    let ecg_series = signals.iter().find(|s| s["signal_type"] == "ECG").unwrap();
    let b0 = &ecg_series["buckets"][0];
    assert_eq!(b0["count"], 1000, "four blocks of 250 in one bucket: {b0}");
    let max = ecg
        .iter()
        .flat_map(|b| &b.values_mv)
        .cloned()
        .fold(f32::MIN, f32::max);
    assert!(
        (b0["max"].as_f64().unwrap() - f64::from(max)).abs() < 0.001,
        "{b0}"
    );

    let window = format!(
        "/timeseries/streams/{}/ecg?from={}&to={}",
        t.ecg,
        iso(ecg_start + Duration::milliseconds(1500)),
        iso(ecg_start + Duration::milliseconds(2500))
    );
    let (status, v) = w.get(&window, &w.doctor_a).await;
    assert_eq!(status, 200, "{v}");
    let blocks = v["data"]["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 2, "the blocks overlapping 1.5 s to 2.5 s");
    let first: Vec<f64> = blocks[0]["values_mv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    for (x, y) in first.iter().zip(&ecg[1].values_mv) {
        assert!((x - f64::from(*y)).abs() < 0.0006, "{x} vs {y}");
    }
    let bytes = w
        .app
        .client
        .get(w.app.url(TS, &format!("{window}&format=binary")))
        .bearer_auth(&w.doctor_a)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let batch = decode(&bytes).unwrap();
    assert_eq!(batch.streams[0].blocks.len(), 2);
    assert_eq!(batch.streams[0].blocks[1].start_ts, ecg[2].start_ts);
    let too_long = format!(
        "/timeseries/streams/{}/ecg?from={}&to={}",
        t.ecg,
        iso(start),
        iso(start + Duration::minutes(61))
    );
    let (status, v) = w.get(&too_long, &w.doctor_a).await;
    assert_eq!((status, names_field(&v, "to")), (400, true), "{v}");
}

#[tokio::test]
async fn queries_need_a_caller_who_sees_the_patient() {
    let t = telemetry(&[]).await;
    let w = &t.w;
    let p = w.p1;
    let paths = [
        format!("/timeseries/streams/{}", t.hr),
        format!("/timeseries/streams/{}/ecg", t.ecg),
        format!("/timeseries/patients/{p}/latest"),
        format!("/timeseries/patients/{p}/vitals"),
    ];
    let routes: Vec<(Method, String)> = paths.iter().map(|p| (Method::GET, p.clone())).collect();
    w.assert_anonymous_refused(&routes).await;
    for path in &paths {
        for token in [&w.admin_b, &w.caregiver] {
            let (status, v) = w.get(path, token).await;
            assert_eq!(status, 404, "{path}: {v}");
            assert!(error_id(&v).ends_with("NOT-FOUND"), "{v}");
        }
        let (status, v) = w.get(path, &w.doctor_a).await;
        assert_eq!(status, 200, "{path}: {v}");
    }
    let (status, v) = w
        .get(&format!("/timeseries/streams/{}", Uuid::new_v4()), &w.root)
        .await;
    assert_eq!((status, error_id(&v)), (404, "HG-STREAM-NOT-FOUND"));
}
