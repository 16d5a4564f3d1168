//! Ingest: stored whole or not at all, items named, senders checked, retries stored once.

use super::*;
use crate::support::error_id;
use hg_domain::telemetry::codec;
use hg_domain::telemetry::wire::{SampleFormat, encode};

#[tokio::test]
async fn json_and_binary_batches_are_stored_whole_and_announced_once() {
    let t = telemetry(&[]).await;
    let now = Utc::now() - Duration::seconds(10);
    let body = json!({"streams": [
        {"stream_id": t.hr, "samples": hr_samples(5, 70.0)},
        {"stream_id": t.bp, "samples": [{"ts": now, "value": 121.0, "value2": 79.0}]},
        {"stream_id": t.ecg, "blocks": [{"start_ts": now - Duration::seconds(4), "sample_rate_hz": 250.0, "values_mv": [0.1, -0.2, 1.25]}]},
    ]});
    let (status, v) = t.send(&t.device_auth(), &body, None).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(
        v["data"],
        json!({"samples": 6, "blocks": 1, "waveform_samples": 3, "duplicates": 0, "replayed": false})
    );
    assert_eq!(t.samples(t.hr).await, 5);
    let bp: (f32, Option<f32>) =
        sqlx::query_as("select value, value2 from vital_samples where stream_id = $1")
            .bind(t.bp)
            .fetch_one(&t.w.app.db.pool)
            .await
            .unwrap();
    assert_eq!(bp, (121.0, Some(79.0)));

    // The binary format, both sample encodings, blocks stored compressed and read back exactly
    // (to the microvolt).
    let a = ecg_block(now - Duration::seconds(3), 250);
    let b = ecg_block(now - Duration::seconds(2), 250);
    for (block, format) in [
        (&a, SampleFormat::I16Microvolts),
        (&b, SampleFormat::F32Millivolts),
    ] {
        let bytes = encode(&[(t.ecg, block)], format);
        let (status, v) = t
            .send_raw(
                &t.device_auth(),
                "application/vnd.heartguard.waveform",
                bytes,
                None,
            )
            .await;
        assert_eq!(status, 201, "{v}");
        assert_eq!(v["data"]["waveform_samples"], 250);
    }
    let stored: (i16, i32, Vec<u8>) = sqlx::query_as(
        "select encoding, sample_count, samples from waveform_blocks where stream_id = $1 and start_ts = $2",
    )
    .bind(t.ecg)
    .bind(a.start_ts)
    .fetch_one(&t.w.app.db.pool)
    .await
    .unwrap();
    assert_eq!((stored.0, stored.1), (codec::ENCODING_DELTA_UV, 250));
    assert!(
        stored.2.len() < 250 * 2,
        "compressed: {} bytes",
        stored.2.len()
    );
    let back = codec::decode_mv(stored.0, &stored.2, 250).unwrap();
    for (x, y) in back.iter().zip(&a.values_mv) {
        assert!((x - y).abs() <= 0.0005, "{x} vs {y}");
    }

    let events: Vec<Value> = sqlx::query_scalar(
        "select payload from outbox_events where event_type = 'telemetry.ingested' order by created_at",
    )
    .fetch_all(&t.w.app.db.pool)
    .await
    .unwrap();
    assert_eq!(events.len(), 3, "one event a batch, never one a sample");
    let first = &events[0]["streams"];
    assert_eq!(first[0]["stream_id"], t.hr.to_string());
    assert_eq!(first[0]["samples"], 5);
    assert_eq!(first[0]["patient_id"], t.w.p1.to_string());
    let seen: Option<DateTime<Utc>> =
        sqlx::query_scalar("select last_seen_at from devices where id = $1::uuid")
            .bind(&t.device)
            .fetch_one(&t.w.app.db.pool)
            .await
            .unwrap();
    assert!(seen.is_some(), "the device was seen");
}

#[tokio::test]
async fn each_invalid_item_is_named_and_the_whole_batch_is_refused() {
    let t = telemetry(&[]).await;
    let ago = |s: i64| Utc::now() - Duration::seconds(s);
    let good_hr = json!({"stream_id": t.hr, "samples": hr_samples(3, 70.0)});
    let cases = [
        (
            json!({"stream_id": t.bp, "samples": [{"ts": ago(5), "value": 120.0}]}),
            "streams[1].samples[0].value2",
        ),
        (
            json!({"stream_id": t.bp, "samples": [{"ts": ago(5), "value": 120.0, "value2": 130.0}]}),
            "streams[1].samples[0].value2",
        ),
        (
            json!({"stream_id": t.bp, "samples": [{"ts": ago(5), "value": 400.0, "value2": 80.0}]}),
            "streams[1].samples[0].value",
        ),
        (
            json!({"stream_id": t.bp, "samples": [{"ts": ago(-3600), "value": 120.0, "value2": 80.0}]}),
            "streams[1].samples[0].ts",
        ),
        (
            json!({"stream_id": t.bp, "samples": [{"ts": ago(5), "value": 120.0, "value2": 80.0}, {"ts": ago(6), "value": 120.0, "value2": 80.0}]}),
            "streams[1].samples[1].ts",
        ),
        (
            json!({"stream_id": t.bp, "samples": [{"ts": ago(86400), "value": 120.0, "value2": 80.0}]}),
            "streams[1].samples[0].ts",
        ),
        (
            json!({"stream_id": t.ecg, "samples": [{"ts": ago(5), "value": 1.0}]}),
            "streams[1].samples",
        ),
        (
            json!({"stream_id": t.ecg, "blocks": [{"start_ts": ago(5), "sample_rate_hz": 500.0, "values_mv": [0.1]}]}),
            "streams[1].blocks[0].sample_rate_hz",
        ),
        (
            json!({"stream_id": t.ecg, "blocks": [{"start_ts": ago(5), "sample_rate_hz": 250.0, "values_mv": [0.1, 99.0]}]}),
            "streams[1].blocks[0].values_mv[1]",
        ),
        (
            json!({"stream_id": t.ecg, "blocks": [{"start_ts": ago(5), "sample_rate_hz": 250.0, "values_mv": []}]}),
            "streams[1].blocks[0].values_mv",
        ),
        (
            json!({"stream_id": t.ecg, "blocks": [
            {"start_ts": ago(5), "sample_rate_hz": 250.0, "values_mv": [0.1, 0.2, 0.3]},
            {"start_ts": ago(5), "sample_rate_hz": 250.0, "values_mv": [0.1]}]}),
            "streams[1].blocks[1].start_ts",
        ),
        (
            json!({"stream_id": t.hr, "samples": hr_samples(1, 70.0)}),
            "streams[1].stream_id",
        ),
        (json!({"stream_id": t.bp}), "streams[1]"),
        (
            json!({"stream_id": t.hr, "samples": [{"ts": ago(5), "value": 70.0, "value2": 1.0}]}),
            "streams[1].stream_id",
        ),
    ];
    for (second, field) in cases {
        let (status, v) = t
            .send(
                &t.device_auth(),
                &json!({"streams": [good_hr, second]}),
                None,
            )
            .await;
        assert_eq!(
            (status, error_id(&v)),
            (400, "HG-VALIDATION"),
            "{second}: {v}"
        );
        assert!(
            v["error"]["details"]["fields"][field].is_string(),
            "{second} names {field}: {v}"
        );
    }
    // A sample below 30 bpm on HR and value2 on HR, after the first stream is fine.
    let (status, v) = t
        .send(
            &t.device_auth(),
            &json!({"streams": [{"stream_id": t.hr, "samples": [{"ts": ago(5), "value": 72.0, "value2": 1.0}]}]}),
            None,
        )
        .await;
    assert!(
        v["error"]["details"]["fields"]["streams[0].samples[0].value2"].is_string(),
        "{status} {v}"
    );
    let (status, v) = t
        .send(&t.device_auth(), &json!({"streams": []}), None)
        .await;
    assert_eq!(
        (
            status,
            v["error"]["details"]["fields"]["streams"].is_string()
        ),
        (400, true)
    );
    let (status, v) = t
        .send(
            &t.device_auth(),
            &json!({"streams": [good_hr], "extra": 1}),
            None,
        )
        .await;
    assert_eq!(status, 400, "unknown fields are refused: {v}");
    let (status, v) = t
        .send_raw(
            &t.device_auth(),
            "application/vnd.heartguard.waveform",
            b"HGWB\x01\x00\x01\x00".to_vec(),
            None,
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        v["error"]["details"]["fields"]["body"]
            .as_str()
            .unwrap()
            .contains("at byte"),
        "{v}"
    );
    let (status, _) = t
        .send_raw(&t.device_auth(), "text/plain", b"hello".to_vec(), None)
        .await;
    assert_eq!(status, 415);
    for s in [t.hr, t.bp] {
        assert_eq!(
            t.samples(s).await,
            0,
            "nothing of a refused batch is stored"
        );
    }
    assert_eq!(t.blocks(t.ecg).await, 0);
}

#[tokio::test]
async fn only_the_device_the_patients_team_and_admins_send_and_other_organizations_see_nothing() {
    let t = telemetry(&[]).await;
    let w = &t.w;
    let body = json!({"streams": [{"stream_id": t.hr, "samples": hr_samples(2, 70.0)}]});
    let (status, v) = t.send("", &body, None).await;
    assert_eq!((status, error_id(&v)), (401, "HG-UNAUTHENTICATED"));
    let forged = format!("Device {}.not-the-secret", t.device);
    let (status, v) = t.send(&forged, &body, None).await;
    assert_eq!((status, error_id(&v)), (401, "HG-UNAUTHENTICATED"), "{v}");

    // Another device of the same organization may not write this device's streams.
    let (_, other_credential, _) = device_with_streams(w, "HG-TEL-2", w.p2).await;
    let (status, v) = t
        .send(&format!("Device {other_credential}"), &body, None)
        .await;
    assert_eq!((status, error_id(&v)), (403, "HG-FORBIDDEN"), "{v}");

    let bearer = |token: &str| format!("Bearer {token}");
    let (status, v) = t.send(&bearer(&w.admin_b), &body, None).await;
    assert_eq!((status, error_id(&v)), (404, "HG-STREAM-NOT-FOUND"), "{v}");
    let unknown =
        json!({"streams": [{"stream_id": Uuid::new_v4(), "samples": hr_samples(1, 70.0)}]});
    let (status, v) = t.send(&t.device_auth(), &unknown, None).await;
    assert_eq!((status, error_id(&v)), (404, "HG-STREAM-NOT-FOUND"));
    for token in [&w.other_doctor_a, &w.viewer_a] {
        let (status, v) = t.send(&bearer(token), &body, None).await;
        assert_eq!((status, error_id(&v)), (403, "HG-FORBIDDEN"), "{v}");
    }
    assert_eq!(t.samples(t.hr).await, 0);
    let (status, v) = t.send(&bearer(&w.doctor_a), &body, None).await;
    assert_eq!(status, 201, "the patient's care team sends: {v}");

    let (status, _) = w
        .request(Method::POST, &format!("/streams/{}/close", t.hr))
        .on(Component::Device)
        .token(&w.admin_a)
        .send()
        .await;
    assert_eq!(status, 200);
    let later =
        json!({"streams": [{"stream_id": t.hr, "samples": [{"ts": Utc::now(), "value": 70.0}]}]});
    let (status, v) = t.send(&t.device_auth(), &later, None).await;
    assert_eq!((status, error_id(&v)), (422, "HG-STREAM-CLOSED"), "{v}");
}

#[tokio::test]
async fn a_retried_batch_is_stored_once() {
    let t = telemetry(&[]).await;
    let body = json!({"streams": [{"stream_id": t.hr, "samples": hr_samples(10, 60.0)}]});
    let (status, first) = t.send(&t.device_auth(), &body, Some("batch-1")).await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = t.send(&t.device_auth(), &body, Some("batch-1")).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["data"]["replayed"], true);
    assert_eq!(again["data"]["samples"], first["data"]["samples"]);
    let other = json!({"streams": [{"stream_id": t.hr, "samples": hr_samples(3, 90.0)}]});
    let (status, v) = t.send(&t.device_auth(), &other, Some("batch-1")).await;
    assert_eq!((status, error_id(&v)), (422, "HG-IDEMPOTENCY-MISMATCH"));
    // Without a key, the same samples again are recognised by their stream and time.
    let (status, v) = t.send(&t.device_auth(), &body, None).await;
    assert_eq!(
        (status, v["data"]["duplicates"].as_i64()),
        (201, Some(10)),
        "{v}"
    );
    assert_eq!(t.samples(t.hr).await, 10);
    let blocks = encode(
        &[(t.ecg, &ecg_block(Utc::now() - Duration::seconds(20), 250))],
        SampleFormat::I16Microvolts,
    );
    for expected_duplicates in [0, 1] {
        let (status, v) = t
            .send_raw(
                &t.device_auth(),
                "application/vnd.heartguard.waveform",
                blocks.clone(),
                None,
            )
            .await;
        assert_eq!(
            (status, v["data"]["duplicates"].as_i64()),
            (201, Some(expected_duplicates))
        );
    }
    assert_eq!(t.blocks(t.ecg).await, 1, "the same block id is stored once");
    let events: i64 = sqlx::query_scalar(
        "select count(*) from outbox_events where event_type = 'telemetry.ingested'",
    )
    .fetch_one(&t.w.app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        events, 2,
        "a replay, or a batch stored before in full, announces nothing"
    );
}

#[tokio::test]
async fn concurrent_batches_into_one_stream_lose_nothing_and_old_samples_get_their_partition() {
    let t = telemetry(&[("TELEMETRY_INGEST_CONCURRENCY", "64")]).await;
    let base = Utc::now() - Duration::hours(2);
    let batches = (0..8).map(|b| {
        let samples: Vec<Value> = (0..500)
            .map(|i| json!({"ts": base + Duration::milliseconds(b * 500_000 + i * 1000), "value": 60 + i % 50}))
            .collect();
        json!({"streams": [{"stream_id": t.hr, "samples": samples}]})
    });
    let auth = t.device_auth();
    let answers = futures::future::join_all(batches.map(|b| {
        let (t, auth) = (&t, &auth);
        async move { t.send(auth, &b, None).await }
    }))
    .await;
    for (status, v) in answers {
        assert_eq!(status, 201, "{v}");
    }
    assert_eq!(t.samples(t.hr).await, 4000);

    let old = Utc::now() - Duration::days(4);
    let body = json!({"streams": [{"stream_id": t.hr, "samples": [{"ts": old, "value": 66.0}]}]});
    sqlx::query("update signal_streams set started_at = now() - interval '5 days' where id = $1")
        .bind(t.hr)
        .execute(&t.w.app.db.pool)
        .await
        .unwrap();
    let (status, v) = t.send(&auth, &body, None).await;
    assert_eq!(status, 201, "a buffered sample of four days ago: {v}");
    let partition = format!("heartguard.vital_samples_p{}", old.format("%Y%m%d"));
    let exists: bool = sqlx::query_scalar("select to_regclass($1) is not null")
        .bind(&partition)
        .fetch_one(&t.w.app.db.pool)
        .await
        .unwrap();
    assert!(exists, "{partition} was created for it");
}

#[tokio::test]
async fn an_xml_batch_is_read_like_json() {
    let t = telemetry(&[]).await;
    let (a, b) = (
        Utc::now() - Duration::seconds(20),
        Utc::now() - Duration::seconds(19),
    );
    let xml = format!(
        "<batch><streams><stream_id>{}</stream_id>\
         <samples><ts>{}</ts><value>71</value></samples>\
         <samples><ts>{}</ts><value>72.5</value></samples></streams></batch>",
        t.hr,
        a.to_rfc3339(),
        b.to_rfc3339()
    );
    let (status, v) = t
        .send_raw(&t.device_auth(), "application/xml", xml.into_bytes(), None)
        .await;
    assert_eq!(
        (status, v["data"]["samples"].as_i64()),
        (201, Some(2)),
        "{v}"
    );
    assert_eq!(t.samples(t.hr).await, 2);
}

#[tokio::test]
async fn timestamps_are_kept_to_the_microsecond_and_the_event_announces_what_was_stored() {
    let t = telemetry(&[]).await;
    let base: DateTime<Utc> = (Utc::now() - Duration::seconds(30))
        .duration_trunc(Duration::seconds(1))
        .unwrap();
    // 0.4 µs apart: one stored instant, so not increasing — refused, naming the second.
    let nanos = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let close = json!({"streams": [{"stream_id": t.hr, "samples": [
        {"ts": nanos(base + Duration::nanoseconds(100)), "value": 70.0},
        {"ts": nanos(base + Duration::nanoseconds(500)), "value": 71.0},
    ]}]});
    let (status, v) = t.send(&t.device_auth(), &close, None).await;
    assert_eq!(status, 400, "{v}");
    assert!(
        crate::support::names_field(&v, "streams[0].samples[1].ts"),
        "{v}"
    );
    assert_eq!(t.samples(t.hr).await, 0);

    // Nanosecond timestamps are stored truncated, and the event's span is the stored instants.
    let first = base + Duration::nanoseconds(1_999_999);
    let last = base + Duration::seconds(1) + Duration::nanoseconds(700);
    let body = json!({"streams": [{"stream_id": t.hr, "samples": [
        {"ts": nanos(first), "value": 70.0},
        {"ts": nanos(last), "value": 71.0},
    ]}]});
    let (status, v) = t.send(&t.device_auth(), &body, None).await;
    assert_eq!(status, 201, "{v}");
    let pool = &t.w.app.db.pool;
    let stored: Vec<DateTime<Utc>> =
        sqlx::query_scalar("select ts from vital_samples where stream_id = $1 order by ts")
            .bind(t.hr)
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(
        stored,
        [
            base + Duration::microseconds(1999),
            base + Duration::seconds(1)
        ]
    );
    let span: Value = sqlx::query_scalar(
        "select payload->'streams'->0 from outbox_events where event_type = 'telemetry.ingested'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let from: DateTime<Utc> = span["from"].as_str().unwrap().parse().unwrap();
    let to: DateTime<Utc> = span["to"].as_str().unwrap().parse().unwrap();
    assert_eq!((from, to), (stored[0], stored[1]));
}

use chrono::DurationRound;
