//! The demo's vitals: 24 h of scalar samples a minute and 10 min of ECG, generated and copied in.

use super::*;
use crate::telemetry::codec;
use crate::telemetry::validate::BlockRow;

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
    for signal in SCALAR_SIGNALS {
        let stream = stream_id(key, signal);
        if !stream_is_empty(tx, stream, "vital_samples").await? {
            continue;
        }
        let mut ts = Vec::with_capacity(SCALAR_MINUTES as usize);
        let mut values = Vec::with_capacity(SCALAR_MINUTES as usize);
        let mut values2 = Vec::with_capacity(SCALAR_MINUTES as usize);
        for i in (0..SCALAR_MINUTES).rev() {
            let t = now - Duration::minutes(i);
            let minute_of_day = (t.timestamp() / 60).rem_euclid(1440) as u32;
            let (v, v2) = match *signal {
                "HR" => vitals.heart_rate(minute_of_day),
                "SpO2" => vitals.spo2(),
                _ => vitals.blood_pressure(minute_of_day),
            };
            ts.push(t);
            values.push(v);
            values2.push(v2);
        }
        sqlx::query!(
            "insert into vital_samples (stream_id, ts, value, value2)
             select $1, * from unnest($2::timestamptz[], $3::real[], $4::real[])",
            stream,
            &ts,
            &values,
            &values2 as _,
        )
        .execute(&mut *tx)
        .await?;
    }
    let ecg_stream = stream_id(key, "ECG");
    if stream_is_empty(tx, ecg_stream, "waveform_blocks").await? {
        let wave = vitals.ecg(ECG_SECONDS, ECG_RATE_HZ);
        let start = now - Duration::seconds(i64::from(ECG_SECONDS));
        let rows: Vec<BlockRow> = wave
            .chunks(ECG_RATE_HZ as usize)
            .enumerate()
            .map(|(i, chunk)| {
                let uv: Vec<i32> = chunk.iter().map(|v| codec::mv_to_uv(*v)).collect();
                let at = start + Duration::seconds(i as i64);
                BlockRow::from_uv(ecg_stream, at, ECG_RATE_HZ as f32, &uv)
            })
            .collect();
        let starts: Vec<DateTime<Utc>> = rows.iter().map(|r| r.start_ts).collect();
        let blocks: Vec<Vec<u8>> = rows.iter().map(|r| r.samples.clone()).collect();
        let mins: Vec<i32> = rows.iter().map(|r| r.min_uv).collect();
        let maxs: Vec<i32> = rows.iter().map(|r| r.max_uv).collect();
        let sums: Vec<i64> = rows.iter().map(|r| r.sum_uv).collect();
        sqlx::query!(
            "insert into waveform_blocks
                    (stream_id, start_ts, sample_rate_hz, sample_count, samples, encoding, min_uv, max_uv, sum_uv)
             select $1, t, $3, $4, s, $6, mn, mx, sm
               from unnest($2::timestamptz[], $5::bytea[], $7::int[], $8::int[], $9::bigint[])
                 as u(t, s, mn, mx, sm)",
            ecg_stream,
            &starts,
            ECG_RATE_HZ as f32,
            ECG_RATE_HZ as i32,
            &blocks,
            codec::ENCODING_DELTA_UV,
            &mins,
            &maxs,
            &sums,
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
