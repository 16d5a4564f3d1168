//! The demo's vitals: 24 h of scalar samples a minute and 10 min of ECG, generated and copied in.

use super::*;
use crate::telemetry::codec;
use crate::telemetry::ingest::store;
use crate::telemetry::validate::{BlockRow, Rows, ScalarRow};

pub(super) async fn stream_is_empty(
    tx: &mut PgConnection,
    stream: Uuid,
    table: &str,
) -> Result<bool, sqlx::Error> {
    let sql = match table {
        "vital_samples" => "select not exists(select 1 from vital_samples where stream_id = $1)",
        _ => "select not exists(select 1 from waveform_blocks where stream_id = $1)",
    };
    sqlx::query_scalar(sql).bind(stream).fetch_one(tx).await
}

pub(super) async fn samples(
    tx: &mut PgConnection,
    key: &str,
    n: u64,
    now: DateTime<Utc>,
) -> Result<(), SeedError> {
    sqlx::query(
        "select ensure_sample_partitions(($1::timestamptz at time zone 'UTC')::date - 1, current_date + 7)",
    )
    .bind(now)
        .execute(&mut *tx)
        .await?;
    let mut vitals = VitalsGenerator::new(n + 1);
    // The same rows and the same binary COPY as the ingest API.
    let mut rows = Rows {
        scalars: Vec::new(),
        blocks: Vec::new(),
        spans: Vec::new(),
    };
    for signal in SCALAR_SIGNALS {
        let stream = stream_id(key, signal);
        if !stream_is_empty(tx, stream, "vital_samples").await? {
            continue;
        }
        for i in (0..SCALAR_MINUTES).rev() {
            let t = now - Duration::minutes(i);
            let minute_of_day = (t.timestamp() / 60).rem_euclid(1440) as u32;
            let (value, value2) = match *signal {
                "HR" => vitals.heart_rate(minute_of_day),
                "SpO2" => vitals.spo2(),
                _ => vitals.blood_pressure(minute_of_day),
            };
            rows.scalars.push(ScalarRow {
                stream_id: stream,
                ts: t,
                value,
                value2,
            });
        }
    }
    let ecg_stream = stream_id(key, "ECG");
    if stream_is_empty(tx, ecg_stream, "waveform_blocks").await? {
        let wave = vitals.ecg(ECG_SECONDS, ECG_RATE_HZ);
        let start = now - Duration::seconds(i64::from(ECG_SECONDS));
        for (i, chunk) in wave.chunks(ECG_RATE_HZ as usize).enumerate() {
            let uv: Vec<i32> = chunk.iter().map(|v| codec::mv_to_uv(*v)).collect();
            let at = start + Duration::seconds(i as i64);
            rows.blocks
                .push(BlockRow::from_uv(ecg_stream, at, ECG_RATE_HZ as f32, &uv));
        }
    }
    store(tx, &rows).await?;
    Ok(())
}
