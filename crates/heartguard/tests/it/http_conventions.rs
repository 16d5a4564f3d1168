//! The HTTP conventions of spec/03 through the real middleware stack: envelope, negotiation both
//! ways, request ids, body limits, malformed ids, fallbacks, panics, and logs free of secrets.

use axum::Router;
use axum::routing::{get, post};
use hg_http::server::{component_app, serve};
use hg_http::{ApiResponse, IdPath, Payload};
use hg_platform::Component;
use hg_test_support::TestApp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Deserialize, Serialize)]
struct Note {
    title: String,
    priority: u8,
    urgent: bool,
}

/// A component (the patient service's limits) with a few probe routes, served on port 0.
async fn probe_app() -> (TestApp, String) {
    let app = TestApp::builder().spawn().await;
    let routes =
        Router::new()
            .route(
                "/notes",
                post(|Payload(note): Payload<Note>| async move {
                    ApiResponse::created("/notes/1", note)
                }),
            )
            .route(
                "/notes/{id}",
                get(|IdPath(id): IdPath<Uuid>| async move {
                    ApiResponse::ok(serde_json::json!({ "id": id }))
                }),
            )
            .route("/boom", get(boom));
    let router = component_app(Component::Patient, &app.platform, routes, &[], |r| r);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(
        listener,
        router,
        hg_http::server::Listening::of(Component::Patient, &app.platform),
    ));
    (app, base)
}

async fn boom() -> ApiResponse {
    panic!("probe panic")
}

async fn json(resp: reqwest::Response) -> Value {
    resp.json().await.expect("a JSON body")
}

#[tokio::test]
async fn a_valid_json_body_is_created_with_location_and_the_success_envelope() {
    let (app, base) = probe_app().await;
    let resp = app
        .client
        .post(format!("{base}/notes"))
        .json(&serde_json::json!({"title": "t", "priority": 2, "urgent": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["location"], "/notes/1");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    let text = resp.text().await.unwrap();
    assert!(
        text.starts_with(r#"{"status":"success","code":201,"data":"#),
        "{text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["data"]["title"], "t");
    assert!(body["meta"].is_object());
}

#[tokio::test]
async fn accept_xml_returns_the_xml_envelope() {
    let (app, base) = probe_app().await;
    let resp = app
        .client
        .post(format!("{base}/notes"))
        .header("accept", "application/xml")
        .json(&serde_json::json!({"title": "a&b", "priority": 1, "urgent": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/xml")
    );
    let xml = resp.text().await.unwrap();
    assert!(
        xml.contains("<response><status>success</status><code>201</code>"),
        "{xml}"
    );
    assert!(
        xml.contains("<title>a&amp;b</title>") && xml.contains("<urgent>false</urgent>"),
        "{xml}"
    );

    let err = app
        .client
        .get(format!("{base}/nowhere"))
        .header("accept", "text/xml")
        .send()
        .await
        .unwrap();
    assert_eq!(err.status(), 404);
    let xml = err.text().await.unwrap();
    assert!(
        xml.contains("<status>error</status>") && xml.contains("<id>HG-ROUTE-NOT-FOUND</id>"),
        "{xml}"
    );
    assert!(xml.contains("<request_id>"), "{xml}");
}

#[tokio::test]
async fn an_accept_header_allowing_neither_json_nor_xml_is_406() {
    let (app, base) = probe_app().await;
    let resp = app
        .client
        .get(format!("{base}/health"))
        .header("accept", "image/png")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 406);
    let body = json(resp).await;
    assert_eq!(body["error"]["id"], "HG-NOT-ACCEPTABLE");
}

#[tokio::test]
async fn xml_request_bodies_are_accepted() {
    let (app, base) = probe_app().await;
    let resp = app
        .client
        .post(format!("{base}/notes"))
        .header("content-type", "application/xml")
        .body("<note><title>x</title><priority>3</priority><urgent>true</urgent></note>")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(json(resp).await["data"]["priority"], 3);
}

#[tokio::test]
async fn xml_with_a_dtd_is_refused_without_expanding_it() {
    let (app, base) = probe_app().await;
    let body = r#"<?xml version="1.0"?><!DOCTYPE n [<!ENTITY x SYSTEM "file:///etc/passwd">]>
        <note><title>&x;</title><priority>1</priority><urgent>true</urgent></note>"#;
    let resp = app
        .client
        .post(format!("{base}/notes"))
        .header("content-type", "text/xml")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body = json(resp).await;
    assert_eq!(body["error"]["id"], "HG-BAD-PAYLOAD");
    assert!(!body.to_string().contains("root:"), "entity expanded");
}

#[tokio::test]
async fn a_json_syntax_error_is_400_bad_payload() {
    let (app, base) = probe_app().await;
    // The second one's first problem is a wrong type; it is malformed all the same.
    for body in [
        r#"{"title": "x", "priority": "#,
        r#"{"priority": "high", "title": "x",}"#,
    ] {
        let resp = app
            .client
            .post(format!("{base}/notes"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        assert_eq!(json(resp).await["error"]["id"], "HG-BAD-PAYLOAD", "{body}");
    }
}

#[tokio::test]
async fn an_empty_body_is_400_bad_payload() {
    let (app, base) = probe_app().await;
    let resp = app
        .client
        .post(format!("{base}/notes"))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(json(resp).await["error"]["id"], "HG-BAD-PAYLOAD");
}

#[tokio::test]
async fn a_wrong_type_or_missing_field_is_400_naming_the_field() {
    let (app, base) = probe_app().await;
    for (body, field) in [
        (
            r#"{"title": "x", "priority": 999, "urgent": true}"#,
            "priority",
        ),
        (r#"{"title": "x", "priority": 1}"#, "urgent"),
        (r#"{"title": 5, "priority": 1, "urgent": true}"#, "title"),
        // Unknown fields are refused on every route, POST as PATCH.
        (
            r#"{"title": "x", "priority": 1, "urgent": true, "colour": "red"}"#,
            "colour",
        ),
    ] {
        let resp = app
            .client
            .post(format!("{base}/notes"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{body}");
        let v = json(resp).await;
        assert_eq!(v["error"]["id"], "HG-VALIDATION", "{v}");
        assert!(
            v["error"]["details"]["fields"][field].is_string(),
            "{field} not named: {v}"
        );
    }
}

#[tokio::test]
async fn an_unsupported_content_type_is_415() {
    let (app, base) = probe_app().await;
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut req = app.client.post(format!("{base}/notes")).body("title=x");
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 415, "{ct:?}");
        assert_eq!(json(resp).await["error"]["id"], "HG-UNSUPPORTED-MEDIA-TYPE");
    }
}

#[tokio::test]
async fn a_two_mib_body_to_a_one_mib_route_is_413_with_or_without_content_length() {
    let (app, base) = probe_app().await;
    let big = format!(
        r#"{{"title": "{}", "priority": 1, "urgent": true}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let resp = app
        .client
        .post(format!("{base}/notes"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(json(resp).await["error"]["id"], "HG-PAYLOAD-TOO-LARGE");

    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big
        .into_bytes()
        .chunks(64 * 1024)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let resp = app
        .client
        .post(format!("{base}/notes"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_stream(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(json(resp).await["error"]["id"], "HG-PAYLOAD-TOO-LARGE");
}

fn futures_stream(
    chunks: Vec<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    futures::stream::iter(chunks)
}

#[tokio::test]
async fn a_malformed_uuid_in_the_path_is_404_not_400_or_500() {
    let (app, base) = probe_app().await;
    let ok = app
        .client
        .get(format!("{base}/notes/{}", Uuid::new_v4()))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    for bad in [
        "not-a-uuid",
        "1234",
        "%00",
        "00000000-0000-0000-0000-00000000000g",
    ] {
        let resp = app
            .client
            .get(format!("{base}/notes/{bad}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{bad}");
        assert_eq!(json(resp).await["error"]["id"], "HG-NOT-FOUND");
    }
}

#[tokio::test]
async fn request_ids_are_echoed_when_well_formed_and_replaced_otherwise() {
    let (app, base) = probe_app().await;
    let resp = app
        .client
        .get(format!("{base}/nowhere"))
        .header("x-request-id", "client-id-42")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "client-id-42");
    assert_eq!(json(resp).await["error"]["request_id"], "client-id-42");

    let resp = app
        .client
        .get(format!("{base}/health"))
        .header("x-request-id", "bad id\twith spaces")
        .send()
        .await
        .unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(id, "bad id\twith spaces");
    assert!(Uuid::parse_str(&id).is_ok(), "{id}");
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_get_enveloped_404_and_405() {
    let (app, base) = probe_app().await;
    let resp = app
        .client
        .get(format!("{base}/patients/x/y/z"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(json(resp).await["error"]["id"], "HG-ROUTE-NOT-FOUND");
    let resp = app
        .client
        .delete(format!("{base}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(json(resp).await["error"]["id"], "HG-METHOD-NOT-ALLOWED");
}

#[tokio::test]
async fn a_panicking_handler_is_a_generic_500_and_the_server_keeps_serving() {
    let (app, base) = probe_app().await;
    let resp = app.client.get(format!("{base}/boom")).send().await.unwrap();
    assert_eq!(resp.status(), 500);
    let body = json(resp).await;
    assert_eq!(body["error"]["id"], "HG-INTERNAL");
    assert!(
        !body.to_string().contains("probe panic"),
        "the cause leaked: {body}"
    );
    let again = app
        .client
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
}

#[tokio::test]
async fn health_keeps_the_flat_shape_of_the_deployment_guide_on_every_prefix() {
    let app = TestApp::builder().with(Component::Device).spawn().await;
    for path in ["/health", "/devices/health", "/streams/health"] {
        let body = json(
            app.client
                .get(app.url(Component::Device, path))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            body,
            serde_json::json!({"service": "device", "status": "healthy"}),
            "{path}"
        );
    }
    let metrics = app
        .client
        .get(app.url(Component::Device, "/metrics"))
        .header("accept", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains("http_requests_total{component=\"device\""),
        "{text}"
    );
}

/// Sends `requests` one after the other on one TCP connection and returns each status line;
/// a connection the server closed early shows as fewer answers than requests.
async fn statuses_on_one_connection(addr: &str, requests: &[String]) -> Vec<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut statuses = Vec::new();
    for req in requests {
        // Headers first, the body a moment later, as clients on real networks do: the server may
        // have answered before the body arrives.
        let (head, body) = req.split_at(req.find("\r\n\r\n").unwrap() + 4);
        if tcp.write_all(head.as_bytes()).await.is_err() {
            break;
        }
        if !body.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            if tcp.write_all(body.as_bytes()).await.is_err() {
                break;
            }
        }
        // Read one answer: headers, then Content-Length bytes.
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            match tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read(&mut byte)).await
            {
                Ok(Ok(1)) => buf.push(byte[0]),
                _ => return statuses,
            }
        }
        let head = String::from_utf8_lossy(&buf).to_string();
        let len: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        tcp.read_exact(&mut body).await.unwrap();
        statuses.push(head.lines().next().unwrap().to_owned());
    }
    statuses
}

#[tokio::test]
async fn an_answer_given_before_reading_the_body_keeps_the_connection() {
    let app = TestApp::builder()
        .with(Component::Gateway)
        .with(Component::Device)
        .spawn()
        .await;
    // A body sent to a malformed id: the handler answers 404 (and 401 without a token) without
    // ever reading the body. The next request on the same connection must still be answered —
    // directly and through the gateway's pooled upstream connections.
    let body = r#"{"value": "x"}"#;
    let early = |host: &str, key: bool| {
        format!(
            "PUT /streams/not-an-id/bindings/x/tags/k HTTP/1.1\r\nhost: {host}\r\n{}content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            if key {
                format!("x-internal-api-key: {}\r\n", hg_test_support::TEST_API_KEY)
            } else {
                String::new()
            },
            body.len()
        )
    };
    let next = |host: &str, key: bool| {
        format!(
            "GET /devices/health HTTP/1.1\r\nhost: {host}\r\n{}\r\n",
            if key {
                format!("x-internal-api-key: {}\r\n", hg_test_support::TEST_API_KEY)
            } else {
                String::new()
            },
        )
    };
    for (c, key) in [(Component::Device, false), (Component::Gateway, true)] {
        let url = app.url(c, "");
        let addr = url.trim_start_matches("http://").trim_end_matches('/');
        let requests = [
            early(addr, key),
            next(addr, key),
            early(addr, key),
            next(addr, key),
        ];
        let statuses = statuses_on_one_connection(addr, &requests).await;
        assert_eq!(
            statuses.len(),
            4,
            "{c:?} closed the connection: {statuses:?}"
        );
        assert!(
            statuses[1].contains(" 200 ") && statuses[3].contains(" 200 "),
            "{statuses:?}"
        );
    }
}

#[tokio::test]
async fn metrics_stay_off_the_public_admin_port_and_need_the_token_when_one_is_set() {
    let app = TestApp::builder()
        .with(Component::Admin)
        .with(Component::Device)
        .env("METRICS_TOKEN", "metrics-token-0123456789")
        .spawn()
        .await;
    let get = |url: String, bearer: Option<&'static str>| {
        let mut req = app.client.get(url);
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get(app.url(Component::Admin, "/metrics"), None).await, 404);
    assert_eq!(
        get(
            app.url(Component::Admin, "/metrics"),
            Some("metrics-token-0123456789")
        )
        .await,
        404,
        "not on the public port, token or not"
    );
    let private = format!("http://{}/metrics", app.admin_metrics.unwrap());
    assert_eq!(get(private.clone(), None).await, 401);
    assert_eq!(
        get(private.clone(), Some("wrong-token-0123456789")).await,
        401
    );
    assert_eq!(get(private, Some("metrics-token-0123456789")).await, 200);
    assert_eq!(get(app.url(Component::Device, "/metrics"), None).await, 401);
    assert_eq!(
        get(
            app.url(Component::Device, "/metrics"),
            Some("metrics-token-0123456789")
        )
        .await,
        200
    );
}
