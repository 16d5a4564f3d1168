//! `heartguard simulate`: streams synthetic vitals for devices through the real ingest API — scalar
//! samples as JSON batches, ECG as the binary waveform format — with episodes written as
//! ground-truth labels, and a progress line every few seconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hg_domain::simulation::physiology::{Episode, Patient, Second};
use hg_domain::simulation::setup::{self, SimDevice};
use hg_domain::telemetry::signals::SignalType;
use hg_domain::telemetry::wire::{Block, MEDIA_TYPE, SampleFormat, encode};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

use super::{Outcome, connect_db, load_from};

/// Which episodes happen.
#[derive(Clone, Debug)]
pub enum Episodes {
    /// None.
    None,
    /// At random, each device about once every `every` on average, 1–3 minutes long.
    Random { every: Duration },
    /// The same schedule on every device: (episode, start after the run starts, length).
    Scheduled(Vec<(Episode, Duration, Duration)>),
}

/// Parses `random`, `none`, or `tachy@30s+60s,af@2m+3m` (episode @ start + length).
pub fn parse_episodes(text: &str, every: Duration) -> Result<Episodes, String> {
    match text {
        "none" => return Ok(Episodes::None),
        "random" => return Ok(Episodes::Random { every }),
        _ => {}
    }
    text.split(',')
        .map(|item| {
            let (name, rest) = item.split_once('@').ok_or(format!(
                "{item}: write episode@start+length, e.g. tachy@30s+60s"
            ))?;
            let episode = Episode::parse(name).ok_or(format!(
                "{name}: the episodes are tachy, brady, desat, af and silent"
            ))?;
            let (start, length) = rest
                .split_once('+')
                .ok_or(format!("{item}: write episode@start+length"))?;
            Ok((episode, parse_duration(start)?, parse_duration(length)?))
        })
        .collect::<Result<_, String>>()
        .map(Episodes::Scheduled)
}

/// `90`, `90s`, `5m`, `2h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text}: a duration such as 90s, 5m or 2h"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{text}: a duration such as 90s, 5m or 2h")),
    };
    Ok(Duration::from_secs(secs))
}

/// What to simulate.
pub struct Options {
    pub patients: usize,
    /// Batches a second each device sends (each carries what was measured since the last).
    pub rate: f64,
    pub duration: Option<Duration>,
    pub episodes: Episodes,
    pub seed: u64,
    /// The timeseries component (or the gateway, with `api_key`).
    pub url: String,
    pub api_key: Option<String>,
}

#[derive(Default)]
struct Counters {
    batches: AtomicU64,
    samples: AtomicU64,
    rejected: AtomicU64,
    episodes: AtomicU64,
}

/// Runs the simulation until `duration` passes or Ctrl-C.
pub async fn run(env_file: Option<&std::path::Path>, options: Options) -> Outcome {
    match simulate(env_file, options).await {
        Ok(()) => Outcome::Ok,
        Err(o) => o,
    }
}

async fn simulate(env_file: Option<&std::path::Path>, o: Options) -> Result<(), Outcome> {
    let mut src = hg_platform::config::EnvSource::load(env_file)?;
    // Without DATABASE_URL, the private cluster `heartguard up` made (started if it is not running).
    let mut cluster = None;
    let data_dir =
        std::path::PathBuf::from(src.get("HEARTGUARD_DATA_DIR").unwrap_or(".heartguard"));
    if src.get("DATABASE_URL").is_none() && data_dir.join("postgres").exists() {
        let port = src
            .get("HEARTGUARD_PG_PORT")
            .and_then(|p| p.parse().ok())
            .unwrap_or(super::up::DEFAULT_PG_PORT);
        let (c, url) = crate::pgcluster::PrivateCluster::ensure(&data_dir, port)
            .await
            .map_err(Outcome::Failed)?;
        src.set("DATABASE_URL", url);
        cluster = Some(c);
    }
    let settings = load_from(&src, &[])?;
    let pool = connect_db(&settings, "heartguard-simulate").await?;
    let stop = tokio_util::sync::CancellationToken::new();
    hg_platform::shutdown::cancel_on_signal(stop.clone());
    let result = stream(&pool, o, stop, true)
        .await
        .map_err(|e| Outcome::Failed(format!("preparing devices: {e}")));
    pool.close().await;
    if let Some(c) = cluster {
        c.stop();
    }
    result
}

/// Prepares the devices and streams until `stop` (or the run's duration); with `progress`, prints a
/// line every five seconds and a summary.
pub async fn stream(
    pool: &sqlx::PgPool,
    o: Options,
    stop: tokio_util::sync::CancellationToken,
    progress_lines: bool,
) -> Result<(), sqlx::Error> {
    let devices = setup::prepare(pool, o.patients).await?;
    if progress_lines {
        eprintln!(
            "simulating {} devices at {} batches/s each, sending to {}",
            devices.len(),
            o.rate,
            o.url
        );
    }
    let client = reqwest::Client::new();
    let counters = Arc::new(Counters::default());
    let started = Instant::now();
    let o = Arc::new(o);
    let mut tasks = tokio::task::JoinSet::new();
    for (i, device) in devices.into_iter().enumerate() {
        let (client, counters, pool, o) =
            (client.clone(), counters.clone(), pool.clone(), o.clone());
        tasks.spawn(async move { drive(i, device, client, pool, counters, o).await });
    }
    let mut progress = tokio::time::interval(Duration::from_secs(5));
    progress.tick().await;
    let mut last = 0;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep_until(deadline(started, o.duration)) => break,
            _ = progress.tick(), if progress_lines => {
                let samples = counters.samples.load(Ordering::Relaxed);
                eprintln!(
                    "{:>5}s  batches {:>8}  samples/s {:>9.0}  rejected {}  episodes {}",
                    started.elapsed().as_secs(),
                    counters.batches.load(Ordering::Relaxed),
                    (samples - last) as f64 / 5.0,
                    counters.rejected.load(Ordering::Relaxed),
                    counters.episodes.load(Ordering::Relaxed),
                );
                last = samples;
            }
        }
    }
    tasks.abort_all();
    if progress_lines {
        eprintln!(
            "done: {} batches, {} samples, {} rejected",
            counters.batches.load(Ordering::Relaxed),
            counters.samples.load(Ordering::Relaxed),
            counters.rejected.load(Ordering::Relaxed)
        );
    }
    Ok(())
}

fn deadline(started: Instant, duration: Option<Duration>) -> tokio::time::Instant {
    let d = duration.unwrap_or(Duration::from_secs(100 * 365 * 86_400));
    tokio::time::Instant::from_std(started + d)
}

/// One device: measures every second, sends every `1 / rate` seconds, keeps its episodes.
async fn drive(
    index: usize,
    device: SimDevice,
    client: reqwest::Client,
    pool: sqlx::PgPool,
    counters: Arc<Counters>,
    o: Arc<Options>,
) {
    let ecg = device.streams.get(&SignalType::Ecg).copied();
    let rate_hz = ecg.map(|(_, r)| r.round() as u32).unwrap_or(250).max(1);
    let mut patient = Patient::new(o.seed.wrapping_mul(1_000_003) + index as u64, rate_hz);
    let mut rng = StdRng::seed_from_u64(o.seed ^ (index as u64).wrapping_mul(0x9e37_79b9));
    let start = Utc::now();
    let mut clock = start;
    let mut episode: Option<(Episode, DateTime<Utc>, DateTime<Utc>)> = None;
    let mut pending: Vec<(DateTime<Utc>, Second)> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / o.rate.max(0.01)));
    loop {
        tick.tick().await;
        let now = Utc::now();
        while clock + chrono::Duration::seconds(1) <= now {
            // Episodes start and end on whole seconds.
            if let Some((e, onset, end)) = episode
                && clock >= end
            {
                patient.episode = Episode::Normal;
                episode = None;
                if let Some(event) = e.event_type() {
                    let _ = setup::label(&pool, &device, event, onset, end).await;
                }
            }
            if episode.is_none()
                && let Some((e, length)) = next_episode(&o.episodes, &mut rng, clock - start)
            {
                patient.episode = e;
                episode = Some((e, clock, clock + length));
                counters.episodes.fetch_add(1, Ordering::Relaxed);
            }
            let second = patient.second();
            if patient.episode != Episode::Silent {
                pending.push((clock, second));
            }
            clock += chrono::Duration::seconds(1);
        }
        if pending.is_empty() {
            continue;
        }
        let batch = std::mem::take(&mut pending);
        let (json, samples) = scalar_batch(&device, &batch);
        if samples > 0 {
            send(
                &client,
                &o,
                &device,
                "application/json",
                json.to_string().into_bytes(),
                samples,
                &counters,
            )
            .await;
        }
        if let Some((stream, rate)) = ecg {
            let blocks: Vec<Block> = batch
                .iter()
                .map(|(ts, s)| Block {
                    start_ts: *ts,
                    sample_rate_hz: rate as f32,
                    values_mv: s.ecg_mv.clone(),
                })
                .collect();
            let refs: Vec<(uuid::Uuid, &Block)> = blocks.iter().map(|b| (stream, b)).collect();
            let n = blocks.iter().map(|b| b.values_mv.len() as u64).sum();
            let body = encode(&refs, SampleFormat::I16Microvolts);
            send(&client, &o, &device, MEDIA_TYPE, body, n, &counters).await;
        }
    }
}

/// Whether an episode starts now, and how long it lasts.
fn next_episode(
    episodes: &Episodes,
    rng: &mut StdRng,
    elapsed: chrono::Duration,
) -> Option<(Episode, chrono::Duration)> {
    match episodes {
        Episodes::None => None,
        Episodes::Random { every } => {
            let p = 1.0 / every.as_secs_f64().max(1.0);
            if rng.random::<f64>() >= p {
                return None;
            }
            let (e, _, _) = Episode::ALL[rng.random_range(0..Episode::ALL.len())];
            Some((e, chrono::Duration::seconds(rng.random_range(60..180))))
        }
        Episodes::Scheduled(list) => list.iter().find_map(|(e, at, length)| {
            (elapsed.num_seconds() == at.as_secs() as i64)
                .then(|| (*e, chrono::Duration::seconds(length.as_secs() as i64)))
        }),
    }
}

/// The scalar part of a batch: HR and SpO2 each second, RR intervals per beat, BP each minute.
fn scalar_batch(device: &SimDevice, batch: &[(DateTime<Utc>, Second)]) -> (Value, u64) {
    let mut streams = Vec::new();
    let mut count = 0u64;
    let mut add = |signal: SignalType, samples: Vec<Value>| {
        if let Some((id, _)) = device.streams.get(&signal)
            && !samples.is_empty()
        {
            count += samples.len() as u64;
            streams.push(json!({"stream_id": id, "samples": samples}));
        }
    };
    add(
        SignalType::Hr,
        batch
            .iter()
            .map(|(ts, s)| json!({"ts": ts, "value": s.heart_rate}))
            .collect(),
    );
    add(
        SignalType::Spo2,
        batch
            .iter()
            .map(|(ts, s)| json!({"ts": ts, "value": s.spo2}))
            .collect(),
    );
    add(
        SignalType::Hrv,
        batch
            .iter()
            .flat_map(|(ts, s)| {
                let n = s.rr_ms.len().max(1) as i64;
                s.rr_ms.iter().enumerate().map(move |(k, rr)| {
                    let at = *ts + chrono::Duration::milliseconds(1000 * k as i64 / n);
                    json!({"ts": at, "value": rr})
                })
            })
            .collect(),
    );
    add(
        SignalType::Bp,
        batch
            .iter()
            .filter(|(ts, _)| ts.timestamp() % 60 == 0)
            .map(|(ts, s)| json!({"ts": ts, "value": s.blood_pressure.0, "value2": s.blood_pressure.1}))
            .collect(),
    );
    (json!({"streams": streams}), count)
}

async fn send(
    client: &reqwest::Client,
    o: &Options,
    device: &SimDevice,
    content_type: &str,
    body: Vec<u8>,
    samples: u64,
    counters: &Counters,
) {
    for _attempt in 0..3 {
        let mut req = client
            .post(format!("{}/timeseries/ingest", o.url.trim_end_matches('/')))
            .header("authorization", format!("Device {}", device.credential))
            .header("content-type", content_type)
            .timeout(Duration::from_secs(30))
            .body(body.clone());
        if let Some(key) = &o.api_key {
            req = req.header("x-internal-api-key", key);
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => {
                counters.batches.fetch_add(1, Ordering::Relaxed);
                counters.samples.fetch_add(samples, Ordering::Relaxed);
                return;
            }
            Ok(r) if r.status().as_u16() == 503 => {
                let wait = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()?.parse().ok())
                    .unwrap_or(1);
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                if counters.rejected.fetch_add(1, Ordering::Relaxed) < 5 {
                    eprintln!("{}: {status}: {text}", device.serial);
                }
                return;
            }
            Err(e) => {
                if counters.rejected.fetch_add(1, Ordering::Relaxed) < 5 {
                    eprintln!("{}: {e}", device.serial);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn episodes_and_durations_parse() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert!(parse_duration("5x").is_err());
        let Episodes::Scheduled(list) =
            parse_episodes("tachy@30s+60s,af@2m+3m", Duration::ZERO).unwrap()
        else {
            panic!("a schedule");
        };
        assert_eq!(list[1].0, Episode::AtrialFibrillation);
        assert_eq!(list[1].1, Duration::from_secs(120));
        assert!(parse_episodes("fever@1s+1s", Duration::ZERO).is_err());
        assert!(matches!(
            parse_episodes("none", Duration::ZERO),
            Ok(Episodes::None)
        ));
    }
}
