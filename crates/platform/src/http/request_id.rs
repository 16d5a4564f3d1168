//! Request ids: taken from `X-Request-ID` when well-formed, otherwise generated, and carried on every
//! response, in error bodies, in logs and in events.

use std::fmt;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue};

/// The `X-Request-ID` header.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id accepted from a client.
const MAX_LEN: usize = 128;

/// The id of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(Arc<str>);

impl RequestId {
    /// A fresh id (UUIDv7: sortable by time, which helps when reading logs).
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string().into())
    }

    /// The client's id when it is 1–128 characters of `[A-Za-z0-9._:-]`; anything else (which could
    /// inject text into logs) is ignored.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let raw = headers.get(&X_REQUEST_ID)?.to_str().ok()?;
        let ok = !raw.is_empty()
            && raw.len() <= MAX_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        ok.then(|| Self(raw.into()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as a header value.
    pub fn header_value(&self) -> HeaderValue {
        HeaderValue::from_str(&self.0).expect("request ids are visible ASCII")
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(&X_REQUEST_ID, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn well_formed_ids_are_kept() {
        assert_eq!(
            RequestId::from_headers(&with("abc-123_x.y:z"))
                .unwrap()
                .as_str(),
            "abc-123_x.y:z"
        );
    }

    #[test]
    fn malformed_ids_are_ignored() {
        assert!(RequestId::from_headers(&with("has space")).is_none());
        assert!(RequestId::from_headers(&with(&"a".repeat(129))).is_none());
        assert!(RequestId::from_headers(&HeaderMap::new()).is_none());
    }
}
