//! The error every layer's failures become at the edge (spec/03 "Envelope"): a status, a stable
//! `HG-…` id, a message and details. Domain errors implement [`IntoProblem`]; the HTTP layer
//! (`hg-http`) renders a [`Problem`] as the error envelope, and the admin panel as a page. Nothing here
//! knows HTTP beyond status numbers.

pub mod registry;

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Map, Value, json};

/// An error answer as the envelope shows it, with a stable `HG-…` id: what every layer's error
/// becomes at the edge, without knowing HTTP (`hg-http` renders it).
///
/// 5xx errors carry a generic message; the cause is logged once where the error is created.
#[derive(Debug, Clone)]
pub struct Problem {
    status: u16,
    id: Cow<'static, str>,
    message: String,
    details: Option<Box<Map<String, Value>>>,
    retry_after: Option<u64>,
    challenge: &'static str,
}

impl Problem {
    /// An error with any status, id and message.
    pub fn new(status: u16, id: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            status,
            id: id.into(),
            message: message.into(),
            details: None,
            retry_after: None,
            challenge: "Bearer realm=\"heartguard\"",
        }
    }

    /// Sets the `WWW-Authenticate` challenge of a 401 (default: `Bearer realm="heartguard"`).
    pub fn challenge(mut self, challenge: &'static str) -> Self {
        self.challenge = challenge;
        self
    }

    /// Adds a `details` entry.
    pub fn detail(mut self, key: &str, value: impl Serialize) -> Self {
        self.details.get_or_insert_with(Default::default).insert(
            key.to_owned(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }

    /// Sets `Retry-After` (seconds) on 429 and 503 answers.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The `WWW-Authenticate` challenge of a 401.
    pub fn challenge_value(&self) -> &'static str {
        self.challenge
    }

    /// `Retry-After` (seconds), when set.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after
    }

    /// The stable id, e.g. `HG-BAD-PAYLOAD`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// 400 `HG-BAD-PAYLOAD`: the body is empty or not parseable.
    pub fn bad_payload(message: impl Into<String>) -> Self {
        Self::new(400u16, "HG-BAD-PAYLOAD", message)
    }

    /// 400 `HG-BODY-TIMEOUT`: the body did not arrive within `HTTP_BODY_TIMEOUT_SECS`.
    pub fn body_timeout(limit: std::time::Duration) -> Self {
        Self::new(
            400u16,
            "HG-BODY-TIMEOUT",
            format!(
                "the request body did not arrive within {} s",
                limit.as_secs()
            ),
        )
    }

    /// 400 `HG-VALIDATION` naming the offending fields (`details.fields`: field → problem).
    pub fn validation(fields: impl IntoIterator<Item = (String, String)>) -> Self {
        let fields: Map<String, Value> = fields
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        let names: Vec<&str> = fields.keys().map(String::as_str).collect();
        let message = format!("invalid value for: {}", names.join(", "));
        Self::new(400u16, "HG-VALIDATION", message).detail("fields", fields)
    }

    /// 400 `HG-VALIDATION` for one field.
    pub fn invalid_field(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::validation([(field.into(), problem.into())])
    }

    /// 401 `HG-UNAUTHENTICATED`, with `WWW-Authenticate`.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(401u16, "HG-UNAUTHENTICATED", message)
    }

    /// 403 `HG-FORBIDDEN`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403u16, "HG-FORBIDDEN", message)
    }

    /// 404 with a resource-specific id (`HG-PATIENT-NOT-FOUND`), also used for other tenants' rows.
    pub fn not_found(id: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(404u16, id, message)
    }

    /// 404 `HG-ROUTE-NOT-FOUND` for paths no route matches.
    pub fn route_not_found() -> Self {
        Self::new(404u16, "HG-ROUTE-NOT-FOUND", "no such resource")
    }

    /// 405 `HG-METHOD-NOT-ALLOWED`.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405u16,
            "HG-METHOD-NOT-ALLOWED",
            "this method is not allowed on this resource",
        )
    }

    /// 406 `HG-NOT-ACCEPTABLE`.
    pub fn not_acceptable() -> Self {
        Self::new(
            406u16,
            "HG-NOT-ACCEPTABLE",
            "only application/json and application/xml (or text/xml) responses are available",
        )
    }

    /// 409 `HG-CONFLICT` (or a more specific id).
    pub fn conflict(id: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(409u16, id, message)
    }

    /// 413 `HG-PAYLOAD-TOO-LARGE`.
    pub fn payload_too_large() -> Self {
        Self::new(
            413u16,
            "HG-PAYLOAD-TOO-LARGE",
            "the request body is larger than this endpoint accepts",
        )
    }

    /// 415 `HG-UNSUPPORTED-MEDIA-TYPE`.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            415u16,
            "HG-UNSUPPORTED-MEDIA-TYPE",
            "send the body as application/json or application/xml",
        )
    }

    /// 422 with a specific id, e.g. `HG-ALERT-TRANSITION`.
    pub fn unprocessable(id: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(422u16, id, message)
    }

    /// 429 `HG-RATE-LIMITED` with `Retry-After`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::new(429u16, "HG-RATE-LIMITED", "too many requests; retry later")
            .retry_after(retry_after_secs)
    }

    /// 503 `HG-UNAVAILABLE`: a dependency is down. The message names no internals.
    pub fn unavailable() -> Self {
        Self::new(
            503u16,
            "HG-UNAVAILABLE",
            "the service is temporarily unavailable; retry later",
        )
        .retry_after(5)
    }

    /// 500 `HG-INTERNAL`. Say nothing about the cause; log it where it happens.
    pub fn internal() -> Self {
        Self::new(500u16, "HG-INTERNAL", "an unexpected error occurred")
    }

    /// The envelope document.
    pub fn to_document(&self) -> Value {
        let mut error = Map::new();
        error.insert("id".into(), Value::String(self.id.to_string()));
        error.insert("message".into(), Value::String(self.message.clone()));
        if let Some(details) = &self.details {
            error.insert("details".into(), Value::Object((**details).clone()));
        }
        json!({"status": "error", "code": self.status, "error": error})
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.id, self.message)
    }
}

/// A failure that has an answer for the client.
pub trait IntoProblem {
    /// The answer (log the cause here when the answer hides it).
    fn into_problem(self) -> Problem;
}

impl IntoProblem for Problem {
    fn into_problem(self) -> Problem {
        self
    }
}

impl IntoProblem for crate::db::DbError {
    fn into_problem(self) -> Problem {
        use crate::db::DbError;
        match self {
            DbError::NotFound => Problem::not_found("HG-NOT-FOUND", "no such resource"),
            DbError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                Problem::unavailable()
            }
            DbError::UniqueViolation { constraint } => {
                tracing::info!(constraint = %constraint, "unique violation without a mapping");
                Problem::conflict("HG-CONFLICT", "a record with the same value already exists")
            }
            DbError::ForeignKeyViolation { constraint } => {
                tracing::info!(constraint = %constraint, "foreign key violation without a mapping");
                Problem::unprocessable(
                    "HG-REFERENCE",
                    "a referenced record does not exist or is in use",
                )
            }
            DbError::InvalidInput(cause) => {
                tracing::info!(cause = %cause, "the database refused a value");
                Problem::new(
                    400u16,
                    "HG-VALIDATION",
                    "a value in the request is not valid",
                )
            }
            DbError::CheckViolation { constraint } => {
                tracing::info!(constraint = %constraint, "check violation without a mapping");
                Problem::new(400u16, "HG-VALIDATION", "a value is out of range")
            }
            DbError::Other(cause) => {
                tracing::error!(error = ?cause, "database error");
                Problem::internal()
            }
        }
    }
}
