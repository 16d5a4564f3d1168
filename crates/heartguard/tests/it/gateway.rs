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

#[tokio::test]
async fn requests_are_forwarded_unchanged_with_aliases_rewritten_and_forwarding_headers_set() {
    let upstream = echo_upstream().await;
    let app = gateway_with(&[("ORGANIZATION_UPSTREAM", &upstream)]).await;
    let resp = app
        .client
        .patch(app.url(
            Component::Gateway,
            "/orgs/123/members/?role=org_admin&q=a%20b",
        ))
        .header(KEY_HEADER, TEST_API_KEY)
        .header("x-request-id", "fwd-test-1")
        .header("x-custom", "end-to-end")
        .header("connection", "x-hop")
        .header("x-hop", "must not pass")
        .header("x-forwarded-for", "6.6.6.6")
        .header("content-type", "application/json")
        .body(r#"{"role":"viewer"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], "fwd-test-1");
    let seen = body(resp).await;
    assert_eq!(seen["method"], "PATCH");
    assert_eq!(seen["path"], "/organizations/123/members/");
    assert_eq!(seen["query"], "role=org_admin&q=a%20b");
    assert_eq!(seen["body_bytes"], 17);
    let h = &seen["headers"];
    assert_eq!(h["x-custom"], "end-to-end");
    assert_eq!(h["x-request-id"], "fwd-test-1");
    assert_eq!(h["x-forwarded-proto"], "http");
    // The peer (loopback) is a trusted proxy by default, so the chain is kept and extended.
    assert_eq!(h["x-forwarded-for"], "6.6.6.6, 127.0.0.1");
    assert!(
        h.get("x-hop").is_none(),
        "a hop-by-hop header was forwarded"
    );
    assert!(
        h.get(KEY_HEADER).is_none(),
        "the internal key was forwarded to a service"
    );

    // Without an id of its own, a request gets a generated one (a UUIDv7), the same upstream and
    // back.
    let resp = get_with_key(&app, "/orgs/1").await;
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7);
    assert_eq!(body(resp).await["headers"]["x-request-id"], id.as_str());

    // Forwarded requests are counted like every other request.
    let metrics = get_with_key(&app, "/metrics").await.text().await.unwrap();
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("http_requests_total{")
                && l.contains("component=\"gateway\"")
                && l.contains("method=\"PATCH\"")
                && l.contains("status=\"200\"")
        })
        .unwrap_or_else(|| panic!("no count of the forwarded PATCH:\n{metrics}"));
    let count: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 1.0, "{line}");
}

/// An upstream that counts the connections it accepts; `/organizations/close` answers with
/// `Connection: close`, so it closes that connection after answering.
async fn counting_upstream() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use axum::serve::ListenerExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let accepted = std::sync::Arc::new(AtomicUsize::new(0));
    let app = Router::new().route(
        "/{*path}",
        any(|req: Request| async move {
            if req.uri().path().ends_with("/close") {
                ([(axum::http::header::CONNECTION, "close")], "closing").into_response()
            } else {
                "kept".into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = accepted.clone();
    let listener = listener.tap_io(move |_| {
        count.fetch_add(1, Ordering::SeqCst);
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr.to_string(), accepted)
}

#[tokio::test]
async fn a_client_connection_keeps_its_upstream_connection_and_a_closed_one_is_replaced() {
    use std::sync::atomic::Ordering;
    let (upstream, accepted) = counting_upstream().await;
    let app = gateway_with(&[("ORGANIZATION_UPSTREAM", &upstream)]).await;
    // One client connection (reqwest reuses it for sequential requests): one upstream connection.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let get = |path: &'static str| {
        client
            .get(app.url(Component::Gateway, path))
            .header(KEY_HEADER, TEST_API_KEY)
            .send()
    };
    for _ in 0..5 {
        let resp = get("/organizations/a").await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().await.unwrap(), "kept");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    // The upstream closes its connection after this answer; `Connection` is hop-by-hop, so the
    // client's connection stays open, and its next requests (a body-less GET and a POST with a
    // body, which cannot be sent twice) go over a new upstream connection.
    let resp = get("/organizations/close").await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("connection").is_none());
    assert_eq!(resp.text().await.unwrap(), "closing");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let resp = get("/organizations/b").await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = get("/organizations/close").await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = client
        .post(app.url(Component::Gateway, "/organizations/c"))
        .header(KEY_HEADER, TEST_API_KEY)
        .body("a body")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "kept");
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
    // Another client connection gets upstream connections of its own.
    let resp = reqwest::Client::new()
        .get(app.url(Component::Gateway, "/organizations/d"))
        .header(KEY_HEADER, TEST_API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(accepted.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn an_untrusted_peer_cannot_forge_x_forwarded_for() {
    let upstream = echo_upstream().await;
    let app = gateway_with(&[
        ("ORGANIZATION_UPSTREAM", &upstream),
        ("TRUSTED_PROXIES", "10.9.9.9"),
    ])
    .await;
    let seen = body(
        app.client
            .get(app.url(Component::Gateway, "/organization/x"))
            .header(KEY_HEADER, TEST_API_KEY)
            .header("x-forwarded-for", "6.6.6.6")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(seen["path"], "/organizations/x");
    assert_eq!(seen["headers"]["x-forwarded-for"], "127.0.0.1");
}

#[tokio::test]
async fn unknown_prefixes_down_upstreams_and_slow_upstreams_map_to_404_503_504() {
    let upstream = echo_upstream().await;
    let app = gateway_with(&[
        ("ORGANIZATION_UPSTREAM", &upstream),
        ("PATIENT_UPSTREAM", &format!("127.0.0.1:{}", free_port())),
        ("GATEWAY_TIMEOUT_SECS", "1"),
    ])
    .await;
    let get = |path: &str| {
        app.client
            .get(app.url(Component::Gateway, path))
            .header(KEY_HEADER, TEST_API_KEY)
            .send()
    };
    let resp = get("/billing/invoices").await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(body(resp).await["error"]["id"], "HG-GATEWAY-ROUTE");
    let resp = get("/patients/1").await.unwrap();
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    assert_eq!(body(resp).await["error"]["id"], "HG-GATEWAY-UNAVAILABLE");
    let started = std::time::Instant::now();
    let resp = get("/organizations/slow").await.unwrap();
    assert_eq!(resp.status(), 504);
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(body(resp).await["error"]["id"], "HG-GATEWAY-TIMEOUT");
}

#[tokio::test]
async fn repeated_wrong_keys_block_the_address_until_the_block_expires() {
    let app = TestApp::builder()
        .with(Component::Gateway)
        .with(Component::Auth)
        .with_redis()
        .env("API_KEY_ABUSE_THRESHOLD", "3")
        .env("API_KEY_ABUSE_BLOCK_SECS", "2")
        .spawn()
        .await;
    let url = app.url(Component::Gateway, "/auth/health");
    for _ in 0..3 {
        let resp = app
            .client
            .get(&url)
            .header(KEY_HEADER, "x".repeat(32))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403);
    }
    let resp = app.client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(body(resp).await["error"]["id"], "HG-API-KEY-BLOCKED");
    // Blocked means blocked, even with the right key.
    let resp = app
        .client
        .get(&url)
        .header(KEY_HEADER, TEST_API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));

    tokio::time::sleep(Duration::from_millis(2300)).await;
    let resp = app
        .client
        .get(&url)
        .header(KEY_HEADER, TEST_API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the block did not expire");

    let actions: Vec<String> = sqlx::query_scalar(
        "select payload->>'action' from outbox_events where event_type = 'audit.recorded' order by created_at",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            "API_KEY_REJECTED",
            "API_KEY_REJECTED",
            "API_KEY_REJECTED",
            "API_KEY_ABUSE"
        ]
    );
    let entry: Value = sqlx::query_scalar("select payload from outbox_events limit 1")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(entry["ip"], "127.0.0.1");
    assert_eq!(entry["details"]["path"], "/auth/health");
    assert!(
        !entry.to_string().contains(&"x".repeat(32)),
        "the presented key was stored"
    );

    let metrics = get_with_key(&app, "/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("gateway_api_key_rejections_total{reason=\"invalid\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn clients_over_their_rate_get_429_with_rate_limit_headers() {
    let app = TestApp::builder()
        .with(Component::Gateway)
        .with(Component::Auth)
        .with_redis()
        .env("RATE_LIMIT_PER_MINUTE", "6")
        .env("RATE_LIMIT_BURST", "3")
        .spawn()
        .await;
    let url = app.url(Component::Gateway, "/auth/health");
    for expected in [2, 1, 0] {
        let resp = app
            .client
            .get(&url)
            .header(KEY_HEADER, TEST_API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["ratelimit-limit"], "3");
        assert_eq!(
            resp.headers()["ratelimit-remaining"],
            expected.to_string().as_str()
        );
    }
    let resp = app
        .client
        .get(&url)
        .header(KEY_HEADER, TEST_API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry), "{retry}");
    assert_eq!(body(resp).await["error"]["id"], "HG-RATE-LIMITED");
    assert!(
        app.redis
            .as_ref()
            .unwrap()
            .keys()
            .iter()
            .any(|k| k.starts_with("gw:rl:")),
        "the bucket is not in Redis"
    );
}

#[tokio::test]
async fn a_token_is_limited_across_addresses_and_a_forged_one_charges_no_one() {
    let app = TestApp::builder()
        .with(Component::Gateway)
        .with(Component::Auth)
        .with_redis()
        .env("RATE_LIMIT_PER_MINUTE", "6")
        .env("RATE_LIMIT_BURST", "3")
        .spawn()
        .await;
    let alice = hg_test_support::fixtures::user(&app.db.pool, "alice@example.org", None).await;
    let bob = hg_test_support::fixtures::user(&app.db.pool, "bob@example.org", None).await;
    let (alice, bob) = (app.token_for(alice).await, app.token_for(bob).await);
    let url = app.url(Component::Gateway, "/auth/health");
    // Each request comes from a new address (through a trusted proxy), so only the principal's
    // bucket can run dry.
    let mut n = 0;
    let mut send = |token: String| {
        n += 1;
        app.client
            .get(&url)
            .header(KEY_HEADER, TEST_API_KEY)
            .header("x-forwarded-for", format!("198.51.100.{n}"))
            .header("authorization", format!("Bearer {token}"))
            .send()
    };
    for expected in ["2", "1", "0"] {
        let resp = send(alice.clone()).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["ratelimit-remaining"], expected);
    }
    let limited = send(alice.clone()).await.unwrap();
    assert_eq!(limited.status(), 429, "the token's bucket is empty");
    assert!(limited.headers().contains_key("retry-after"));

    // A token with alice's claims but a bad signature is not alice: it costs only its address.
    let (head, rest) = alice.split_once('.').unwrap();
    let (claims, _sig) = rest.split_once('.').unwrap();
    let forged = format!("{head}.{claims}.AAAA");
    let resp = send(forged).await.unwrap();
    assert_eq!(resp.status(), 200, "a forged token is not charged to alice");
    assert_eq!(resp.headers()["ratelimit-remaining"], "2");
    // Another principal has its own bucket.
    assert_eq!(send(bob).await.unwrap().status(), 200);
}

#[tokio::test]
async fn rate_limiting_goes_on_in_process_when_redis_is_unreachable() {
    let app = gateway_with(&[
        ("REDIS_URL", &format!("redis://127.0.0.1:{}", free_port())),
        ("RATE_LIMIT_PER_MINUTE", "6"),
        ("RATE_LIMIT_BURST", "2"),
    ])
    .await;
    let url = app.url(Component::Gateway, "/auth/health");
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(
            app.client
                .get(&url)
                .header(KEY_HEADER, TEST_API_KEY)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [200, 200, 429], "fail-open is not allowed");
}

#[tokio::test]
async fn cors_preflight_is_answered_for_allowed_origins_only() {
    let app = gateway_with(&[("CORS_ALLOWED_ORIGINS", "https://app.example.org")]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(
                reqwest::Method::OPTIONS,
                app.url(Component::Gateway, "/auth/login"),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let ok = preflight("https://app.example.org").await.unwrap();
    assert!(ok.status().is_success(), "{}", ok.status());
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.example.org"
    );
    let other = preflight("https://evil.example.com").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let none = gateway_with(&[]).await;
    let resp = none
        .client
        .get(none.url(Component::Gateway, "/auth/health"))
        .header("origin", "https://app.example.org")
        .header(KEY_HEADER, TEST_API_KEY)
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers().get("access-control-allow-origin").is_none(),
        "CORS is off by default"
    );
}

#[tokio::test]
async fn the_gateway_serves_https_when_given_a_certificate() {
    hg_platform::tls::install_crypto_provider();
    let dir = std::env::temp_dir().join(format!("hg-gwtls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = hg_platform::certs::DevCa::generate("gateway test CA").unwrap();
    let server = ca.issue_server(&["localhost", "127.0.0.1"]).unwrap();
    std::fs::write(dir.join("gw.pem"), &server.cert).unwrap();
    std::fs::write(dir.join("gw-key.pem"), &server.key).unwrap();
    let app = gateway_with(&[
        ("GATEWAY_TLS_CERT", dir.join("gw.pem").to_str().unwrap()),
        ("GATEWAY_TLS_KEY", dir.join("gw-key.pem").to_str().unwrap()),
    ])
    .await;
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.cert_pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let port = app.addrs[&Component::Gateway].port();
    let health = client
        .get(format!("https://localhost:{port}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let proxied = client
        .get(format!("https://localhost:{port}/auth/health"))
        .header(KEY_HEADER, TEST_API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.status(), 200);
    let plain = app
        .client
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .await;
    assert!(
        plain.map(|r| r.status() != 200).unwrap_or(true),
        "plain HTTP must not be served on the TLS port"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn the_public_api_edge_adds_the_key_so_clients_never_hold_it() {
    let upstream = echo_upstream().await;
    let platform = gateway_with(&[("ORGANIZATION_UPSTREAM", &upstream)]).await;
    // Machine 1: the admin component finds the gateway through MICROSERVICES_GATEWAY_URL.
    let gateway = format!("http://{}", platform.addrs[&Component::Gateway]);
    let edge = TestApp::builder()
        .with(Component::Admin)
        .env("MICROSERVICES_GATEWAY_URL", &gateway)
        .spawn()
        .await;

    let resp = edge
        .client
        .get(edge.url(Component::Admin, "/api/auth/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(body(resp).await["service"], "auth");

    let seen = body(
        edge.client
            .post(edge.url(Component::Admin, "/api/orgs/7?x=1"))
            .header(KEY_HEADER, "a client must not choose the key")
            .header("x-forwarded-for", "198.51.100.4")
            .json(&json!({"a": 1}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["path"], "/organizations/7");
    assert_eq!(seen["query"], "x=1");
    // nginx (loopback) is trusted by default: the client's address survives both hops.
    assert_eq!(
        seen["headers"]["x-forwarded-for"],
        "198.51.100.4, 127.0.0.1, 127.0.0.1"
    );

    let wrong = TestApp::builder()
        .with(Component::Admin)
        .env("MICROSERVICES_GATEWAY_URL", &gateway)
        .env("MICROSERVICES_API_KEY", &"z".repeat(40))
        .spawn()
        .await;
    let resp = wrong
        .client
        .get(wrong.url(Component::Admin, "/api/auth/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);

    let nowhere = TestApp::builder()
        .with(Component::Admin)
        .env(
            "MICROSERVICES_GATEWAY_URL",
            &format!("http://127.0.0.1:{}", free_port()),
        )
        .spawn()
        .await;
    let resp = nowhere
        .client
        .get(nowhere.url(Component::Admin, "/api/auth/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(body(resp).await["error"]["id"], "HG-GATEWAY-UNAVAILABLE");
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[tokio::test]
async fn a_50_mib_upload_streams_through_with_bounded_memory_and_keys_stay_out_of_the_logs() {
    let db = hg_test_support::TestDb::new().await;
    let upstream = echo_upstream().await;
    let port = free_port();
    let child = heartguard()
        .args(["serve", "gateway"])
        .env("DATABASE_URL", &db.url)
        .env("GATEWAY_PORT", port.to_string())
        .env("INTERNAL_API_KEY", TEST_API_KEY)
        .env("MEDIA_UPSTREAM", &upstream)
        .env("LOG_FORMAT", "json")
        .env("LOG_LEVEL", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = crate::support::client();
    let base = format!("http://127.0.0.1:{port}");
    assert!(wait_for_200(&client, &format!("{base}/health"), 60).await);
    // Warm up the connection pool and allocator before measuring.
    client
        .get(format!("{base}/media/warm"))
        .header(KEY_HEADER, TEST_API_KEY)
        .send()
        .await
        .unwrap();
    let before = rss_kib(child.id(), "VmRSS:");

    const MIB: usize = 1024 * 1024;
    let chunks = futures::stream::iter((0..50).map(|_| Ok::<_, std::io::Error>(vec![7u8; MIB])));
    let resp = client
        .post(format!("{base}/media/upload"))
        .header(KEY_HEADER, TEST_API_KEY)
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(body(resp).await["body_bytes"], 50 * MIB);
    let peak = rss_kib(child.id(), "VmHWM:");
    assert!(
        peak.saturating_sub(before) < 16 * 1024,
        "gateway memory grew by {} KiB while proxying 50 MiB",
        peak - before
    );

    let wrong = "wrong-key-that-must-not-be-logged-0123";
    client
        .get(format!("{base}/auth/health"))
        .header(KEY_HEADER, wrong)
        .send()
        .await
        .unwrap();
    let (status, logs) = terminate(child);
    assert!(status.success());
    assert!(logs.contains("request refused: internal API key"), "{logs}");
    for secret in [TEST_API_KEY, wrong] {
        assert!(!logs.contains(secret), "a key leaked into the logs");
    }
}

#[tokio::test]
async fn check_confirms_the_key_is_required_and_names_a_mismatched_key() {
    let app = TestApp::builder()
        .with(Component::Gateway)
        .with(Component::Auth)
        .spawn()
        .await;
    let gateway = format!("http://{}", app.addrs[&Component::Gateway]);
    let auth = app.addrs[&Component::Auth].to_string();
    let env = |key: &'static str| {
        vec![
            ("DATABASE_URL", app.db.url.clone()),
            ("MICROSERVICES_GATEWAY_URL", gateway.clone()),
            ("MICROSERVICES_API_KEY", key.to_owned()),
            ("AUTH_UPSTREAM", auth.clone()),
        ]
    };
    async fn run_check(env: Vec<(&'static str, String)>) -> std::process::Output {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        crate::support::run_async(&["check"], &env).await
    }
    let out = run_check(env(TEST_API_KEY)).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("✓ gateway refuses"), "{text}");
    assert!(text.contains("✓ gateway accepts"), "{text}");
    assert!(text.contains("✓ auth ready"), "{text}");
    // Components this test did not start are reported, so the command fails overall.
    assert!(!out.status.success());

    let out = run_check(env("qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq")).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("does not match"), "{text}");
}

#[tokio::test]
async fn a_loopback_gateway_with_require_api_key_false_forwards_without_a_key() {
    let app = gateway_with(&[("REQUIRE_API_KEY", "false")]).await;
    let resp = app
        .client
        .get(app.url(Component::Gateway, "/auth/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = app
        .client
        .get(app.url(Component::Gateway, "/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}
