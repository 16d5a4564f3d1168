//! The live feed: a change arrives within a second, a reconnection with `Last-Event-ID` replays
//! what was missed, and each client sees only its scope — directly and through the gateway.

use super::*;
use futures::StreamExt;

/// One SSE connection, read event by event.
struct Sse {
    body: futures::stream::BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buf: String,
}

impl Sse {
    async fn open(w: &World, c: Component, token: &str, last: Option<i64>) -> Sse {
        let key = c == Component::Gateway;
        Sse::open_url(w, w.app.url(c, "/alerts/stream"), token, last, key).await
    }

    async fn open_url(w: &World, url: String, token: &str, last: Option<i64>, key: bool) -> Sse {
        let mut req = w
            .app
            .client
            .get(url)
            .bearer_auth(token)
            .header("accept", "text/event-stream");
        if let Some(id) = last {
            req = req.header("last-event-id", id.to_string());
        }
        if key {
            req = req.header("x-internal-api-key", hg_test_support::TEST_API_KEY);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        Sse {
            body: resp.bytes_stream().map(|c| c.map(|b| b.to_vec())).boxed(),
            buf: String::new(),
        }
    }

    /// The next `alert` event (id, data), waiting at most `secs`.
    async fn next(&mut self, secs: f64) -> Option<(i64, Value)> {
        let deadline = tokio::time::Instant::now() + StdDuration::from_secs_f64(secs);
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut id = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if let (Some(id), false) = (id, data.is_empty()) {
                    return Some((id, serde_json::from_str(&data).unwrap()));
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .ok()??;
            self.buf.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    }
}

async fn raise(w: &World, token: &str, patient: Uuid, alert_type: &str) -> String {
    let (status, v) = w
        .post(
            "/alerts",
            token,
            json!({"patient_id": patient, "alert_type": alert_type, "alert_level": "high"}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    v["data"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn changes_arrive_live_and_a_reconnection_replays_what_it_missed() {
    let w = World::new(&[ALERT, Component::Gateway]).await;
    let mut feed = Sse::open(&w, ALERT, &w.doctor_a, None).await;
    let sent = tokio::time::Instant::now();
    let id = raise(&w, &w.doctor_a, w.p1, "TACHY").await;
    let (first, change) = feed.next(5.0).await.expect("the new alert on the feed");
    assert!(
        sent.elapsed() < StdDuration::from_secs(1),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(change["alert_id"], id.as_str());
    assert_eq!(change["action"], "created");
    assert_eq!(change["alert_type"], "TACHY");
    let (_, assigned) = feed.next(5.0).await.unwrap();
    assert_eq!(assigned["action"], "assigned");
    drop(feed);

    // While the client is away: acknowledged and resolved. It comes back with its last id.
    for step in ["ack", "resolve"] {
        let (status, _) = w
            .post(&format!("/alerts/{id}/{step}"), &w.doctor_a, json!({}))
            .await;
        assert_eq!(status, 200);
    }
    let mut feed = Sse::open(&w, ALERT, &w.doctor_a, Some(first)).await;
    let mut actions = Vec::new();
    for _ in 0..3 {
        let (_, c) = feed.next(5.0).await.expect("a missed change");
        actions.push(c["action"].as_str().unwrap().to_owned());
    }
    assert_eq!(actions, ["assigned", "acknowledged", "resolved"]);

    // Another organization's client, replaying everything, sees only its own alerts.
    let id_b = raise(&w, &w.admin_b, w.pb, "FEVER").await;
    let mut feed_b = Sse::open(&w, ALERT, &w.admin_b, Some(0)).await;
    let (_, c) = feed_b.next(5.0).await.unwrap();
    assert_eq!(
        c["alert_id"],
        id_b.as_str(),
        "A's changes came first but are not B's to see"
    );

    // Through the gateway, and through the admin component's public edge in front of it (machine
    // 1, where browsers connect without the key), unbuffered.
    let mut via = Sse::open(&w, Component::Gateway, &w.doctor_a, None).await;
    let edge = hg_test_support::TestApp::builder()
        .with(Component::Admin)
        .env(
            "MICROSERVICES_GATEWAY_URL",
            &w.app.url(Component::Gateway, ""),
        )
        .spawn()
        .await;
    let edge_url = edge.url(Component::Admin, "/api/alerts/stream");
    let mut via_edge = Sse::open_url(&w, edge_url, &w.doctor_a, None, false).await;
    let id2 = raise(&w, &w.doctor_a, w.p1, "BRADY").await;
    let (_, c) = via.next(5.0).await.expect("through the gateway");
    assert_eq!(c["alert_id"], id2.as_str());
    let (_, c) = via_edge.next(5.0).await.expect("through the admin edge");
    assert_eq!(c["alert_id"], id2.as_str());
}
