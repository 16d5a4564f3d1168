//! The response envelope of spec/03 and the one HTTP error type every handler returns.
//!
//! Success: `{"status":"success","code":200,"data":…,"meta":{…}}`.
//! Error: `{"status":"error","code":404,"error":{"id":"HG-…","message":"…","details":{…},"request_id":"…"}}`.
//!
//! Handlers build a JSON [`Value`]; the negotiation middleware ([`super::middleware`]) renders it as
//! JSON or XML for the client and stamps the request id, so no handler deals with formats.

use std::borrow::Cow;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hg_platform::problem::{IntoProblem, Problem};
use http::header::{CONTENT_TYPE, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The JSON body of a response the middleware may re-render as XML (and, for an error, stamp with
/// the request id). Every envelope carries it in its response extensions; so does `/health`, which
/// keeps the flat shape of the deployment guide. A JSON success is sent as rendered here, once.
#[derive(Clone, Debug)]
pub struct Negotiable(pub Bytes);

fn json_bytes_response(status: StatusCode, body: Vec<u8>) -> Response {
    let body = Bytes::from(body);
    let mut resp = Response::new(Body::from(body.clone()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp.extensions_mut().insert(Negotiable(body));
    resp
}

fn json_response(status: StatusCode, doc: Value) -> Response {
    json_bytes_response(
        status,
        serde_json::to_vec(&doc).unwrap_or_else(|_| b"{}".to_vec()),
    )
}

/// A negotiable document that is not an envelope (the `/health` body).
pub fn plain_document(status: StatusCode, doc: Value) -> Response {
    json_response(status, doc)
}

/// A successful answer in the envelope.
#[derive(Debug)]
pub struct ApiResponse {
    status: StatusCode,
    /// `data`, already rendered: a list of 50 records is serialized once, straight to JSON.
    data: Box<RawValue>,
    meta: Map<String, Value>,
    location: Option<String>,
}

impl ApiResponse {
    /// 200 with `data`.
    pub fn ok<T: Serialize>(data: T) -> Self {
        Self::with_status(StatusCode::OK, data)
    }

    /// 201 with `data` and a `Location` header.
    pub fn created<T: Serialize>(location: impl Into<String>, data: T) -> Self {
        let mut r = Self::with_status(StatusCode::CREATED, data);
        r.location = Some(location.into());
        r
    }

    /// Any 2xx status with `data`.
    pub fn with_status<T: Serialize>(status: StatusCode, data: T) -> Self {
        let data = serde_json::value::to_raw_value(&data).unwrap_or_else(|e| {
            tracing::error!(error = %e, "response data did not serialize");
            RawValue::NULL.to_owned()
        });
        Self {
            status,
            data,
            meta: Map::new(),
            location: None,
        }
    }

    /// Adds a `meta` entry (pagination: `total`, `limit`, `next_cursor`).
    pub fn meta(mut self, key: &str, value: impl Serialize) -> Self {
        self.meta.insert(
            key.to_owned(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }
}

impl IntoResponse for ApiResponse {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Success<'a> {
            status: &'static str,
            code: u16,
            data: &'a RawValue,
            meta: &'a Map<String, Value>,
        }
        let doc = Success {
            status: "success",
            code: self.status.as_u16(),
            data: &self.data,
            meta: &self.meta,
        };
        let body = serde_json::to_vec(&doc).unwrap_or_else(|_| b"{}".to_vec());
        let mut resp = json_bytes_response(self.status, body);
        if let Some(loc) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            resp.headers_mut().insert(LOCATION, loc);
        }
        resp
    }
}

/// An error answer in the envelope: a [`Problem`] with its HTTP rendering. Any failure that
/// implements [`IntoProblem`] (domain errors, database errors) converts into it with `?`.
///
/// 5xx errors carry a generic message; the cause is logged once where the error is created.
#[derive(Debug, Clone)]
pub struct ApiError(pub Problem);

impl<E: IntoProblem> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into_problem())
    }
}

macro_rules! constructors {
    ($($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*);)*) => {
        $($(#[$doc])* pub fn $name($($arg: $ty),*) -> Self { Self(Problem::$name($($arg),*)) })*
    };
}

impl ApiError {
    /// An error with any status, id and message.
    pub fn new(
        status: StatusCode,
        id: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self(Problem::new(status.as_u16(), id, message))
    }

    constructors! {
        /// 400 `HG-BAD-PAYLOAD`: the body is empty or not parseable.
        bad_payload(message: impl Into<String>);
        /// 400 `HG-BODY-TIMEOUT`: the body did not arrive within `HTTP_BODY_TIMEOUT_SECS`.
        body_timeout(limit: std::time::Duration);
        /// 400 `HG-VALIDATION` naming the offending fields.
        validation(fields: impl IntoIterator<Item = (String, String)>);
        /// 400 `HG-VALIDATION` for one field.
        invalid_field(field: impl Into<String>, problem: impl Into<String>);
        /// 401 `HG-UNAUTHENTICATED`, with `WWW-Authenticate`.
        unauthenticated(message: impl Into<String>);
        /// 403 `HG-FORBIDDEN`.
        forbidden(message: impl Into<String>);
        /// 404 with a resource-specific id.
        not_found(id: impl Into<Cow<'static, str>>, message: impl Into<String>);
        /// 404 `HG-ROUTE-NOT-FOUND`.
        route_not_found();
        /// 405 `HG-METHOD-NOT-ALLOWED`.
        method_not_allowed();
        /// 406 `HG-NOT-ACCEPTABLE`.
        not_acceptable();
        /// 409 with a specific id.
        conflict(id: impl Into<Cow<'static, str>>, message: impl Into<String>);
        /// 413 `HG-PAYLOAD-TOO-LARGE`.
        payload_too_large();
        /// 415 `HG-UNSUPPORTED-MEDIA-TYPE`.
        unsupported_media_type();
        /// 422 with a specific id.
        unprocessable(id: impl Into<Cow<'static, str>>, message: impl Into<String>);
        /// 429 `HG-RATE-LIMITED` with `Retry-After`.
        rate_limited(retry_after_secs: u64);
        /// 503 `HG-UNAVAILABLE`.
        unavailable();
        /// 500 `HG-INTERNAL`.
        internal();
    }

    /// Sets the `WWW-Authenticate` challenge of a 401 (default: `Bearer realm="heartguard"`).
    pub fn challenge(self, challenge: &'static str) -> Self {
        Self(self.0.challenge(challenge))
    }

    /// Adds a `details` entry.
    pub fn detail(self, key: &str, value: impl Serialize) -> Self {
        Self(self.0.detail(key, value))
    }

    /// Sets `Retry-After` (seconds) on 429 and 503 answers.
    pub fn retry_after(self, seconds: u64) -> Self {
        Self(self.0.retry_after(seconds))
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The stable id, e.g. `HG-BAD-PAYLOAD`.
    pub fn id(&self) -> &str {
        self.0.id()
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        self.0.message()
    }

    /// The envelope document.
    pub fn to_document(&self) -> Value {
        self.0.to_document()
    }

    /// The answer to a request body that could not be read: 400 `HG-BODY-TIMEOUT` when it came too
    /// slowly, 413 when it was too large, else 400 with `id` (the client broke off or sent a
    /// malformed chunked body).
    pub fn unreadable_body(err: &(dyn std::error::Error + 'static), id: &'static str) -> Self {
        use super::connection::{BodyTimeout, caused_by};
        let mut next = Some(err);
        while let Some(e) = next {
            if let Some(t) = e.downcast_ref::<BodyTimeout>() {
                return Self::body_timeout(t.0);
            }
            next = e.source();
        }
        if caused_by::<http_body_util::LengthLimitError>(err) {
            return Self::payload_too_large();
        }
        Self::new(
            StatusCode::BAD_REQUEST,
            id,
            "the request body could not be read",
        )
    }

    /// The generic error for a status produced outside our handlers (limits, timeouts, panics).
    pub fn from_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => Self::route_not_found(),
            StatusCode::METHOD_NOT_ALLOWED => Self::method_not_allowed(),
            StatusCode::PAYLOAD_TOO_LARGE => Self::payload_too_large(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::unsupported_media_type(),
            StatusCode::NOT_ACCEPTABLE => Self::not_acceptable(),
            StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => {
                Self::new(status, "HG-TIMEOUT", "the request took too long")
            }
            StatusCode::SERVICE_UNAVAILABLE => Self::unavailable(),
            s if s.is_server_error() => Self::internal(),
            s => Self::new(
                s,
                "HG-REQUEST-ERROR",
                s.canonical_reason().unwrap_or("request error"),
            ),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut resp = json_response(status, self.to_document());
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static(self.0.challenge_value()),
            );
        }
        if let Some(secs) = self.0.retry_after_secs() {
            resp.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_document_has_the_spec_shape() {
        let doc = ApiError::invalid_field("name", "must not be empty").to_document();
        assert_eq!(doc["status"], "error");
        assert_eq!(doc["code"], 400);
        assert_eq!(doc["error"]["id"], "HG-VALIDATION");
        assert_eq!(
            doc["error"]["details"]["fields"]["name"],
            "must not be empty"
        );
    }

    #[test]
    fn unauthenticated_answers_carry_www_authenticate() {
        let resp = ApiError::unauthenticated("log in").into_response();
        assert!(resp.headers().contains_key(WWW_AUTHENTICATE));
    }

    #[test]
    fn server_errors_say_nothing_specific() {
        let doc = ApiError::from_status(StatusCode::BAD_GATEWAY).to_document();
        assert_eq!(doc["error"]["id"], "HG-INTERNAL");
    }
}
