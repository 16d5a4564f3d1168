//! Reading vitals back: a stream raw or bucketed (`date_bin` with min/max/avg/count computed in the
//! database), a patient's latest value of each signal, all of a patient's signals downsampled to
//! about `points` buckets, and an ECG window as blocks. Scoped like patient reads (another
//! organization's or an unknown stream or patient is 404) and audited as patient-data reads.
//!
//! The long answers (raw samples, ECG blocks) come in two steps: a function that checks scope and
//! size, audits the read and returns the answer's head, then a stream of its items that reads the
//! database a page at a time as the consumer (the HTTP body, paced by the client) asks for more.

use std::ops::DerefMut;

use chrono::{DateTime, Duration, Utc};
use futures::{Stream, StreamExt};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::codec;
use super::signals::SignalType;
use super::wire::Block;
use crate::patient;
use crate::records::{Caller, RecordError};

/// Raw samples one answer holds at most (a little over two days of a 1 Hz signal); longer spans
/// need a resolution. The answer is streamed, so this bounds the work, not the memory.
pub const MAX_RAW: i64 = 200_000;
/// The longest ECG window one answer holds (streamed, a block at a time).
pub const MAX_ECG_WINDOW: Duration = Duration::minutes(60);
/// Rows a streamed read fetches per query: raw samples, and ECG blocks.
const RAW_PAGE: i64 = 5_000;
const BLOCK_PAGE: i64 = 32;
/// Buckets a signal may be asked in, at most.
pub const MAX_POINTS: i64 = 10_000;

pub(super) const STREAM_NOT_FOUND: RecordError =
    RecordError::NotFound("HG-STREAM-NOT-FOUND", "no such stream");

/// A time range, `from` included, `to` excluded.
#[derive(Clone, Copy, Debug)]
pub struct Range {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Range {
    /// `from`..`to`, defaulting to the `default` span before now; refuses an empty range.
    pub fn new(
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        default: Duration,
    ) -> Result<Range, RecordError> {
        let to = to.unwrap_or_else(Utc::now);
        let from = from.unwrap_or(to - default);
        if from >= to {
            return Err(RecordError::invalid("to", "must be after from"));
        }
        Ok(Range { from, to })
    }

    fn seconds(&self) -> i64 {
        (self.to - self.from).num_seconds().max(1)
    }
}

/// One raw scalar sample.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RawSample {
    pub ts: DateTime<Utc>,
    pub value: f32,
    pub value2: Option<f32>,
}

/// One bucket: the samples from `ts` for the bucket's width. For ECG, millivolts.
#[derive(Debug, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Bucket {
    pub ts: DateTime<Utc>,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    pub count: i64,
    /// The average diastolic pressure (BP only).
    pub avg2: Option<f64>,
}

/// A stream's samples over a range: raw, or in buckets of `bucket_seconds`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Series {
    pub stream_id: Uuid,
    pub patient_id: Uuid,
    pub signal_type: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Absent for raw samples.
    pub bucket_seconds: Option<i64>,
    /// Raw samples (scalar signals without a resolution).
    pub samples: Vec<RawSample>,
    /// Buckets (with a resolution, and for the patient's vitals).
    pub buckets: Vec<Bucket>,
}

/// A stream the caller may read, with its patient (the read is audited).
struct Readable {
    id: Uuid,
    patient_id: Uuid,
    signal: SignalType,
    sample_rate_hz: f64,
}

async fn readable(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
    what: &str,
) -> Result<Readable, RecordError> {
    let s = sqlx::query!(
        "select id, patient_id, signal_type, sample_rate_hz from signal_streams where id = $1",
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(STREAM_NOT_FOUND)?;
    let p = patient::visible(conn, caller, s.patient_id)
        .await
        .map_err(|_| STREAM_NOT_FOUND)?;
    patient::read_audit(conn, caller, &p, what).await?;
    Ok(Readable {
        id: s.id,
        patient_id: s.patient_id,
        signal: SignalType::parse(&s.signal_type).ok_or(RecordError::Unavailable)?,
        sample_rate_hz: s.sample_rate_hz,
    })
}

/// A stream over `range` in buckets of `bucket` seconds; or, with `bucket` = None, the head of a raw
/// answer (scalar signals, at most [`MAX_RAW`] samples): `samples` is empty, and
/// [`raw_samples`] streams them.
pub async fn stream_series(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
    range: Range,
    bucket: Option<i64>,
) -> Result<Series, RecordError> {
    let s = readable(conn, caller, id, "telemetry").await?;
    let mut out = Series {
        stream_id: s.id,
        patient_id: s.patient_id,
        signal_type: s.signal.code().to_owned(),
        from: range.from,
        to: range.to,
        bucket_seconds: bucket,
        samples: Vec::new(),
        buckets: Vec::new(),
    };
    match bucket {
        Some(width) => {
            if range.seconds() / width > MAX_POINTS {
                return Err(RecordError::invalid(
                    "resolution",
                    format!("asks for more than {MAX_POINTS} buckets over this range"),
                ));
            }
            out.buckets = buckets(conn, &[s.id], s.signal, range, width)
                .await?
                .into_iter()
                .map(|(_, b)| b)
                .collect();
        }
        None if s.signal.is_waveform() => {
            return Err(RecordError::invalid(
                "resolution",
                "an ECG stream is read raw through its /ecg window; give a resolution here",
            ));
        }
        None => {
            let n = sqlx::query_scalar!(
                r#"select count(*) as "n!" from (select 1 from vital_samples
                    where stream_id = $1 and ts >= $2 and ts < $3 limit $4) t"#,
                s.id,
                range.from,
                range.to,
                MAX_RAW + 1
            )
            .fetch_one(&mut *conn)
            .await?;
            if n > MAX_RAW {
                return Err(RecordError::Unprocessable {
                    id: "HG-TOO-MANY-POINTS",
                    message: format!(
                        "more than {MAX_RAW} samples in this range: ask for a resolution or a shorter range"
                    ),
                });
            }
        }
    }
    Ok(out)
}

/// One page of a streamed read: its rows, and where the next page starts (None after the last).
type Page<T, S> = Option<(Vec<Result<T, RecordError>>, Option<S>)>;

/// Where a streamed read stands: its connection, the last key read, the rows still wanted.
struct Cursor<C> {
    conn: C,
    after: DateTime<Utc>,
    left: i64,
}

/// The raw samples of stream `id` over `range`, in time order (at most [`MAX_RAW`]), read a page at
/// a time as the stream is polled. Check the read with [`stream_series`] first.
pub fn raw_samples<C>(
    conn: C,
    id: Uuid,
    range: Range,
) -> impl Stream<Item = Result<RawSample, RecordError>> + Send + 'static
where
    C: DerefMut<Target = PgConnection> + Send + 'static,
{
    let start = Cursor {
        conn,
        // Keys are microseconds: "after one microsecond earlier" is "from `from` on".
        after: range.from - Duration::microseconds(1),
        left: MAX_RAW,
    };
    futures::stream::unfold(Some(start), move |cursor| async move {
        let mut c = cursor?;
        let rows = sqlx::query!(
            "select ts, value, value2 from vital_samples
              where stream_id = $1 and ts > $2 and ts < $3 order by ts limit $4",
            id,
            c.after,
            range.to,
            RAW_PAGE.min(c.left)
        )
        .fetch_all(&mut *c.conn)
        .await;
        let page: Page<RawSample, Cursor<C>> = match rows {
            Err(e) => Some((vec![Err(e.into())], None)),
            Ok(rows) if rows.is_empty() => None,
            Ok(rows) => {
                c.left -= rows.len() as i64;
                let more = rows.len() as i64 == RAW_PAGE && c.left > 0;
                c.after = rows.last().map_or(c.after, |r| r.ts);
                let items = rows
                    .into_iter()
                    .map(|r| {
                        Ok(RawSample {
                            ts: r.ts,
                            value: r.value,
                            value2: r.value2,
                        })
                    })
                    .collect();
                Some((items, more.then_some(c)))
            }
        };
        page
    })
    .flat_map(futures::stream::iter)
}

/// Buckets of `width` seconds from `range.from`, per stream, computed in the database: scalar
/// samples directly, ECG from each block's stored minimum, maximum and sum (a block counts in the
/// bucket it starts in).
async fn buckets(
    conn: &mut PgConnection,
    streams: &[Uuid],
    signal: SignalType,
    range: Range,
    width: i64,
) -> Result<Vec<(Uuid, Bucket)>, RecordError> {
    let rows = if signal.is_waveform() {
        sqlx::query!(
            r#"select stream_id, date_bin(make_interval(secs => $4::bigint), start_ts, $2) as "ts!",
                      (min(min_uv) / 1000.0)::float8 as "min!", (max(max_uv) / 1000.0)::float8 as "max!",
                      (sum(sum_uv) / nullif(sum(sample_count), 0) / 1000.0)::float8 as "avg!",
                      sum(sample_count)::bigint as "count!"
                 from waveform_blocks
                where stream_id = any($1) and start_ts >= $2 and start_ts < $3 and min_uv is not null
                group by 1, 2 order by 1, 2"#,
            streams,
            range.from,
            range.to,
            width
        )
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|r| {
            (
                r.stream_id,
                Bucket {
                    ts: r.ts,
                    min: r.min,
                    max: r.max,
                    avg: r.avg,
                    count: r.count,
                    avg2: None,
                },
            )
        })
        .collect()
    } else {
        sqlx::query!(
            r#"select stream_id, date_bin(make_interval(secs => $4::bigint), ts, $2) as "ts!",
                      min(value)::float8 as "min!", max(value)::float8 as "max!",
                      avg(value)::float8 as "avg!", count(*) as "count!", avg(value2)::float8 as avg2
                 from vital_samples
                where stream_id = any($1) and ts >= $2 and ts < $3
                group by 1, 2 order by 1, 2"#,
            streams,
            range.from,
            range.to,
            width
        )
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|r| {
            (
                r.stream_id,
                Bucket {
                    ts: r.ts,
                    min: r.min,
                    max: r.max,
                    avg: r.avg,
                    count: r.count,
                    avg2: r.avg2,
                },
            )
        })
        .collect()
    };
    Ok(rows)
}

/// The latest sample of one scalar signal of a patient.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Latest {
    pub signal_type: String,
    pub stream_id: Uuid,
    pub ts: DateTime<Utc>,
    pub value: f32,
    pub value2: Option<f32>,
}

/// The latest value of each scalar signal of `patient` (over all its streams, open or closed).
pub async fn latest(
    conn: &mut PgConnection,
    caller: &Caller,
    patient: Uuid,
) -> Result<Vec<Latest>, RecordError> {
    let p = patient::visible(conn, caller, patient).await?;
    patient::read_audit(conn, caller, &p, "telemetry_latest").await?;
    let rows = sqlx::query!(
        r#"select distinct on (s.signal_type) s.signal_type, s.id, l.ts, l.value, l.value2
             from signal_streams s
             cross join lateral (select v.ts, v.value, v.value2 from vital_samples v
                                  where v.stream_id = s.id order by v.ts desc limit 1) l
            where s.patient_id = $1
            order by s.signal_type, l.ts desc"#,
        patient
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Latest {
            signal_type: r.signal_type,
            stream_id: r.id,
            ts: r.ts,
            value: r.value,
            value2: r.value2,
        })
        .collect())
}

/// A patient's signals over a range, each in about `points` buckets.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Vitals {
    pub patient_id: Uuid,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket_seconds: i64,
    /// One series per stream with samples in the range.
    pub signals: Vec<Series>,
}

/// Every signal of `patient` over `range`, downsampled to about `points` buckets each.
pub async fn vitals(
    conn: &mut PgConnection,
    caller: &Caller,
    patient: Uuid,
    range: Range,
    points: i64,
) -> Result<Vitals, RecordError> {
    let p = patient::visible(conn, caller, patient).await?;
    patient::read_audit(conn, caller, &p, "telemetry_vitals").await?;
    let width = (range.seconds() + points - 1) / points;
    let streams = sqlx::query!(
        "select id, signal_type from signal_streams
          where patient_id = $1 and started_at < $3 and (ended_at is null or ended_at >= $2)
          order by signal_type, started_at",
        patient,
        range.from,
        range.to
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut signals = Vec::new();
    for waveform in [false, true] {
        let ids: Vec<Uuid> = streams
            .iter()
            .filter(|s| {
                SignalType::parse(&s.signal_type).is_some_and(|t| t.is_waveform() == waveform)
            })
            .map(|s| s.id)
            .collect();
        if ids.is_empty() {
            continue;
        }
        let signal = if waveform {
            SignalType::Ecg
        } else {
            SignalType::Hr
        };
        let mut by_stream: std::collections::HashMap<Uuid, Vec<Bucket>> = Default::default();
        for (id, b) in buckets(conn, &ids, signal, range, width).await? {
            by_stream.entry(id).or_default().push(b);
        }
        for s in streams.iter().filter(|s| ids.contains(&s.id)) {
            let Some(buckets) = by_stream.remove(&s.id) else {
                continue;
            };
            signals.push(Series {
                stream_id: s.id,
                patient_id: patient,
                signal_type: s.signal_type.clone(),
                from: range.from,
                to: range.to,
                bucket_seconds: Some(width),
                samples: Vec::new(),
                buckets,
            });
        }
    }
    Ok(Vitals {
        patient_id: patient,
        from: range.from,
        to: range.to,
        bucket_seconds: width,
        signals,
    })
}

/// An ECG stream's raw samples over a window, as the stored blocks that overlap it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EcgWindow {
    pub stream_id: Uuid,
    pub sample_rate_hz: f64,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// How many blocks the answer holds.
    pub block_count: i64,
    pub blocks: Vec<Block>,
}

/// Where the blocks overlapping `range` may start: a block is at most 60 000 samples, so at the
/// stream's rate one that starts this much before `from` may still reach into the window.
fn ecg_lookback(range: Range, sample_rate_hz: f64) -> DateTime<Utc> {
    range.from - Duration::seconds((60_000.0 / sample_rate_hz.max(1.0)).ceil() as i64)
}

/// The head of the ECG window of stream `id` over `range` (at most [`MAX_ECG_WINDOW`] long): scope
/// checked, read audited, blocks counted; `blocks` is empty, and [`ecg_blocks`] streams them.
pub async fn ecg_window(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
    range: Range,
) -> Result<EcgWindow, RecordError> {
    if range.to - range.from > MAX_ECG_WINDOW {
        return Err(RecordError::invalid(
            "to",
            format!(
                "an ECG window is at most {} minutes",
                MAX_ECG_WINDOW.num_minutes()
            ),
        ));
    }
    let s = readable(conn, caller, id, "ecg").await?;
    if !s.signal.is_waveform() {
        return Err(RecordError::invalid(
            "id",
            format!("stream {id} is {}, not ECG", s.signal),
        ));
    }
    let block_count = sqlx::query_scalar!(
        r#"select count(*) as "n!" from waveform_blocks
            where stream_id = $1 and start_ts >= $2 and start_ts < $3
              and start_ts + make_interval(secs => sample_count / sample_rate_hz) > $4"#,
        id,
        ecg_lookback(range, s.sample_rate_hz),
        range.to,
        range.from
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(EcgWindow {
        stream_id: id,
        sample_rate_hz: s.sample_rate_hz,
        from: range.from,
        to: range.to,
        block_count,
        blocks: Vec::new(),
    })
}

/// The blocks of the window `head` ([`ecg_window`]) describes, decoded, in time order, read a page
/// at a time as the stream is polled; at most `head.block_count` of them, so a binary answer's
/// header stays true while blocks keep arriving.
pub fn ecg_blocks<C>(
    conn: C,
    head: &EcgWindow,
) -> impl Stream<Item = Result<Block, RecordError>> + Send + 'static
where
    C: DerefMut<Target = PgConnection> + Send + 'static,
{
    let id = head.stream_id;
    let range = Range {
        from: head.from,
        to: head.to,
    };
    let start = Cursor {
        conn,
        after: ecg_lookback(range, head.sample_rate_hz) - Duration::microseconds(1),
        left: head.block_count,
    };
    futures::stream::unfold(Some(start), move |cursor| async move {
        let mut c = cursor.filter(|c| c.left > 0)?;
        let rows = sqlx::query!(
            "select start_ts, sample_rate_hz, sample_count, samples, encoding from waveform_blocks
              where stream_id = $1 and start_ts > $2 and start_ts < $3
                and start_ts + make_interval(secs => sample_count / sample_rate_hz) > $4
              order by start_ts limit $5",
            id,
            c.after,
            range.to,
            range.from,
            BLOCK_PAGE.min(c.left)
        )
        .fetch_all(&mut *c.conn)
        .await;
        let page: Page<Block, Cursor<C>> = match rows {
            Err(e) => Some((vec![Err(e.into())], None)),
            Ok(rows) if rows.is_empty() => None,
            Ok(rows) => {
                c.left -= rows.len() as i64;
                let more = rows.len() as i64 == BLOCK_PAGE;
                c.after = rows.last().map_or(c.after, |r| r.start_ts);
                let items = rows
                    .into_iter()
                    .map(|r| {
                        let values_mv = codec::decode_mv(r.encoding, &r.samples, r.sample_count as usize)
                            .map_err(|e| {
                                tracing::error!(stream = %id, start = %r.start_ts, error = %e, "corrupt waveform block");
                                RecordError::Unavailable
                            })?;
                        Ok(Block {
                            start_ts: r.start_ts,
                            sample_rate_hz: r.sample_rate_hz,
                            values_mv,
                        })
                    })
                    .collect();
                Some((items, more.then_some(c)))
            }
        };
        page
    })
    .flat_map(futures::stream::iter)
}
