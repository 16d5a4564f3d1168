//! The read side: a stream's samples (raw or bucketed), a patient's latest values and downsampled
//! vitals, and an ECG window (JSON, XML or the binary waveform format). Handlers adapt
//! `hg_domain::telemetry::query`.

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::Duration;
use futures::{Stream, StreamExt};
use hg_domain::records::RecordError;
use hg_domain::telemetry::query::{self, EcgWindow, Latest, Range, Series, Vitals};
use hg_domain::telemetry::wire::{self, SampleFormat};
use hg_http::list::QueryParams;
use hg_http::{ApiError, ApiResponse, Format, IdPath};
use hg_platform::Platform;
use serde::Serialize;
use uuid::Uuid;

use super::ingest::WAVEFORM_MEDIA_TYPE;
use crate::common::{Caller, conn};

/// `resolution`: `raw` (or absent), or a bucket width such as `30s`, `5m`, `1h`, `1d`, in seconds.
fn resolution(q: &mut QueryParams) -> Result<Option<i64>, ApiError> {
    let Some(text) = q.text("resolution", 16)? else {
        return Ok(None);
    };
    if text == "raw" {
        return Ok(None);
    }
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 0,
    };
    match digits.parse::<i64>() {
        Ok(n) if scale > 0 && (1..=365 * 86_400).contains(&(n * scale)) => Ok(Some(n * scale)),
        _ => Err(ApiError::invalid_field(
            "resolution",
            "is raw or a width such as 30s, 5m, 1h or 1d (at most 365 days)",
        )),
    }
}

/// Answers `head` with its list `field` streamed from `items` (hg_http::streamed). The first item is
/// read before anything is sent, so a query that fails outright is still an error answer.
async fn streamed<H, T, S>(
    format: Format,
    head: &H,
    field: &'static str,
    items: S,
) -> Result<Response, ApiError>
where
    H: Serialize,
    T: Serialize + Send + 'static,
    S: Stream<Item = Result<T, RecordError>> + Send + 'static,
{
    // Fused: when the first read finds nothing, the chain below asks again.
    let mut items = Box::pin(items.fuse());
    let first = items.next().await.transpose()?;
    let mut head = serde_json::to_value(head).map_err(|_| ApiError::internal())?;
    if let Some(members) = head.as_object_mut() {
        members.remove(field);
    }
    let items = futures::stream::iter(first.map(Ok)).chain(items);
    Ok(hg_http::streamed::list(format, &head, field, items))
}

#[utoipa::path(
    get,
    path = "/timeseries/streams/{id}",
    tag = "timeseries",
    summary = "A stream's samples over a range, raw or in buckets (min/max/avg/count)",
    params(
        ("id" = Uuid, Path),
        ("from" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "from this instant (default: an hour before `to`)"),
        ("to" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "before this instant (default: now)"),
        ("resolution" = Option<String>, Query, description = "raw (default; scalar signals, at most 200 000 samples, streamed) or a bucket width: 30s, 5m, 1h, 1d"),
    ),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<Series>))
)]
pub async fn stream(
    State(p): State<Platform>,
    caller: Caller,
    format: Format,
    IdPath(id): IdPath<Uuid>,
    mut q: QueryParams,
) -> Result<Response, ApiError> {
    let from = q.timestamp("from")?;
    let to = q.timestamp("to")?;
    let bucket = resolution(&mut q)?;
    q.finish()?;
    let range = Range::new(from, to, Duration::hours(1))?;
    let mut c = conn(&p).await?;
    let series = query::stream_series(&mut c, &caller, id, range, bucket).await?;
    if bucket.is_some() {
        return Ok(ApiResponse::ok(series).into_response());
    }
    streamed(format, &series, "samples", query::raw_samples(c, id, range)).await
}

#[utoipa::path(
    get,
    path = "/timeseries/streams/{id}/ecg",
    tag = "timeseries",
    summary = "An ECG stream's raw samples over a window of at most 60 minutes, streamed",
    params(
        ("id" = Uuid, Path),
        ("from" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "from this instant (default: 10 s before `to`)"),
        ("to" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "before this instant (default: now)"),
        ("format" = Option<String>, Query, description = "`binary`: the blocks in the binary waveform format (f32 millivolts) instead of JSON/XML"),
    ),
    responses((status = 200, description = "The stored blocks overlapping the window", body = hg_http::openapi::Envelope<EcgWindow>))
)]
pub async fn ecg(
    State(p): State<Platform>,
    caller: Caller,
    format: Format,
    IdPath(id): IdPath<Uuid>,
    mut q: QueryParams,
) -> Result<Response, ApiError> {
    let from = q.timestamp("from")?;
    let to = q.timestamp("to")?;
    let binary = q.one_of("format", &["json", "binary"])? == Some("binary");
    q.finish()?;
    let range = Range::new(from, to, Duration::seconds(10))?;
    let mut c = conn(&p).await?;
    let head = query::ecg_window(&mut c, &caller, id, range).await?;
    if !binary {
        let blocks = query::ecg_blocks(c, &head);
        return streamed(format, &head, "blocks", blocks).await;
    }
    if head.block_count == 0 {
        return Ok((
            [(http::header::CONTENT_TYPE, WAVEFORM_MEDIA_TYPE)],
            Vec::new(),
        )
            .into_response());
    }
    if head.block_count as usize > wire::MAX_BATCH_BLOCKS {
        return Err(ApiError::invalid_field(
            "to",
            "holds more blocks than one binary answer can (65 535): ask for a shorter window",
        ));
    }
    // The header announces the count; each block follows as it is read.
    let mut header = Vec::with_capacity(8);
    wire::encode_header(&mut header, head.block_count as usize);
    let mut blocks = Box::pin(query::ecg_blocks(c, &head).fuse());
    let first = blocks.next().await.transpose()?;
    let body = futures::stream::iter(first.map(Ok))
        .chain(blocks)
        .map(move |b| {
            b.map(|b| {
                let mut out = Vec::new();
                wire::encode_block(&mut out, id, &b, SampleFormat::F32Millivolts);
                Bytes::from(out)
            })
            .map_err(|e| std::io::Error::other(e.to_string()))
        });
    let body = futures::stream::once(async move { Ok(Bytes::from(header)) }).chain(body);
    Ok((
        [(http::header::CONTENT_TYPE, WAVEFORM_MEDIA_TYPE)],
        Body::from_stream(body),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/timeseries/patients/{id}/latest",
    tag = "timeseries",
    summary = "The latest value of each of the patient's scalar signals",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<Vec<Latest>>))
)]
pub async fn latest(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::ok(
        query::latest(&mut *conn(&p).await?, &caller, id).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/timeseries/patients/{id}/vitals",
    tag = "timeseries",
    summary = "All of the patient's signals over a range, each in about `points` buckets",
    params(
        ("id" = Uuid, Path),
        ("from" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "from this instant (default: a day before `to`)"),
        ("to" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "before this instant (default: now)"),
        ("points" = Option<i64>, Query, description = "buckets per signal, 1–10 000 (default 500)"),
    ),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<Vitals>))
)]
pub async fn vitals(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    mut q: QueryParams,
) -> Result<ApiResponse, ApiError> {
    let from = q.timestamp("from")?;
    let to = q.timestamp("to")?;
    let points = q.integer("points", 1, query::MAX_POINTS)?.unwrap_or(500);
    q.finish()?;
    let range = Range::new(from, to, Duration::days(1))?;
    Ok(ApiResponse::ok(
        query::vitals(&mut *conn(&p).await?, &caller, id, range, points).await?,
    ))
}
