//! The gateway over real sockets: the API key (missing, wrong, rotated, abuse blocking and its
//! expiry), forwarding (aliases, unchanged method/path/query/body, hop-by-hop headers, forwarded
//! headers), failures (404 route, 503 down, 504 slow), rate limiting with its Redis fallback, CORS,
//! HTTPS, streaming of large bodies with bounded memory, keys kept out of logs, and the admin
//! component's public API edge.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::response::IntoResponse;
use axum::routing::any;
use futures::StreamExt;
use hg_platform::Component;
use hg_test_support::tls::free_port;
use hg_test_support::{TEST_API_KEY, TestApp};
use serde_json::{Value, json};

use crate::support::{heartguard, terminate, wait_for_200};

const KEY_HEADER: &str = "x-internal-api-key";

/// An upstream that answers with what it received (method, path, query, headers, body size),
/// streaming the body in without keeping it; `/organizations/slow` sleeps 3 s first.
async fn echo_upstream() -> String {
    async fn echo(req: Request) -> axum::Json<Value> {
        let (parts, body) = req.into_parts();
        if parts.uri.path().ends_with("/slow") {
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        let mut size = 0usize;
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            size += chunk.map(|c| c.len()).unwrap_or(0);
        }
        let headers: BTreeMap<String, String> = parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        axum::Json(json!({
            "method": parts.method.as_str(),
            "path": parts.uri.path(),
            "query": parts.uri.query(),
            "headers": headers,
            "body_bytes": size,
        }))
    }
    let app = Router::new().route("/{*path}", any(echo));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr.to_string()
}

async fn gateway_with(env: &[(&str, &str)]) -> TestApp {
    let mut b = TestApp::builder()
        .with(Component::Gateway)
        .with(Component::Auth);
    for (k, v) in env {
        b = b.env(k, v);
    }
    b.spawn().await
}

/// `GET path` on the gateway with the right key.
async fn get_with_key(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(Component::Gateway, path))
        .header(KEY_HEADER, TEST_API_KEY)
        .send()
        .await
        .unwrap()
}

async fn body(resp: reqwest::Response) -> Value {
    resp.json().await.unwrap()
}

#[tokio::test]
async fn a_proxied_path_needs_the_key_and_gateway_health_does_not() {
    let app = gateway_with(&[]).await;
    let url = app.url(Component::Gateway, "/auth/health");

    let resp = app.client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("X-Internal-API-Key")
    );
    assert_eq!(body(resp).await["error"]["id"], "HG-API-KEY-MISSING");

    let resp = app
        .client
        .get(&url)
        .header(KEY_HEADER, "w".repeat(40))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(body(resp).await["error"]["id"], "HG-API-KEY-INVALID");

    let resp = app
        .client
        .get(&url)
        .header(KEY_HEADER, TEST_API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        body(resp).await,
        json!({"service": "auth", "status": "healthy"})
    );

    let health = app
        .client
        .get(app.url(Component::Gateway, "/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    for path in ["/ready", "/metrics"] {
        let resp = app
            .client
            .get(app.url(Component::Gateway, path))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{path} must need the key");
    }
    let xml = app
        .client
        .get(&url)
        .header("accept", "application/xml")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(xml.contains("<id>HG-API-KEY-MISSING</id>"), "{xml}");
}

#[tokio::test]
async fn every_key_of_a_rotation_is_accepted() {
    let second = "second-rotation-key-abcdefghijklmnop";
    let app = gateway_with(&[("INTERNAL_API_KEY", &format!("{TEST_API_KEY},{second}"))]).await;
    for key in [TEST_API_KEY, second] {
        let resp = app
            .client
            .get(app.url(Component::Gateway, "/auth/health"))
            .header(KEY_HEADER, key)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
}

mod edges;
mod forwarding;
mod limits;
