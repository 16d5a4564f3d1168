//! Abuse blocks and rate limits, by address and by principal, also without Redis.

use super::*;

#[tokio::test]
pub(super) async fn repeated_wrong_keys_block_the_address_until_the_block_expires() {
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
pub(super) async fn clients_over_their_rate_get_429_with_rate_limit_headers() {
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
pub(super) async fn a_token_is_limited_across_addresses_and_a_forged_one_charges_no_one() {
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
pub(super) async fn rate_limiting_goes_on_in_process_when_redis_is_unreachable() {
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
