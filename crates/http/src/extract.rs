//! Extractors that turn raw requests into typed values or envelope errors: request bodies in JSON or
//! XML ([`Payload`]), path parameters whose malformed ids are 404 ([`IdPath`]) and the request id.

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::request::Parts;
use quick_xml::events::Event;
use serde::Deserialize as _;
use serde::de::DeserializeOwned;

use super::envelope::ApiError;
use super::request_id::RequestId;

/// The body format a request declared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyFormat {
    Json,
    Xml,
}

fn body_format(parts: &http::HeaderMap) -> Result<BodyFormat, ApiError> {
    let Some(ct) = parts.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return Err(ApiError::unsupported_media_type());
    };
    let mime: mime::Mime = ct.parse().map_err(|_| ApiError::unsupported_media_type())?;
    if let Some(charset) = mime.get_param(mime::CHARSET)
        && !charset.as_str().eq_ignore_ascii_case("utf-8")
    {
        return Err(ApiError::unsupported_media_type());
    }
    let sub = mime.subtype().as_str();
    let suffix = mime.suffix().map(|s| s.as_str());
    match (mime.type_().as_str(), sub, suffix) {
        ("application", "json", _) | ("application", _, Some("json")) => Ok(BodyFormat::Json),
        ("application" | "text", "xml", _) | ("application", _, Some("xml")) => Ok(BodyFormat::Xml),
        _ => Err(ApiError::unsupported_media_type()),
    }
}

/// A request body of type `T`, sent as JSON or XML.
///
/// * wrong or missing `Content-Type` → 415;
/// * empty body or a syntax error → 400 `HG-BAD-PAYLOAD`;
/// * well-formed but wrong shape (missing field, wrong type) → 400 `HG-VALIDATION` naming the field;
/// * larger than the route's limit → 413;
/// * XML with a document type declaration (DTD) or entity declarations → 400, never expanded.
#[derive(Debug, Clone)]
pub struct Payload<T>(pub T);

impl<S, T> FromRequest<S> for Payload<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let format = body_format(req.headers())?;
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large()
            } else {
                ApiError::unreadable_body(&rejection, "HG-BAD-PAYLOAD")
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_payload("the request body is empty"));
        }
        let value = match format {
            BodyFormat::Json => parse_json(&bytes)?,
            BodyFormat::Xml => parse_xml(&bytes)?,
        };
        Ok(Payload(value))
    }
}

/// An optional body: absent (no `Content-Type` and an empty body) is `None`; anything else is parsed
/// exactly like [`Payload`].
impl<S, T> axum::extract::OptionalFromRequest<S> for Payload<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        if req.headers().get(CONTENT_TYPE).is_none() {
            let bytes = Bytes::from_request(req, state)
                .await
                .map_err(|r| ApiError::unreadable_body(&r, "HG-BAD-PAYLOAD"))?;
            return if bytes.iter().all(u8::is_ascii_whitespace) {
                Ok(None)
            } else {
                Err(ApiError::unsupported_media_type())
            };
        }
        <Payload<T> as FromRequest<S>>::from_request(req, state)
            .await
            .map(Some)
    }
}

/// Turns a serde path ("." for the root) and message into a field name.
fn field_name(path: &str, message: &str) -> String {
    if path != "." && !path.is_empty() {
        return path.to_owned();
    }
    // A missing field is reported at the parent; the name sits in backticks in the message.
    message
        .split('`')
        .nth(1)
        .filter(|_| message.starts_with("missing field"))
        .unwrap_or("body")
        .to_owned()
}

/// Parses a JSON body into `T`, separating syntax errors from shape errors: a body that is not
/// well-formed JSON is 400 `HG-BAD-PAYLOAD` wherever the first problem lies, and only a well-formed
/// one is checked against `T` (400 `HG-VALIDATION` naming the field). Fields `T` does not know are
/// refused, not ignored, on every route alike.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde fills a struct from an array by position (`[null, "x"]`); a body is an object.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::bad_payload("the body must be a JSON object"));
    }
    // Syntax first, over the whole document: a shape error early in a malformed body must not
    // hide that it is malformed.
    let mut check = serde_json::Deserializer::from_slice(bytes);
    if let Err(e) = serde::de::IgnoredAny::deserialize(&mut check).and_then(|_| check.end()) {
        return Err(ApiError::bad_payload(format!(
            "malformed JSON at line {} column {}",
            e.line(),
            e.column()
        )));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut unknown = Vec::new();
    let value: T = serde_path_to_error::deserialize(serde_ignored::Deserializer::new(
        &mut de,
        &mut |path: serde_ignored::Path<'_>| unknown.push(path.to_string()),
    ))
    .map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let msg = inner.to_string();
        let msg = msg.split(" at line").next().unwrap_or(&msg).to_owned();
        ApiError::invalid_field(field_name(&path, &msg), msg)
    })?;
    refuse_unknown(unknown)?;
    Ok(value)
}

/// 400 `HG-VALIDATION` naming every field of the body that the route does not take.
fn refuse_unknown(unknown: Vec<String>) -> Result<(), ApiError> {
    if unknown.is_empty() {
        return Ok(());
    }
    Err(ApiError::validation(
        unknown
            .into_iter()
            .map(|f| (f, "is not a field of this request".to_owned())),
    ))
}

/// Refuses DTDs (and with them entity declarations), then parses an XML body into `T`.
pub fn parse_xml<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ApiError::bad_payload("the XML body is not valid UTF-8"))?;
    let mut reader = quick_xml::Reader::from_str(text);
    loop {
        match reader.read_event() {
            Ok(Event::DocType(_)) => {
                return Err(ApiError::bad_payload(
                    "XML document type declarations (DTD) are not accepted",
                ));
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => {
                return Err(ApiError::bad_payload(format!(
                    "malformed XML at byte {}: {e}",
                    reader.error_position()
                )));
            }
        }
    }
    let mut de = quick_xml::de::Deserializer::from_str(text);
    let mut unknown = Vec::new();
    let value = serde_path_to_error::deserialize(serde_ignored::Deserializer::new(
        &mut de,
        &mut |path: serde_ignored::Path<'_>| {
            let path = path.to_string();
            // Attributes (`xmlns`, say) carry no fields of ours.
            if !path
                .rsplit('.')
                .next()
                .is_some_and(|last| last.starts_with('@'))
            {
                unknown.push(path);
            }
        },
    ))
    .map_err(|err| {
        let path = err.path().to_string();
        match err.into_inner() {
            quick_xml::DeError::InvalidXml(e) => {
                ApiError::bad_payload(format!("malformed XML: {e}"))
            }
            quick_xml::DeError::UnexpectedEof => {
                ApiError::bad_payload("malformed XML: the document ends early")
            }
            other => {
                let msg = other.to_string();
                ApiError::invalid_field(field_name(&path, &msg), msg)
            }
        }
    })?;
    refuse_unknown(unknown)?;
    Ok(value)
}

/// Path parameters whose parse failure (a malformed UUID, say) is 404, never 400 or 500:
/// an id that cannot exist names no resource.
#[derive(Debug, Clone, Copy)]
pub struct IdPath<T>(pub T);

impl<S, T> FromRequestParts<S> for IdPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| IdPath(v))
            .map_err(|_| ApiError::not_found("HG-NOT-FOUND", "no such resource"))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(RequestId::generate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Body {
        name: String,
        count: u32,
        #[serde(default)]
        tags: Option<Vec<String>>,
    }

    #[test]
    fn json_syntax_errors_are_bad_payload() {
        let err = parse_json::<Body>(br#"{"name": "x", "#).unwrap_err();
        assert_eq!(err.id(), "HG-BAD-PAYLOAD");
    }

    #[test]
    fn json_shape_errors_name_the_field() {
        let err = parse_json::<Body>(br#"{"name": "x", "count": "many"}"#).unwrap_err();
        assert_eq!(err.id(), "HG-VALIDATION");
        assert!(err.to_document()["error"]["details"]["fields"]["count"].is_string());
        let err = parse_json::<Body>(br#"{"name": "x"}"#).unwrap_err();
        assert!(err.to_document()["error"]["details"]["fields"]["count"].is_string());
    }

    #[test]
    fn a_malformed_body_is_bad_payload_even_after_a_shape_error() {
        // The first problem serde meets is the type of `count`; the body is malformed anyway.
        for body in [
            &br#"{"count": "many", "name": "x""#[..],
            br#"{"count": "many", "name": }"#,
            br#"{"count": "many", "name": "x",}"#,
            br#"{"name": "x", "count": 1, "name": "y" "#,
        ] {
            let err = parse_json::<Body>(body).unwrap_err();
            assert_eq!(
                err.id(),
                "HG-BAD-PAYLOAD",
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn unknown_fields_are_refused_naming_them() {
        let err =
            parse_json::<Body>(br#"{"name": "x", "count": 1, "emial": "a@b.c"}"#).unwrap_err();
        assert_eq!(err.id(), "HG-VALIDATION");
        assert!(err.to_document()["error"]["details"]["fields"]["emial"].is_string());
        let err = parse_xml::<Body>(
            b"<request><name>x</name><count>1</count><colour>red</colour></request>",
        )
        .unwrap_err();
        assert!(
            err.to_document()["error"]["details"]["fields"]["colour"].is_string(),
            "{:?}",
            err.to_document()
        );
        assert!(
            parse_xml::<Body>(
                br#"<request xmlns="urn:x"><name>x</name><count>1</count></request>"#
            )
            .is_ok()
        );
    }

    #[test]
    fn an_array_is_not_a_body_even_when_serde_would_fill_the_struct_from_it() {
        let err = parse_json::<Body>(br#" ["x", 1, null]"#).unwrap_err();
        assert_eq!(err.id(), "HG-BAD-PAYLOAD");
    }

    #[test]
    fn trailing_garbage_is_refused() {
        let err = parse_json::<Body>(br#"{"name":"x","count":1} extra"#).unwrap_err();
        assert_eq!(err.id(), "HG-BAD-PAYLOAD");
    }

    #[test]
    fn xml_bodies_parse_into_the_same_types() {
        let body: Body = parse_xml(b"<request><name>x</name><count>3</count></request>").unwrap();
        assert_eq!(
            body,
            Body {
                name: "x".into(),
                count: 3,
                tags: None
            }
        );
    }

    #[test]
    fn xml_with_a_dtd_is_refused() {
        let billion_laughs = br#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>
<request><name>&lol2;</name><count>1</count></request>"#;
        let err = parse_xml::<Body>(billion_laughs).unwrap_err();
        assert_eq!(err.id(), "HG-BAD-PAYLOAD");
        assert!(err.message().contains("DTD"));
    }

    #[test]
    fn xml_undeclared_entities_are_refused() {
        let err = parse_xml::<Body>(b"<r><name>&xxe;</name><count>1</count></r>").unwrap_err();
        assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn xml_shape_errors_name_the_field() {
        let err = parse_xml::<Body>(b"<r><name>x</name><count>lots</count></r>").unwrap_err();
        assert_eq!(err.id(), "HG-VALIDATION");
    }

    #[test]
    fn content_types_map_to_formats() {
        let mut h = http::HeaderMap::new();
        assert!(body_format(&h).is_err());
        h.insert(
            CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        assert_eq!(body_format(&h).unwrap(), BodyFormat::Json);
        h.insert(CONTENT_TYPE, "text/xml".parse().unwrap());
        assert_eq!(body_format(&h).unwrap(), BodyFormat::Xml);
        h.insert(CONTENT_TYPE, "application/vnd.api+json".parse().unwrap());
        assert_eq!(body_format(&h).unwrap(), BodyFormat::Json);
        h.insert(CONTENT_TYPE, "text/plain".parse().unwrap());
        assert_eq!(body_format(&h).unwrap_err().status().as_u16(), 415);
        h.insert(
            CONTENT_TYPE,
            "application/json; charset=latin1".parse().unwrap(),
        );
        assert_eq!(body_format(&h).unwrap_err().status().as_u16(), 415);
    }
}
