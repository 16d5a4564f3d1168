//! `POST /timeseries/ingest` as a business rule: who may write which stream, the batch checked whole,
//! stored with binary `COPY` in one transaction, a `telemetry.ingested` event per batch, and retries
//! with the same `Idempotency-Key` answered from the first time.

use chrono::{DateTime, Utc};
use hg_platform::copy::BinaryCopy;
use hg_platform::events::{NewEvent, enqueue};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::query::STREAM_NOT_FOUND;
use super::signals::SignalType;
use super::validate::{self, Rows, Span, StreamInfo};
use super::wire::Batch;
use crate::device::may_manage_streams;
use crate::records::{Caller, RecordError};
use hg_platform::auth::PrincipalKind;

/// The event each accepted batch produces.
pub const INGESTED: &str = "telemetry.ingested";

/// Who sends a batch.
pub enum Sender<'a> {
    /// A device, by its credential: only its own open streams.
    Device { id: Uuid, org_id: Uuid },
    /// A signed-in patient (their own streams) or staff who manage the patient's streams.
    Caller(&'a Caller),
}

impl Sender<'_> {
    fn id(&self) -> Uuid {
        match self {
            Sender::Device { id, .. } => *id,
            Sender::Caller(c) => c.id(),
        }
    }

    fn actor(&self) -> Value {
        match self {
            Sender::Device { id, .. } => json!({"type": "device", "id": id}),
            Sender::Caller(c) => json!({"type": c.principal.kind(), "id": c.id()}),
        }
    }

    fn request_id(&self) -> Option<String> {
        match self {
            Sender::Device { .. } => None,
            Sender::Caller(c) => c.meta.request_id.clone(),
        }
    }
}

/// What an accepted batch stored.
#[derive(Clone, Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[schema(as = IngestAnswer)]
pub struct Accepted {
    /// Scalar samples stored.
    pub samples: usize,
    /// Waveform blocks stored.
    pub blocks: usize,
    /// Waveform samples in those blocks.
    pub waveform_samples: usize,
    /// Samples and blocks already stored before (same stream and time): kept as they were.
    pub duplicates: usize,
    /// True when this answer repeats the first answer to the same `Idempotency-Key`.
    pub replayed: bool,
}

/// A batch's `Idempotency-Key` and the digest of its body.
pub struct Idempotency<'a> {
    pub key: &'a str,
    pub body: &'a [u8],
}

/// Checks and stores `batch` for `sender`; a 2xx answer means every sample is committed.
pub async fn ingest(
    db: &PgPool,
    sender: Sender<'_>,
    batch: &Batch,
    idempotency: Option<Idempotency<'_>>,
    retention_days: i32,
) -> Result<Accepted, RecordError> {
    validate::check_shape(batch)?;
    if let Some(i) = &idempotency
        && (i.key.is_empty() || i.key.len() > 200 || i.key.chars().any(char::is_control))
    {
        return Err(RecordError::invalid(
            "Idempotency-Key",
            "must be 1 to 200 printable characters",
        ));
    }
    let mut conn = db.acquire().await?;
    let streams = authorize(&mut conn, &sender, batch).await?;
    let now = Utc::now();
    let rows = validate::rows(batch, &streams, now, retention_days)?;
    ensure_partitions(&mut conn, &rows, now).await?;

    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let digest = idempotency
        .as_ref()
        .map(|i| Sha256::digest(i.body).to_vec());
    if let (Some(i), Some(digest)) = (&idempotency, &digest) {
        // Concurrent retries of one key wait here for the first to commit, then replay it.
        sqlx::query_scalar!(
            "select pg_advisory_xact_lock(hashtextextended($1::uuid::text || $2, 0)) as \"locked!\"",
            sender.id(),
            i.key
        )
        .fetch_one(&mut *tx)
        .await?;
        let earlier = sqlx::query!(
            "select body_digest, answer from ingest_batches where sender = $1 and idempotency_key = $2",
            sender.id(),
            i.key
        )
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(e) = earlier {
            if e.body_digest != *digest {
                return Err(RecordError::Unprocessable {
                    id: "HG-IDEMPOTENCY-MISMATCH",
                    message: "this Idempotency-Key was used for a different batch".into(),
                });
            }
            let mut answer: Accepted =
                serde_json::from_value(e.answer).map_err(|_| RecordError::Unavailable)?;
            answer.replayed = true;
            return Ok(answer);
        }
    }
    let duplicates = store(&mut tx, &rows).await?;
    let answer = Accepted {
        samples: rows.scalars.len(),
        blocks: rows.blocks.len(),
        waveform_samples: rows.blocks.iter().map(|b| b.sample_count as usize).sum(),
        duplicates,
        replayed: false,
    };
    seen(&mut tx, &streams).await?;
    // A batch stored before in full (a retry without a key) has nothing new to announce.
    if duplicates < rows.scalars.len() + rows.blocks.len() {
        announce(&mut tx, &sender, &streams, &rows.spans).await?;
    }
    if let (Some(i), Some(digest)) = (&idempotency, &digest) {
        sqlx::query!(
            "insert into ingest_batches (sender, idempotency_key, body_digest, answer)
             values ($1, $2, $3, $4)",
            sender.id(),
            i.key,
            digest,
            serde_json::to_value(&answer).unwrap_or_default()
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(answer)
}

/// The batch's streams, in batch order, once the sender may write every one: 404 for a stream the
/// sender cannot see (another organization's, or unknown), 403 for one it sees but may not write,
/// 422 for a closed one.
async fn authorize(
    conn: &mut PgConnection,
    sender: &Sender<'_>,
    batch: &Batch,
) -> Result<Vec<StreamInfo>, RecordError> {
    let ids: Vec<Uuid> = batch.streams.iter().map(|s| s.stream_id).collect();
    let found = sqlx::query!(
        "select id, org_id, patient_id, device_id, signal_type, sample_rate_hz, started_at,
                ended_at is null as \"open!\"
           from signal_streams where id = any($1)",
        &ids
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let Some(s) = found.iter().find(|s| s.id == *id) else {
            return Err(STREAM_NOT_FOUND);
        };
        // A stream exists for senders of its organization (and its patient); who of them may write
        // is decided below (403), so a clinician outside the patient's teams learns nothing more.
        let visible = match sender {
            Sender::Device { org_id, .. } => s.org_id == *org_id,
            Sender::Caller(c) => match c.principal.kind() {
                PrincipalKind::Patient => c.id() == s.patient_id,
                _ => {
                    c.is_superadmin()
                        || c.scope.org_wide.contains(&s.org_id)
                        || c.scope.team_orgs.contains(&s.org_id)
                }
            },
        };
        if !visible {
            return Err(STREAM_NOT_FOUND);
        }
        match sender {
            Sender::Device { id: device, .. } if s.device_id != *device => {
                return Err(RecordError::Forbidden(format!(
                    "streams[{i}]: stream {id} belongs to another device"
                )));
            }
            Sender::Caller(c) if c.principal.kind() != PrincipalKind::Patient => {
                may_manage_streams(conn, c, s.org_id, s.patient_id)
                    .await
                    .map_err(|_| {
                        RecordError::Forbidden(format!(
                            "streams[{i}]: only the patient, their care team and the organization's administrators send samples to stream {id}"
                        ))
                    })?;
            }
            _ => {}
        }
        if !s.open {
            return Err(RecordError::Unprocessable {
                id: "HG-STREAM-CLOSED",
                message: format!("streams[{i}]: stream {id} is closed"),
            });
        }
        let signal = SignalType::parse(&s.signal_type).ok_or(RecordError::Unavailable)?;
        out.push(StreamInfo {
            id: s.id,
            org_id: s.org_id,
            patient_id: s.patient_id,
            device_id: s.device_id,
            signal,
            sample_rate_hz: s.sample_rate_hz,
            started_at: s.started_at,
        });
    }
    Ok(out)
}

/// Creates the daily partitions a batch of older (buffered) samples needs; the maintenance task
/// keeps yesterday to a week ahead, so a current batch skips this.
async fn ensure_partitions(
    conn: &mut PgConnection,
    rows: &Rows,
    now: DateTime<Utc>,
) -> Result<(), RecordError> {
    let earliest = rows.spans.iter().map(|s| s.from).min();
    if let Some(from) = earliest
        && from.date_naive() < now.date_naive() - chrono::Days::new(1)
    {
        sqlx::query("select ensure_sample_partitions($1::date, $2::date)")
            .bind(from.date_naive())
            .bind(now.date_naive())
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Copies the rows in; returns how many were already stored. The fast path copies straight into
/// the tables; a retried batch (a sample already stored at that time) rolls back to a savepoint and
/// goes through staging tables, keeping the stored samples and adding the new ones.
pub async fn store(conn: &mut PgConnection, rows: &Rows) -> Result<usize, RecordError> {
    let mut fast = sqlx::Connection::begin(&mut *conn).await?;
    match copy_rows(&mut fast, rows, "vital_samples", "waveform_blocks").await {
        Ok(()) => {
            fast.commit().await?;
            return Ok(0);
        }
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => {
            fast.rollback().await?;
        }
        Err(e) => return Err(e.into()),
    }
    for staging in [
        "create temp table if not exists staged_samples (like vital_samples) on commit delete rows",
        "create temp table if not exists staged_blocks (like waveform_blocks) on commit delete rows",
    ] {
        sqlx::query(staging).execute(&mut *conn).await?;
    }
    copy_rows(conn, rows, "staged_samples", "staged_blocks").await?;
    // Temporary tables: not in the schema the query macros check against.
    let added: i64 = sqlx::query_scalar(
        "with s as (insert into vital_samples select * from staged_samples on conflict do nothing returning 1),
              b as (insert into waveform_blocks select * from staged_blocks on conflict do nothing returning 1)
         select (select count(*) from s) + (select count(*) from b)",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(rows.scalars.len() + rows.blocks.len() - added as usize)
}

async fn copy_rows(
    conn: &mut PgConnection,
    rows: &Rows,
    samples: &'static str,
    blocks: &'static str,
) -> Result<(), sqlx::Error> {
    if !rows.scalars.is_empty() {
        let mut c = BinaryCopy::with_capacity(rows.scalars.len() * 52);
        for r in &rows.scalars {
            c.row(4).uuid(r.stream_id).timestamptz(r.ts).real(r.value);
            match r.value2 {
                Some(v) => c.real(v),
                None => c.null(),
            };
        }
        let target = if samples == "vital_samples" {
            "vital_samples (stream_id, ts, value, value2)"
        } else {
            "staged_samples (stream_id, ts, value, value2)"
        };
        c.send(conn, target).await?;
    }
    if !rows.blocks.is_empty() {
        let bytes: usize = rows.blocks.iter().map(|b| b.samples.len() + 64).sum();
        let mut c = BinaryCopy::with_capacity(bytes);
        for b in &rows.blocks {
            c.row(9)
                .uuid(b.stream_id)
                .timestamptz(b.start_ts)
                .real(b.sample_rate_hz)
                .integer(b.sample_count)
                .bytea(&b.samples)
                .smallint(super::codec::ENCODING_DELTA_UV)
                .integer(b.min_uv)
                .integer(b.max_uv)
                .bigint(b.sum_uv);
        }
        let target = if blocks == "waveform_blocks" {
            "waveform_blocks (stream_id, start_ts, sample_rate_hz, sample_count, samples, encoding, min_uv, max_uv, sum_uv)"
        } else {
            "staged_blocks (stream_id, start_ts, sample_rate_hz, sample_count, samples, encoding, min_uv, max_uv, sum_uv)"
        };
        c.send(conn, target).await?;
    }
    Ok(())
}

/// Marks the streams' devices as heard from now. At most every five seconds per device: a device
/// sending several batches at once would otherwise serialize them on its row's lock, and detecting
/// a silent device (minutes) needs no finer grain.
async fn seen(conn: &mut PgConnection, streams: &[StreamInfo]) -> Result<(), RecordError> {
    let mut devices: Vec<Uuid> = streams.iter().map(|s| s.device_id).collect();
    devices.sort();
    devices.dedup();
    sqlx::query!(
        "update devices set last_seen_at = now()
          where id = any($1) and (last_seen_at is null or last_seen_at < now() - interval '5 seconds')",
        &devices
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// One `telemetry.ingested` event per organization of the batch (a batch is one organization's in
/// practice), listing each stream's span.
async fn announce(
    conn: &mut PgConnection,
    sender: &Sender<'_>,
    streams: &[StreamInfo],
    spans: &[Span],
) -> Result<(), RecordError> {
    let mut orgs: Vec<Uuid> = streams.iter().map(|s| s.org_id).collect();
    orgs.sort();
    orgs.dedup();
    for org in orgs {
        let items: Vec<Value> = streams
            .iter()
            .zip(spans)
            .filter(|(s, _)| s.org_id == org)
            .map(|(s, span)| {
                json!({
                    "stream_id": s.id,
                    "patient_id": s.patient_id,
                    "device_id": s.device_id,
                    "signal_type": s.signal.code(),
                    "samples": span.samples,
                    "from": span.from,
                    "to": span.to,
                })
            })
            .collect();
        enqueue(
            conn,
            NewEvent {
                event_type: INGESTED.into(),
                aggregate: "telemetry".into(),
                aggregate_id: None,
                org_id: Some(org),
                actor: Some(sender.actor()),
                request_id: sender.request_id(),
                data: json!({"streams": items}),
            },
        )
        .await?;
    }
    Ok(())
}
