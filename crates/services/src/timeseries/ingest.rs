//! `POST /timeseries/ingest`: the sender (a device credential, or a bearer token), the body (JSON
//! or XML batch, or the binary waveform format), a bound on batches stored at once, and the domain's
//! `telemetry::ingest`.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use hg_domain::device;
use hg_domain::telemetry::ingest::{self as domain, Accepted, Idempotency, Sender};
use hg_domain::telemetry::wire;
use hg_http::extract::{parse_json, parse_xml};
use hg_http::{ApiError, ApiResponse};
use hg_platform::Platform;
use hg_platform::problem::Problem;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::request::Parts;
use http::{HeaderMap, StatusCode};
use tokio::sync::Semaphore;

use crate::common::{Caller, conn};

/// The media type of the binary waveform format (docs/api.md).
pub const WAVEFORM_MEDIA_TYPE: &str = wire::MEDIA_TYPE;

/// The component's ingest state.
pub struct Ingest {
    /// Batches being stored; when none is free the answer is 503 with `Retry-After`.
    permits: Semaphore,
    retention_days: i32,
}

impl Ingest {
    pub fn new(platform: &Platform) -> Self {
        Self {
            permits: Semaphore::new(platform.settings.telemetry.ingest_concurrency),
            retention_days: platform.settings.telemetry.retention_days,
        }
    }
}

/// Who sends: `Authorization: Device <device id>.<secret>` (a device credential) or a bearer token.
pub enum IngestSender {
    Device { id: uuid::Uuid, org_id: uuid::Uuid },
    Caller(Box<Caller>),
}

impl FromRequestParts<Platform> for IngestSender {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, platform: &Platform) -> Result<Self, ApiError> {
        let device = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("device"))
            .map(|(_, credential)| credential.trim().to_owned());
        match device {
            Some(credential) => {
                let found = device::authenticate(&mut *conn(platform).await?, &credential).await?;
                let (id, org_id) = found.ok_or_else(|| {
                    ApiError(Problem::unauthenticated(
                        "the device credential is not valid (or the device is inactive)",
                    ))
                })?;
                Ok(IngestSender::Device { id, org_id })
            }
            None => Ok(IngestSender::Caller(Box::new(
                Caller::from_request_parts(parts, platform).await?,
            ))),
        }
    }
}

/// `POST /timeseries/ingest`.
#[utoipa::path(
    post,
    path = "/timeseries/ingest",
    tag = "timeseries",
    summary = "Send a batch of samples (JSON or XML), or waveform blocks in the binary format",
    description = "Authenticated by a device credential (`Authorization: Device <credential>`) or a bearer token. \
The whole batch is checked first: one bad item answers 400 naming it and stores nothing. A 201 means every \
sample is committed. A retry with the same `Idempotency-Key` answers the first answer (200, `replayed`). \
Binary waveform batches: `Content-Type: application/vnd.heartguard.waveform` (docs/api.md).",
    request_body = wire::Batch,
    params(("Idempotency-Key" = Option<String>, Header, description = "makes a retried batch store nothing twice")),
    responses(
        (status = 201, description = "Stored", body = hg_http::openapi::Envelope<Accepted>),
        (status = 200, description = "Stored before, under the same Idempotency-Key", body = hg_http::openapi::Envelope<Accepted>),
        (status = 404, description = "A stream of the batch is unknown or another organization's (HG-STREAM-NOT-FOUND)", body = hg_http::openapi::ErrorDocument),
        (status = 503, description = "Too many batches at once: retry after `Retry-After` seconds (HG-INGEST-BUSY)", body = hg_http::openapi::ErrorDocument),
    ),
)]
pub async fn ingest(
    State(p): State<Platform>,
    Extension(state): Extension<Arc<Ingest>>,
    sender: IngestSender,
    headers: HeaderMap,
    body: Bytes,
) -> Result<ApiResponse, ApiError> {
    let _permit = state.permits.try_acquire().map_err(|_| {
        ApiError(
            Problem::new(
                503u16,
                "HG-INGEST-BUSY",
                "too many telemetry batches at once; retry shortly",
            )
            .retry_after(1),
        )
    })?;
    let batch = parse(&headers, &body)?;
    let key = headers
        .get("idempotency-key")
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    let idempotency = key.map(|key| Idempotency { key, body: &body });
    let sender = match &sender {
        IngestSender::Device { id, org_id } => Sender::Device {
            id: *id,
            org_id: *org_id,
        },
        IngestSender::Caller(c) => Sender::Caller(c),
    };
    let accepted = domain::ingest(&p.db, sender, &batch, idempotency, state.retention_days).await?;
    let status = if accepted.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(ApiResponse::with_status(status, accepted))
}

/// The batch in the body, by its `Content-Type`.
fn parse(headers: &HeaderMap, body: &[u8]) -> Result<wire::Batch, ApiError> {
    let mime: Option<mime::Mime> = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let Some(mime) = mime else {
        return Err(ApiError(Problem::unsupported_media_type()));
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_payload("the request body is empty"));
    }
    match mime.essence_str() {
        "application/json" => parse_json(body),
        "application/xml" | "text/xml" => parse_xml(body),
        WAVEFORM_MEDIA_TYPE => {
            wire::decode(body).map_err(|e| ApiError(Problem::invalid_field("body", e.to_string())))
        }
        _ => Err(ApiError(Problem::unsupported_media_type())),
    }
}
