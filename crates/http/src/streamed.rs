//! Answers too long to build whole (a day of raw heart rate, an hour of ECG): a success envelope
//! whose `data` ends in a list written out as its items arrive, in JSON or XML, byte for byte what
//! [`ApiResponse`](crate::ApiResponse) and the negotiation layer would have sent for the same
//! document. At most one chunk of rendered items is held at a time, so memory stays bounded however
//! long the list; the client's reading paces the producer.
//!
//! The status (200) is sent before the items, so a failure while streaming cannot become an error
//! envelope: the body is cut off (the connection is aborted, the chunked encoding never ends) and
//! the failure is logged. Callers check what can fail up front — scope, validation, the query's
//! first row — before they start.

use std::fmt::Display;
use std::pin::Pin;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::header::CONTENT_TYPE;
use http::{HeaderValue, StatusCode};
use serde::Serialize;
use serde_json::Value;

use crate::negotiate::{Format, xml_member};

/// Rendered items are sent in chunks of about this many bytes.
const CHUNK: usize = 32 * 1024;

/// A 200 envelope whose `data` is `head`'s members followed by `field`: the list of `items`.
/// `head` must serialize to an object; an item that fails ends the body early (see the module
/// documentation).
pub fn list<H, T, E, S>(format: Format, head: &H, field: &'static str, items: S) -> Response
where
    H: Serialize,
    T: Serialize + Send + 'static,
    E: Display + Send + 'static,
    S: Stream<Item = Result<T, E>> + Send + 'static,
{
    let members = match serde_json::to_value(head) {
        Ok(Value::Object(map)) => map,
        other => {
            tracing::error!(?other, "a streamed answer's head is not an object");
            Default::default()
        }
    };
    let mut prefix = Vec::with_capacity(256);
    match format {
        Format::Json => {
            prefix.extend_from_slice(br#"{"status":"success","code":200,"data":{"#);
            for (k, v) in &members {
                // Writing JSON into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut prefix, k);
                prefix.push(b':');
                let _ = serde_json::to_writer(&mut prefix, v);
                prefix.push(b',');
            }
            let _ = serde_json::to_writer(&mut prefix, field);
            prefix.extend_from_slice(b":[");
        }
        Format::Xml => {
            prefix.extend_from_slice(
                br#"<?xml version="1.0" encoding="UTF-8"?><response><status>success</status><code>200</code><data>"#,
            );
            for (k, v) in &members {
                prefix.extend_from_slice(&xml_member(k, v));
            }
            prefix.extend_from_slice(format!("<{field}>").as_bytes());
        }
    }
    let suffix: Vec<u8> = match format {
        Format::Json => br#"]},"meta":{}}"#.to_vec(),
        Format::Xml => format!("</{field}></data><meta></meta></response>").into_bytes(),
    };
    let state = Items {
        items: Box::pin(items.fuse()),
        format,
        first: true,
        suffix: Some(suffix),
    };
    let rest = futures::stream::unfold(state, Items::next_chunk);
    let body = futures::stream::once(async move { Ok(Bytes::from(prefix)) }).chain(rest);
    let mut resp = Response::new(Body::from_stream(body));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    resp
}

struct Items<T, E> {
    items: Pin<Box<dyn Stream<Item = Result<T, E>> + Send>>,
    format: Format,
    first: bool,
    /// The closing bytes, until they are sent (or the body failed).
    suffix: Option<Vec<u8>>,
}

impl<T: Serialize, E: Display> Items<T, E> {
    async fn next_chunk(mut self) -> Option<(Result<Bytes, std::io::Error>, Self)> {
        self.suffix.as_ref()?;
        let mut buf = Vec::with_capacity(CHUNK + 1024);
        loop {
            match self.items.next().await {
                Some(Ok(item)) => {
                    self.render(&mut buf, &item);
                    if buf.len() >= CHUNK {
                        return Some((Ok(Bytes::from(buf)), self));
                    }
                }
                Some(Err(e)) => {
                    tracing::error!(error = %e, "a streamed answer failed part-way; the body is cut off");
                    self.suffix = None;
                    return Some((Err(std::io::Error::other(e.to_string())), self));
                }
                None => {
                    buf.extend(self.suffix.take().unwrap_or_default());
                    return Some((Ok(Bytes::from(buf)), self));
                }
            }
        }
    }

    fn render(&mut self, buf: &mut Vec<u8>, item: &T) {
        match self.format {
            Format::Json => {
                if !self.first {
                    buf.push(b',');
                }
                if let Err(e) = serde_json::to_writer(&mut *buf, item) {
                    tracing::error!(error = %e, "a streamed item did not serialize");
                    buf.extend_from_slice(b"null");
                }
            }
            Format::Xml => {
                let value = serde_json::to_value(item).unwrap_or(Value::Null);
                buf.extend_from_slice(&xml_member("item", &value));
            }
        }
        self.first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ApiResponse;
    use crate::negotiate::to_xml;
    use axum::response::IntoResponse;
    use serde_json::json;

    #[derive(Serialize)]
    struct Head {
        stream_id: &'static str,
        bucket_seconds: Option<i64>,
        #[serde(rename = "9lives")]
        odd: bool,
    }

    const HEAD: Head = Head {
        stream_id: "s1",
        bucket_seconds: None,
        odd: true,
    };

    fn items(n: usize) -> Vec<Result<Value, String>> {
        (0..n)
            .map(|i| Ok(json!({"ts": i, "value": i as f32 / 3.0, "value2": null})))
            .collect()
    }

    async fn body(resp: Response) -> Result<Vec<u8>, axum::Error> {
        axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .map(|b| b.to_vec())
    }

    fn whole(n: usize) -> Value {
        let list: Vec<Value> = items(n).into_iter().map(Result::unwrap).collect();
        json!({"status": "success", "code": 200,
               "data": {"stream_id": "s1", "bucket_seconds": null, "9lives": true, "samples": list},
               "meta": {}})
    }

    #[tokio::test]
    async fn the_streamed_json_is_the_envelope_built_whole() {
        // Empty, one item, and enough items for several chunks.
        for n in [0, 1, 5000] {
            let resp = list(
                Format::Json,
                &HEAD,
                "samples",
                futures::stream::iter(items(n)),
            );
            assert_eq!(resp.status(), StatusCode::OK);
            assert_eq!(resp.headers()[CONTENT_TYPE], "application/json");
            let streamed = body(resp).await.unwrap();
            let expected = whole(n);
            let built = body(ApiResponse::ok(&expected["data"]).into_response())
                .await
                .unwrap();
            assert_eq!(
                String::from_utf8(streamed).unwrap(),
                String::from_utf8(built).unwrap(),
                "{n} items"
            );
        }
    }

    #[tokio::test]
    async fn the_streamed_xml_is_what_negotiation_renders() {
        for n in [0, 1, 3000] {
            let resp = list(
                Format::Xml,
                &HEAD,
                "samples",
                futures::stream::iter(items(n)),
            );
            assert_eq!(resp.headers()[CONTENT_TYPE], Format::Xml.content_type());
            let streamed = body(resp).await.unwrap();
            assert_eq!(
                String::from_utf8(streamed).unwrap(),
                String::from_utf8(to_xml(&whole(n))).unwrap(),
                "{n} items"
            );
        }
    }

    #[tokio::test]
    async fn a_failure_part_way_cuts_the_body_off() {
        let mut failing = items(3);
        failing.push(Err("the database went away".to_owned()));
        failing.extend(items(2));
        let resp = list(
            Format::Json,
            &HEAD,
            "samples",
            futures::stream::iter(failing),
        );
        let err = body(resp).await.unwrap_err();
        assert!(err.to_string().contains("went away"), "{err}");
    }
}
