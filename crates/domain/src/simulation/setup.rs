//! What a simulation needs in the database: devices with open streams (the seeded ones first, then
//! as many simulated patients as asked for in organization `SIM-001`), a fresh credential for each
//! (so the simulator authenticates like a real device), and ground-truth labels for its episodes.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::identity::opaque_token;
use crate::seed::seed_id;
use crate::telemetry::signals::SignalType;

/// The organization simulated patients are enrolled in when the seeded ones are too few.
pub const SIM_ORG: &str = "SIM-001";

/// A device the simulator drives.
pub struct SimDevice {
    pub device_id: Uuid,
    pub org_id: Uuid,
    pub patient_id: Uuid,
    pub serial: String,
    /// `<device id>.<secret>`, for `Authorization: Device …`.
    pub credential: String,
    /// Its open streams: id and sample rate, by signal.
    pub streams: HashMap<SignalType, (Uuid, f64)>,
}

/// Picks `n` devices with open streams (creating simulated ones when there are fewer) and gives
/// each a new credential; a device's earlier credential stops working.
pub async fn prepare(pool: &PgPool, n: usize) -> Result<Vec<SimDevice>, sqlx::Error> {
    let existing: i64 = sqlx::query_scalar!(
        r#"select count(distinct d.id) as "n!" from devices d
             join signal_streams s on s.device_id = d.id and s.ended_at is null
            where d.active and d.archived_at is null and d.owner_patient_id is not null"#
    )
    .fetch_one(pool)
    .await?;
    if (existing as usize) < n {
        enrol(pool, n - existing as usize).await?;
    }
    let rows = sqlx::query!(
        r#"select d.id, d.org_id, d.serial, d.owner_patient_id as "patient_id!",
                  array_agg(s.id order by s.signal_type) as "stream_ids!",
                  array_agg(s.signal_type order by s.signal_type) as "signals!",
                  array_agg(s.sample_rate_hz order by s.signal_type) as "rates!"
             from devices d join signal_streams s on s.device_id = d.id and s.ended_at is null
            where d.active and d.archived_at is null and d.owner_patient_id is not null
            group by d.id order by d.serial limit $1"#,
        n as i64
    )
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let (secret, digest) = opaque_token();
        sqlx::query!(
            "update devices set credential_hash = $2, credential_rotated_at = now() where id = $1",
            r.id,
            digest
        )
        .execute(pool)
        .await?;
        let streams = r
            .signals
            .iter()
            .zip(r.stream_ids.iter().zip(&r.rates))
            .filter_map(|(sig, (id, rate))| SignalType::parse(sig).map(|t| (t, (*id, *rate))))
            .collect();
        out.push(SimDevice {
            device_id: r.id,
            org_id: r.org_id,
            patient_id: r.patient_id,
            serial: r.serial,
            credential: format!("{}.{secret}", r.id),
            streams,
        });
    }
    Ok(out)
}

/// Enrols `extra` more simulated patients in [`SIM_ORG`], each with a device and open HR, SpO2,
/// BP, HRV and 250 Hz ECG streams (deterministic ids: a second run finds the first run's).
async fn enrol(pool: &PgPool, extra: usize) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "insert into organizations (id, code, name) values ($1, $2, 'Simulación')
         on conflict do nothing",
        seed_id("sim:org"),
        SIM_ORG
    )
    .execute(&mut *tx)
    .await?;
    let org: Uuid = sqlx::query_scalar!("select id from organizations where code = $1", SIM_ORG)
        .fetch_one(&mut *tx)
        .await?;
    let already: i64 = sqlx::query_scalar!(
        r#"select count(*) as "n!" from patients where org_id = $1"#,
        org
    )
    .fetch_one(&mut *tx)
    .await?;
    for i in already as usize + 1..=already as usize + extra {
        let patient = seed_id(&format!("sim:patient:{i}"));
        let device = seed_id(&format!("sim:device:{i}"));
        sqlx::query!(
            "insert into patients (id, org_id, person_name, risk_level) values ($1, $2, $3, 'medium')
             on conflict do nothing",
            patient,
            org,
            format!("Paciente simulado {i:03}")
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "insert into devices (id, org_id, serial, brand, model, device_type, owner_patient_id)
             values ($1, $2, $3, 'HeartGuard', 'Simulator', 'WEARABLE_MULTI', $4) on conflict do nothing",
            device,
            org,
            format!("HG-SIM001-{i:03}"),
            patient
        )
        .execute(&mut *tx)
        .await?;
        for (signal, rate) in [
            ("HR", 1.0),
            ("SpO2", 1.0),
            ("BP", 1.0 / 60.0),
            ("HRV", 1.2),
            ("ECG", 250.0),
        ] {
            sqlx::query!(
                "insert into signal_streams (id, org_id, patient_id, device_id, signal_type, sample_rate_hz)
                 values ($1, $2, $3, $4, $5, $6) on conflict do nothing",
                seed_id(&format!("sim:stream:{i}:{signal}")),
                org,
                patient,
                device,
                signal,
                rate
            )
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await
}

/// Records a simulated episode as a ground-truth label, so detectors can be evaluated against it.
pub async fn label(
    pool: &PgPool,
    device: &SimDevice,
    event_type: &str,
    onset: DateTime<Utc>,
    offset: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into ground_truth_labels (org_id, patient_id, event_type, onset, offset_at, source, note)
         values ($1, $2, $3, $4, $5, 'simulator', $6)",
        device.org_id,
        device.patient_id,
        event_type,
        onset,
        offset,
        format!("heartguard simulate, device {}", device.serial)
    )
    .execute(pool)
    .await?;
    Ok(())
}
