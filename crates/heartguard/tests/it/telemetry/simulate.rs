//! `heartguard simulate` against a running timeseries component: vitals arrive through the ingest
//! API and a scheduled episode becomes a ground-truth label.

use super::*;
use crate::support::{run_async, stderr};

#[tokio::test]
async fn the_simulator_streams_vitals_and_labels_its_episodes() {
    let w = World::new(&[TS]).await;
    let url = w.app.url(TS, "");
    let out = run_async(
        &[
            "simulate",
            "--patients",
            "2",
            "--rate",
            "2",
            "--duration",
            "7s",
            "--episodes",
            "tachy@1s+3s",
            "--url",
            url.trim_end_matches('/'),
        ],
        &[("DATABASE_URL", &w.app.db.url)],
    )
    .await;
    let logs = stderr(&out);
    assert!(out.status.success(), "{logs}");
    assert!(logs.contains("simulating 2 devices"), "{logs}");
    assert!(logs.contains(" 0 rejected"), "{logs}");
    let pool = &w.app.db.pool;
    let count = |sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(pool)
            .await
            .unwrap()
    };
    let hr = count(
        "select count(*) from vital_samples v join signal_streams s on s.id = v.stream_id where s.signal_type = 'HR'",
    )
    .await;
    assert!(hr >= 8, "about 7 s of HR from each of 2 devices: {hr}");
    let rr = count(
        "select count(*) from vital_samples v join signal_streams s on s.id = v.stream_id where s.signal_type = 'HRV'",
    )
    .await;
    assert!(rr >= 8, "RR intervals: {rr}");
    let ecg = count("select coalesce(sum(sample_count), 0)::bigint from waveform_blocks").await;
    assert!(ecg >= 2 * 5 * 250, "ECG samples: {ecg}");
    let labels = count(
        "select count(*) from ground_truth_labels where event_type = 'TACHY' and source = 'simulator'
            and offset_at - onset = interval '3 seconds'",
    )
    .await;
    assert_eq!(labels, 2, "one label per device for the scheduled episode");
    let fast = count(
        "select count(*) from vital_samples v join signal_streams s on s.id = v.stream_id
          where s.signal_type = 'HR' and v.value > 110",
    )
    .await;
    assert!(fast >= 2, "the tachycardia shows in the heart rate: {fast}");
}
