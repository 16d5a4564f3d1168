//! The checks a batch passes before anything is stored, and the rows it becomes. Every problem names
//! its item: `streams[i].samples[j].value`, with the stream's id in the message.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::codec::{encode_uv, mv_to_uv};
use super::signals::SignalType;
use super::wire::{Batch, MAX_SAMPLES, MAX_STREAMS, MAX_WAVE_SAMPLES};
use crate::records::RecordError;

/// How far ahead of the server's clock a sample may be (device clocks drift).
pub const CLOCK_SKEW: Duration = Duration::seconds(30);

/// What the checks need to know of a stream.
#[derive(Clone, Debug)]
pub struct StreamInfo {
    pub id: Uuid,
    pub org_id: Uuid,
    pub patient_id: Uuid,
    pub device_id: Uuid,
    pub signal: SignalType,
    pub sample_rate_hz: f64,
    pub started_at: DateTime<Utc>,
}

/// A scalar row of `vital_samples`.
pub struct ScalarRow {
    pub stream_id: Uuid,
    pub ts: DateTime<Utc>,
    pub value: f32,
    pub value2: Option<f32>,
}

/// A row of `waveform_blocks`, its samples already encoded.
pub struct BlockRow {
    pub stream_id: Uuid,
    pub start_ts: DateTime<Utc>,
    pub sample_rate_hz: f32,
    pub sample_count: i32,
    pub samples: Vec<u8>,
    pub min_uv: i32,
    pub max_uv: i32,
    pub sum_uv: i64,
}

impl BlockRow {
    /// A block of microvolt samples, encoded, with its summary.
    pub fn from_uv(stream_id: Uuid, start_ts: DateTime<Utc>, rate_hz: f32, uv: &[i32]) -> Self {
        BlockRow {
            stream_id,
            start_ts,
            sample_rate_hz: rate_hz,
            sample_count: uv.len() as i32,
            samples: encode_uv(uv),
            min_uv: uv.iter().copied().min().unwrap_or(0),
            max_uv: uv.iter().copied().max().unwrap_or(0),
            sum_uv: uv.iter().map(|v| i64::from(*v)).sum(),
        }
    }
}

/// The time span and sample count one stream receives in a batch.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Span {
    pub stream_id: Uuid,
    pub samples: usize,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// `ts` at the stored precision (PostgreSQL keeps microseconds; the binary COPY truncates): every
/// check, row and announced span uses it, so two samples that would be stored at one instant are
/// refused as not increasing, and the span an event announces is exactly what was stored.
fn to_micros(ts: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(ts.timestamp_micros()).unwrap_or(ts)
}

/// A checked batch: its rows and, per stream, what it covers.
pub struct Rows {
    pub scalars: Vec<ScalarRow>,
    pub blocks: Vec<BlockRow>,
    pub spans: Vec<Span>,
}

/// The shape checks that need no database: sizes, one entry per stream, samples or blocks.
pub fn check_shape(batch: &Batch) -> Result<(), RecordError> {
    if batch.streams.is_empty() || batch.streams.len() > MAX_STREAMS {
        return Err(RecordError::invalid(
            "streams",
            format!("a batch holds 1 to {MAX_STREAMS} streams"),
        ));
    }
    let scalars: usize = batch.streams.iter().map(|s| s.samples.len()).sum();
    if scalars > MAX_SAMPLES {
        return Err(RecordError::invalid(
            "streams",
            format!("a batch holds at most {MAX_SAMPLES} scalar samples, not {scalars}"),
        ));
    }
    let wave: usize = batch
        .streams
        .iter()
        .flat_map(|s| &s.blocks)
        .map(|b| b.values_mv.len())
        .sum();
    if wave > MAX_WAVE_SAMPLES {
        return Err(RecordError::invalid(
            "streams",
            format!("a batch holds at most {MAX_WAVE_SAMPLES} waveform samples, not {wave}"),
        ));
    }
    for (i, s) in batch.streams.iter().enumerate() {
        if batch.streams[..i]
            .iter()
            .any(|o| o.stream_id == s.stream_id)
        {
            return Err(RecordError::invalid(
                format!("streams[{i}].stream_id"),
                format!("stream {} appears twice in the batch", s.stream_id),
            ));
        }
        if s.samples.is_empty() == s.blocks.is_empty() {
            return Err(RecordError::invalid(
                format!("streams[{i}]"),
                format!(
                    "stream {}: give either samples or blocks, and not none",
                    s.stream_id
                ),
            ));
        }
    }
    Ok(())
}

/// Checks every sample of `batch` against its stream (`streams[i]` is the stream of
/// `batch.streams[i]`) at `now`, keeping `retention_days`, and builds the rows.
pub fn rows(
    batch: &Batch,
    streams: &[StreamInfo],
    now: DateTime<Utc>,
    retention_days: i32,
) -> Result<Rows, RecordError> {
    let latest = now + CLOCK_SKEW;
    let oldest = now - Duration::days(i64::from(retention_days));
    let mut out = Rows {
        scalars: Vec::with_capacity(batch.streams.iter().map(|s| s.samples.len()).sum()),
        blocks: Vec::new(),
        spans: Vec::with_capacity(streams.len()),
    };
    for (i, (item, stream)) in batch.streams.iter().zip(streams).enumerate() {
        let id = stream.id;
        let bad = |field: String, problem: String| {
            Err(RecordError::invalid(
                format!("streams[{i}].{field}"),
                format!("stream {id}: {problem}"),
            ))
        };
        let in_time = |ts: DateTime<Utc>| -> Result<(), String> {
            if ts < stream.started_at {
                Err(format!(
                    "{ts} is before the stream started ({})",
                    stream.started_at
                ))
            } else if ts > latest {
                Err(format!(
                    "{ts} is in the future (the server's clock says {now})"
                ))
            } else if ts < oldest {
                Err(format!(
                    "{ts} is older than the {retention_days}-day retention"
                ))
            } else {
                Ok(())
            }
        };
        let mut span = Span {
            stream_id: id,
            samples: 0,
            from: DateTime::<Utc>::MAX_UTC,
            to: DateTime::<Utc>::MIN_UTC,
        };
        if !item.samples.is_empty() {
            if stream.signal.is_waveform() {
                return bad(
                    "samples".into(),
                    "an ECG stream takes waveform blocks, not samples".into(),
                );
            }
            let (lo, hi, unit) = stream.signal.range();
            let mut prev: Option<DateTime<Utc>> = None;
            for (j, s) in item.samples.iter().enumerate() {
                let ts = to_micros(s.ts);
                if let Err(p) = in_time(ts) {
                    return bad(format!("samples[{j}].ts"), p);
                }
                if prev.is_some_and(|p| ts <= p) {
                    return bad(
                        format!("samples[{j}].ts"),
                        "timestamps must increase within a stream (by at least a microsecond, the stored precision)".into(),
                    );
                }
                prev = Some(ts);
                if !(s.value.is_finite() && (lo..=hi).contains(&s.value)) {
                    return bad(
                        format!("samples[{j}].value"),
                        format!("{} must be between {lo} and {hi} {unit}", stream.signal),
                    );
                }
                match (stream.signal, s.value2) {
                    (SignalType::Bp, Some(d)) => {
                        let (dlo, dhi) = SignalType::DIASTOLIC;
                        if !(d.is_finite() && (dlo..=dhi).contains(&d) && d < s.value) {
                            return bad(
                                format!("samples[{j}].value2"),
                                format!(
                                    "the diastolic pressure must be between {dlo} and {dhi} mmHg and below the systolic"
                                ),
                            );
                        }
                    }
                    (SignalType::Bp, None) => {
                        return bad(
                            format!("samples[{j}].value2"),
                            "a BP sample needs the diastolic pressure".into(),
                        );
                    }
                    (_, Some(_)) => {
                        return bad(
                            format!("samples[{j}].value2"),
                            format!("only BP samples have value2, not {}", stream.signal),
                        );
                    }
                    (_, None) => {}
                }
                out.scalars.push(ScalarRow {
                    stream_id: id,
                    ts,
                    value: s.value,
                    value2: s.value2,
                });
            }
            span.samples = item.samples.len();
            span.from = to_micros(item.samples[0].ts);
            span.to = to_micros(item.samples[item.samples.len() - 1].ts);
        } else {
            if !stream.signal.is_waveform() {
                return bad(
                    "blocks".into(),
                    format!(
                        "a {} stream takes samples, not waveform blocks",
                        stream.signal
                    ),
                );
            }
            let mut prev_end: Option<DateTime<Utc>> = None;
            for (j, b) in item.blocks.iter().enumerate() {
                let start = to_micros(b.start_ts);
                let rate = f64::from(b.sample_rate_hz);
                if !(rate.is_finite()
                    && (rate - stream.sample_rate_hz).abs() <= stream.sample_rate_hz * 1e-6)
                {
                    return bad(
                        format!("blocks[{j}].sample_rate_hz"),
                        format!(
                            "{} Hz is not the stream's sample rate ({} Hz)",
                            b.sample_rate_hz, stream.sample_rate_hz
                        ),
                    );
                }
                let n = b.values_mv.len();
                if n == 0 || n > super::wire::MAX_BLOCK_SAMPLES {
                    return bad(
                        format!("blocks[{j}].values_mv"),
                        format!(
                            "a block holds 1 to {} samples",
                            super::wire::MAX_BLOCK_SAMPLES
                        ),
                    );
                }
                let Some(end) = start
                    .checked_add_signed(Duration::microseconds((n as f64 * 1e6 / rate) as i64))
                else {
                    return bad(
                        format!("blocks[{j}].start_ts"),
                        "the block ends past the last representable time".into(),
                    );
                };
                if let Err(p) = in_time(start).and_then(|_| {
                    (end <= latest + Duration::seconds(1))
                        .then_some(())
                        .ok_or(format!("the block ends at {end}, in the future"))
                }) {
                    return bad(format!("blocks[{j}].start_ts"), p);
                }
                if prev_end.is_some_and(|p| start < p) {
                    return bad(
                        format!("blocks[{j}].start_ts"),
                        "blocks must follow each other in time without overlapping".into(),
                    );
                }
                prev_end = Some(end);
                let (lo, hi, _) = SignalType::Ecg.range();
                if let Some(k) = b
                    .values_mv
                    .iter()
                    .position(|v| !(v.is_finite() && (lo..=hi).contains(v)))
                {
                    return bad(
                        format!("blocks[{j}].values_mv[{k}]"),
                        format!("ECG samples must be between {lo} and {hi} mV"),
                    );
                }
                let uv: Vec<i32> = b.values_mv.iter().map(|v| mv_to_uv(*v)).collect();
                out.blocks
                    .push(BlockRow::from_uv(id, start, b.sample_rate_hz, &uv));
                span.samples += n;
                span.from = span.from.min(start);
                span.to = span.to.max(end);
            }
        }
        out.spans.push(span);
    }
    Ok(out)
}
