//! Request ids: taken from `X-Request-ID` when well-formed, otherwise generated, and carried on every
//! response, in error bodies, in logs and in events.

use std::fmt;

use http::{HeaderMap, HeaderName, HeaderValue};

/// The `X-Request-ID` header.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id accepted from a client.
const MAX_LEN: usize = 128;

/// The id of one request, kept as the header value it travels in (cloning it copies no text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// A fresh id (UUIDv7: sortable by time, which helps when reading logs).
    pub fn generate() -> Self {
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let text = uuid::Uuid::now_v7().hyphenated().encode_lower(&mut text);
        Self(HeaderValue::from_str(text).expect("a UUID is visible ASCII"))
    }

    /// The client's id when it is 1–128 characters of `[A-Za-z0-9._:-]`; anything else (which could
    /// inject text into logs) is ignored.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let raw = headers.get(&X_REQUEST_ID)?.as_bytes();
        let ok = !raw.is_empty()
            && raw.len() <= MAX_LEN
            && raw
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if !ok {
            return None;
        }
        // A copy: the header's bytes share the connection's read buffer, which an id kept for
        // longer than the request must not hold on to.
        HeaderValue::from_bytes(raw).ok().map(Self)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ever built from visible ASCII (checked above, or a UUID).
        self.0.to_str().unwrap_or_default()
    }

    /// The id as a header value.
    pub fn header_value(&self) -> HeaderValue {
        self.0.clone()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
    fn generated_ids_are_uuids_and_differ() {
        let (a, b) = (RequestId::generate(), RequestId::generate());
        assert_ne!(a, b);
        let parsed = uuid::Uuid::parse_str(a.as_str()).unwrap();
        assert_eq!(parsed.get_version_num(), 7);
        assert_eq!(a.header_value(), a.as_str());
        assert_eq!(a.to_string(), a.as_str());
    }

    #[test]
    fn malformed_ids_are_ignored() {
        assert!(RequestId::from_headers(&with("has space")).is_none());
        assert!(RequestId::from_headers(&with(&"a".repeat(129))).is_none());
        assert!(RequestId::from_headers(&HeaderMap::new()).is_none());
    }
}
