//! Content negotiation: which representation the client accepts (JSON or XML), and the XML form of a
//! JSON document (spec/03: root `<response>`, list items as `<item>`, booleans `true|false`, nulls as
//! empty elements).

use http::HeaderMap;
use http::header::ACCEPT;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use serde_json::Value;

/// The representation chosen for a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Json,
    Xml,
}

impl Format {
    /// The `Content-Type` of this representation.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Xml => "application/xml; charset=utf-8",
        }
    }
}

/// The representation the envelope layer negotiated, for a handler that writes its own body (a
/// streamed answer); without that layer, negotiated here (JSON when nothing fits).
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Format {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(match parts.extensions.get::<Format>() {
            Some(f) => *f,
            None => negotiate(&parts.headers).unwrap_or_default(),
        })
    }
}

/// The client accepts neither JSON nor XML.
#[derive(Debug, PartialEq, Eq)]
pub struct NotAcceptable;

/// Picks the representation from `Accept`, honouring q-values; JSON wins ties and wildcards.
pub fn negotiate(headers: &HeaderMap) -> Result<Format, NotAcceptable> {
    let mut ranges: Vec<(f32, usize, Option<Format>)> = Vec::new();
    let mut any_header = false;
    for value in headers.get_all(ACCEPT) {
        let Ok(text) = value.to_str() else {
            continue;
        };
        for (pos, range) in text.split(',').enumerate() {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            if media.is_empty() {
                continue;
            }
            any_header = true;
            let mut q = 1.0f32;
            for param in parts {
                if let Some(v) = param
                    .strip_prefix("q=")
                    .or_else(|| param.strip_prefix("Q="))
                {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
            if q <= 0.0 {
                continue;
            }
            let format = match media.as_str() {
                "*/*" | "application/*" | "application/json" => Some(Format::Json),
                // A live feed's client (EventSource): the events are its own; errors come as JSON.
                "text/event-stream" => Some(Format::Json),
                m if m.starts_with("application/") && m.ends_with("+json") => Some(Format::Json),
                "application/xml" | "text/xml" | "text/*" => Some(Format::Xml),
                m if m.starts_with("application/") && m.ends_with("+xml") => Some(Format::Xml),
                _ => None,
            };
            ranges.push((q, pos, format));
        }
    }
    if !any_header {
        return Ok(Format::Json);
    }
    ranges
        .iter()
        .filter_map(|(q, pos, f)| f.map(|f| (*q, *pos, f)))
        .max_by(|a, b| {
            a.0.partial_cmp(&b.0)
                .unwrap_or(std::cmp::Ordering::Equal)
                // Earlier ranges win ties; JSON wins over XML at the same position.
                .then(b.1.cmp(&a.1))
                .then((a.2 == Format::Json).cmp(&(b.2 == Format::Json)))
        })
        .map(|(_, _, f)| f)
        .ok_or(NotAcceptable)
}

fn is_xml_name(name: &str) -> bool {
    // A key that is an id (an organization's id keying its permissions) is data, not a name:
    // always an `<entry key="…">`, whether or not its first character happens to be a letter.
    if uuid::Uuid::parse_str(name).is_ok() {
        return false;
    }
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    !name.to_ascii_lowercase().starts_with("xml")
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Renders a JSON document as the XML envelope.
pub fn to_xml(doc: &Value) -> Vec<u8> {
    let mut w = Writer::new(Vec::with_capacity(256));
    // Writing into a Vec cannot fail.
    let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    write_element(&mut w, "response", None, doc);
    w.into_inner()
}

/// The XML of one member `key` of an object in the envelope (`<key>…</key>`, or
/// `<entry key="…">…</entry>` when the key is no element name): for answers written piecewise.
pub fn xml_member(key: &str, value: &Value) -> Vec<u8> {
    let mut w = Writer::new(Vec::with_capacity(64));
    write_member(&mut w, key, value);
    w.into_inner()
}

fn write_member(w: &mut Writer<Vec<u8>>, key: &str, value: &Value) {
    if is_xml_name(key) {
        write_element(w, key, None, value);
    } else {
        write_element(w, "entry", Some(key), value);
    }
}

fn write_element(w: &mut Writer<Vec<u8>>, name: &str, key_attr: Option<&str>, value: &Value) {
    let mut start = BytesStart::new(name);
    if let Some(k) = key_attr {
        start.push_attribute(("key", k));
    }
    match value {
        Value::Null => {
            let _ = w.write_event(Event::Empty(start));
            return;
        }
        _ => {
            let _ = w.write_event(Event::Start(start));
        }
    }
    match value {
        Value::Null => {}
        Value::Bool(b) => {
            let _ = w.write_event(Event::Text(BytesText::new(if *b {
                "true"
            } else {
                "false"
            })));
        }
        Value::Number(n) => {
            let _ = w.write_event(Event::Text(BytesText::new(&n.to_string())));
        }
        Value::String(s) => {
            let _ = w.write_event(Event::Text(BytesText::new(s)));
        }
        Value::Array(items) => {
            for item in items {
                write_element(w, "item", None, item);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                write_member(w, k, v);
            }
        }
    }
    let _ = w.write_event(Event::End(BytesEnd::new(name)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use serde_json::json;

    fn accept(v: &str) -> Result<Format, NotAcceptable> {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT, HeaderValue::from_str(v).unwrap());
        negotiate(&h)
    }

    #[test]
    fn json_is_the_default() {
        assert_eq!(negotiate(&HeaderMap::new()), Ok(Format::Json));
        assert_eq!(accept("*/*"), Ok(Format::Json));
        assert_eq!(accept("application/json"), Ok(Format::Json));
    }

    #[test]
    fn xml_is_chosen_when_asked_for() {
        assert_eq!(accept("application/xml"), Ok(Format::Xml));
        assert_eq!(accept("text/xml"), Ok(Format::Xml));
        assert_eq!(
            accept("application/json;q=0.5, application/xml"),
            Ok(Format::Xml)
        );
        assert_eq!(accept("text/html, application/xml;q=0.9"), Ok(Format::Xml));
    }

    #[test]
    fn unacceptable_types_are_refused() {
        assert_eq!(accept("image/png"), Err(NotAcceptable));
        assert_eq!(accept("application/json;q=0"), Err(NotAcceptable));
    }

    #[test]
    fn xml_rendering_follows_the_spec() {
        let doc = json!({"status":"success","code":200,"data":{"items":[1,2],"ok":true,"none":null,"a<b":"x&y","9lives":1}});
        let xml = String::from_utf8(to_xml(&doc)).unwrap();
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?><response>"));
        assert!(xml.contains("<items><item>1</item><item>2</item></items>"));
        assert!(xml.contains("<ok>true</ok>"));
        assert!(xml.contains("<none/>"));
        assert!(xml.contains("<entry key=\"a&lt;b\">x&amp;y</entry>"));
        assert!(xml.contains("<entry key=\"9lives\">1</entry>"));
        let keyed = to_xml(&serde_json::json!({"ab12cd34-0000-4000-8000-000000000000": 1}));
        let keyed = String::from_utf8(keyed).unwrap();
        assert!(
            keyed.contains("<entry key=\"ab12cd34-0000-4000-8000-000000000000\">1</entry>"),
            "an id is never an element name: {keyed}"
        );
        assert!(xml.ends_with("</response>"));
    }
}
