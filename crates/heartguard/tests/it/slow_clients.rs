//! Slow, idle and numerous clients (issue 10, item 5; spec/04): over raw sockets, with short
//! configured timeouts, every listener closes silent and half-sent connections, answers a late
//! body 400, closes idle kept-alive connections and refuses connections beyond its bound; through
//! the gateway a stalled body is 400 (not the upstream's 504) and an oversized one 413 (not 502).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hg_platform::Component;
use hg_test_support::{TEST_API_KEY, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn app(components: &[Component], max_connections: &str) -> TestApp {
    let mut b = TestApp::builder()
        .env("HTTP_HEADER_TIMEOUT_SECS", "1")
        .env("HTTP_BODY_TIMEOUT_SECS", "1")
        .env("HTTP_IDLE_TIMEOUT_SECS", "2")
        .env("HTTP_MAX_CONNECTIONS", max_connections);
    for c in components {
        b = b.with(*c);
    }
    b.spawn().await
}

fn addr(app: &TestApp, c: Component) -> SocketAddr {
    app.addrs[&c]
}

/// Reads until the peer closes (or `limit` passes: then panics); returns what was read and when
/// the connection closed.
async fn read_until_closed(tcp: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let start = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((start + limit).into(), tcp.read(&mut buf)).await {
            Err(_) => panic!(
                "the server kept the connection open for {limit:?}; read so far: {:?}",
                String::from_utf8_lossy(&out)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), start.elapsed())
}

#[tokio::test]
async fn silent_and_half_sent_connections_are_closed_after_the_header_timeout() {
    let app = app(&[Component::Patient], "1024").await;
    let a = addr(&app, Component::Patient);
    let mut silent = TcpStream::connect(a).await.unwrap();
    let mut half = TcpStream::connect(a).await.unwrap();
    half.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    // Many at once, as an attacker would open them.
    let mut many = Vec::new();
    for _ in 0..50 {
        let mut t = TcpStream::connect(a).await.unwrap();
        t.write_all(b"POST /auth/login HTTP/1.1\r\n").await.unwrap();
        many.push(t);
    }
    let (text, after) = read_until_closed(&mut silent, Duration::from_secs(5)).await;
    assert!(text.is_empty(), "{text}");
    assert!(
        after >= Duration::from_millis(900),
        "closed too early: {after:?}"
    );
    let (text, _) = read_until_closed(&mut half, Duration::from_secs(5)).await;
    assert!(text.is_empty(), "{text}");
    for t in &mut many {
        read_until_closed(t, Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn a_body_shorter_than_its_content_length_is_answered_400() {
    let app = app(&[Component::Auth], "1024").await;
    let mut tcp = TcpStream::connect(addr(&app, Component::Auth))
        .await
        .unwrap();
    tcp.write_all(
        b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":",
    )
    .await
    .unwrap();
    let (text, after) = read_until_closed(&mut tcp, Duration::from_secs(6)).await;
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("HG-BODY-TIMEOUT"), "{text}");
    assert!(after < Duration::from_secs(4), "{after:?}");
}

#[tokio::test]
async fn kept_alive_connections_close_after_the_idle_timeout_but_serve_until_then() {
    let app = app(&[Component::Patient], "1024").await;
    let mut tcp = TcpStream::connect(addr(&app, Component::Patient))
        .await
        .unwrap();
    let request = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut buf = [0u8; 4096];
    for _ in 0..2 {
        tcp.write_all(request).await.unwrap();
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        // Longer than the header timeout: an idle connection gets the idle timeout.
        tokio::time::sleep(Duration::from_millis(1300)).await;
    }
    let (text, after) = read_until_closed(&mut tcp, Duration::from_secs(5)).await;
    assert!(text.is_empty(), "{text}");
    assert!(after < Duration::from_secs(2), "{after:?}");
}

#[tokio::test]
async fn connections_beyond_the_bound_are_refused_with_503() {
    let app = app(&[Component::Patient], "3").await;
    let a = addr(&app, Component::Patient);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(a).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut extra = TcpStream::connect(a).await.unwrap();
    let (text, _) = read_until_closed(&mut extra, Duration::from_secs(2)).await;
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("HG-TOO-MANY-CONNECTIONS"), "{text}");
    // Once the held ones time out, the listener takes connections again.
    for t in &mut held {
        read_until_closed(t, Duration::from_secs(5)).await;
    }
    let resp = app
        .client
        .get(app.url(Component::Patient, "/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn the_gateway_answers_a_stalled_body_400_and_an_oversized_one_413() {
    let app = TestApp::builder()
        .with(Component::Gateway)
        .with(Component::Auth)
        .with(Component::Patient)
        .env("HTTP_BODY_TIMEOUT_SECS", "1")
        .env("GATEWAY_TIMEOUT_SECS", "10")
        .spawn()
        .await;
    let gw = addr(&app, Component::Gateway);

    let mut tcp = TcpStream::connect(gw).await.unwrap();
    tcp.write_all(
        format!(
            "POST /auth/login HTTP/1.1\r\nHost: x\r\nX-Internal-API-Key: {TEST_API_KEY}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"email\":"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let start = Instant::now();
    let mut buf = vec![0u8; 8192];
    let n = tokio::time::timeout(Duration::from_secs(8), tcp.read(&mut buf))
        .await
        .expect("an answer before the upstream timeout")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("HG-BODY-TIMEOUT"), "{text}");
    assert!(start.elapsed() < Duration::from_secs(5));

    // Declared too large, sent without Expect: 100-continue, and no body follows.
    let mut tcp = TcpStream::connect(gw).await.unwrap();
    tcp.write_all(
        format!(
            "POST /patients HTTP/1.1\r\nHost: x\r\nX-Internal-API-Key: {TEST_API_KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            2 * 1024 * 1024
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    tcp.write_all(&vec![b' '; 2 * 1024 * 1024]).await.unwrap();
    let n = tcp.read(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    // Far beyond the limit: answered at once, without reading.
    let mut tcp = TcpStream::connect(gw).await.unwrap();
    tcp.write_all(
        format!(
            "POST /patients HTTP/1.1\r\nHost: x\r\nX-Internal-API-Key: {TEST_API_KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            100 * 1024 * 1024
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let n = tcp.read(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");

    // Chunked, growing past the service's 1 MiB.
    let big = vec![b' '; 2 * 1024 * 1024];
    let resp = app
        .client
        .post(app.url(Component::Gateway, "/patients"))
        .header("X-Internal-API-Key", TEST_API_KEY)
        .header("Content-Type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(
            big.chunks(64 * 1024)
                .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
                .collect::<Vec<_>>(),
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["id"], "HG-PAYLOAD-TOO-LARGE");
}
