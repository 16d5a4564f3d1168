//! Long answers are streamed: raw samples and ECG windows larger than one page of the database read
//! arrive whole and in order, in JSON, XML and the binary format; the size limits still answer 422/400
//! before anything is sent.

use super::*;
use crate::support::{error_id, names_field};
use hg_domain::telemetry::wire::{self, SampleFormat, decode};

/// An instant for a query string (`Z`, no `+` to be read as a space).
fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Writes `n` HR samples 10 ms apart from `start` straight into the table (value `60 + i % 97`).
async fn many_samples(t: &Telemetry, start: DateTime<Utc>, first: i64, n: i64) {
    let pool = &t.w.app.db.pool;
    sqlx::query("select heartguard.ensure_sample_partitions(current_date - 1, current_date + 1)")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "insert into vital_samples (stream_id, ts, value)
         select $1, $2 + i * interval '10 milliseconds', 60 + i % 97
           from generate_series($3::bigint, $4::bigint) i",
    )
    .bind(t.hr)
    .bind(start)
    .bind(first)
    .bind(first + n - 1)
    .execute(pool)
    .await
    .unwrap();
}

/// The body of a 200 answer to `path`, read by doctor A.
async fn fetch(t: &Telemetry, path: &str, accept: &str) -> Vec<u8> {
    let resp =
        t.w.app
            .client
            .get(t.w.app.url(TS, path))
            .bearer_auth(&t.w.doctor_a)
            .header("accept", accept)
            .send()
            .await
            .unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    resp.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn raw_samples_beyond_one_page_stream_whole_and_in_order() {
    let t = telemetry(&[]).await;
    let w = &t.w;
    let start = (Utc::now() - Duration::minutes(50))
        .duration_trunc(Duration::seconds(1))
        .unwrap();
    let n = 12_345;
    many_samples(&t, start, 0, n).await;
    let path = format!(
        "/timeseries/streams/{}?from={}&to={}",
        t.hr,
        iso(start),
        iso(start + Duration::minutes(40))
    );
    let (status, v) = w.get(&path, &w.doctor_a).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["stream_id"], t.hr.to_string());
    assert_eq!(v["data"]["signal_type"], "HR");
    let samples = v["data"]["samples"].as_array().unwrap();
    assert_eq!(samples.len() as i64, n);
    for (i, s) in samples.iter().enumerate() {
        let ts: DateTime<Utc> = s["ts"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            ts,
            start + Duration::milliseconds(10 * i as i64),
            "sample {i}"
        );
        assert_eq!(
            s["value"].as_f64().unwrap(),
            (60 + i % 97) as f64,
            "sample {i}"
        );
    }

    let xml = fetch(&t, &path, "application/xml").await;
    let xml = String::from_utf8(xml).unwrap();
    assert!(xml.starts_with("<?xml"), "{}", &xml[..200]);
    assert!(xml.ends_with("</samples></data><meta></meta></response>"));
    assert_eq!(xml.matches("<item>").count() as i64, n);

    // Past the limit: refused before anything is sent.
    many_samples(&t, start, n, 200_000 - n + 1).await;
    let (status, v) = w.get(&path, &w.doctor_a).await;
    assert_eq!((status, error_id(&v)), (422, "HG-TOO-MANY-POINTS"), "{v}");
}

#[tokio::test]
async fn an_ecg_window_beyond_one_page_streams_in_json_and_binary() {
    let t = telemetry(&[]).await;
    let w = &t.w;
    let start = (Utc::now() - Duration::minutes(30))
        .duration_trunc(Duration::seconds(1))
        .unwrap();
    // 100 one-second blocks: more than one page of the read.
    let blocks: Vec<Block> = (0..100)
        .map(|i| ecg_block(start + Duration::seconds(i), 250))
        .collect();
    let refs: Vec<(Uuid, &Block)> = blocks.iter().map(|b| (t.ecg, b)).collect();
    let body = wire::encode(&refs, SampleFormat::I16Microvolts);
    let (status, v) = t
        .send_raw(&t.device_auth(), wire::MEDIA_TYPE, body, None)
        .await;
    assert_eq!(status, 201, "{v}");

    let window = format!(
        "/timeseries/streams/{}/ecg?from={}&to={}",
        t.ecg,
        iso(start),
        iso(start + Duration::seconds(100))
    );
    let (status, v) = w.get(&window, &w.doctor_a).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["block_count"], 100);
    let got = v["data"]["blocks"].as_array().unwrap();
    assert_eq!(got.len(), 100);
    for (g, b) in got.iter().zip(&blocks) {
        let ts: DateTime<Utc> = g["start_ts"].as_str().unwrap().parse().unwrap();
        assert_eq!(ts, b.start_ts);
        assert_eq!(g["values_mv"].as_array().unwrap().len(), 250);
    }

    let bytes = fetch(&t, &format!("{window}&format=binary"), "*/*").await;
    let batch = decode(&bytes).unwrap();
    let decoded = &batch.streams[0].blocks;
    assert_eq!(decoded.len(), 100);
    for (d, b) in decoded.iter().zip(&blocks) {
        assert_eq!(d.start_ts, b.start_ts);
        for (x, y) in d.values_mv.iter().zip(&b.values_mv) {
            assert!((x - y).abs() < 0.0006, "{x} vs {y}");
        }
    }

    // A window with nothing in it: an empty list, and an empty binary body.
    let empty = format!(
        "/timeseries/streams/{}/ecg?from={}&to={}",
        t.ecg,
        iso(start - Duration::minutes(20)),
        iso(start - Duration::minutes(10))
    );
    let (status, v) = w.get(&empty, &w.doctor_a).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["blocks"], json!([]));
    let bytes = fetch(&t, &format!("{empty}&format=binary"), "*/*").await;
    assert!(bytes.is_empty());

    let too_long = format!(
        "/timeseries/streams/{}/ecg?from={}&to={}",
        t.ecg,
        iso(start),
        iso(start + Duration::minutes(61))
    );
    let (status, v) = w.get(&too_long, &w.doctor_a).await;
    assert_eq!((status, names_field(&v, "to")), (400, true), "{v}");
}

use chrono::DurationRound;
