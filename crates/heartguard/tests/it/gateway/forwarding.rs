//! Forwarding: requests unchanged with aliases rewritten, kept upstream connections, forwarding headers, upstream failures.

use super::*;

#[tokio::test]
pub(super) async fn requests_are_forwarded_unchanged_with_aliases_rewritten_and_forwarding_headers_set()
 {
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
pub(super) async fn counting_upstream() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>)
{
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
pub(super) async fn a_client_connection_keeps_its_upstream_connection_and_a_closed_one_is_replaced()
{
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
pub(super) async fn an_untrusted_peer_cannot_forge_x_forwarded_for() {
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
pub(super) async fn unknown_prefixes_down_upstreams_and_slow_upstreams_map_to_404_503_504() {
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
