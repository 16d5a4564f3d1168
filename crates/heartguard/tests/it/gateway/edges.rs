//! CORS, HTTPS, the admin component's public edge, streaming, the connectivity check, loopback without a key.

use super::*;

#[tokio::test]
pub(super) async fn cors_preflight_is_answered_for_allowed_origins_only() {
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
pub(super) async fn the_gateway_serves_https_when_given_a_certificate() {
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
pub(super) async fn the_public_api_edge_adds_the_key_so_clients_never_hold_it() {
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

pub(super) fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[tokio::test]
pub(super) async fn a_50_mib_upload_streams_through_with_bounded_memory_and_keys_stay_out_of_the_logs()
 {
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
pub(super) async fn check_confirms_the_key_is_required_and_names_a_mismatched_key() {
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
pub(super) async fn a_loopback_gateway_with_require_api_key_false_forwards_without_a_key() {
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
