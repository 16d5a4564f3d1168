//! The read side: a stream's samples (raw or bucketed), a patient's latest values and downsampled
//! vitals, and an ECG window (JSON, XML or the binary waveform format). Handlers adapt
//! `hg_domain::telemetry::query`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use hg_domain::telemetry::query::{self, EcgWindow, Latest, Range, Series, Vitals};
use hg_domain::telemetry::wire::{self, SampleFormat};
use hg_http::list::QueryParams;
use hg_http::{ApiError, ApiResponse, IdPath};
use hg_platform::Platform;
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

#[utoipa::path(
    get,
    path = "/timeseries/streams/{id}",
    tag = "timeseries",
    summary = "A stream's samples over a range, raw or in buckets (min/max/avg/count)",
    params(
        ("id" = Uuid, Path),
        ("from" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "from this instant (default: an hour before `to`)"),
        ("to" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "before this instant (default: now)"),
        ("resolution" = Option<String>, Query, description = "raw (default; scalar signals, at most 20 000 samples) or a bucket width: 30s, 5m, 1h, 1d"),
    ),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<Series>))
)]
pub async fn stream(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    mut q: QueryParams,
) -> Result<ApiResponse, ApiError> {
    let from = q.timestamp("from")?;
    let to = q.timestamp("to")?;
    let bucket = resolution(&mut q)?;
    q.finish()?;
    let range = Range::new(from, to, Duration::hours(1))?;
    Ok(ApiResponse::ok(
        query::stream_series(&mut *conn(&p).await?, &caller, id, range, bucket).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/timeseries/streams/{id}/ecg",
    tag = "timeseries",
    summary = "An ECG stream's raw samples over a window of at most 10 minutes",
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
    IdPath(id): IdPath<Uuid>,
    mut q: QueryParams,
) -> Result<Response, ApiError> {
    let from = q.timestamp("from")?;
    let to = q.timestamp("to")?;
    let binary = q.one_of("format", &["json", "binary"])? == Some("binary");
    q.finish()?;
    let range = Range::new(from, to, Duration::seconds(10))?;
    let window = query::ecg_window(&mut *conn(&p).await?, &caller, id, range).await?;
    if binary {
        let blocks: Vec<(Uuid, &wire::Block)> = window.blocks.iter().map(|b| (id, b)).collect();
        let body = if blocks.is_empty() {
            Vec::new()
        } else {
            wire::encode(&blocks, SampleFormat::F32Millivolts)
        };
        return Ok(([(http::header::CONTENT_TYPE, WAVEFORM_MEDIA_TYPE)], body).into_response());
    }
    Ok(ApiResponse::ok(window).into_response())
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
