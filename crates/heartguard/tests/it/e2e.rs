//! End to end on `heartguard up`, through the gateway and RabbitMQ: the simulator streams a
//! tachycardia for a demo patient of dra.lopez's care team → the rule engine raises a TACHY alert
//! assigned to her team → it is on `GET /alerts` and on the SSE feed → its e-mail reaches her at an
//! SMTP server (STARTTLS) and the delivery shows on the alert → she acknowledges and resolves it →
//! its history shows each step.

use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::StreamExt;
use hg_platform::Component;
use hg_test_support::TEST_API_KEY;
use hg_test_support::loopback::{SmtpServer, SmtpTls};
use hg_test_support::services::{TestBroker, TestRedis, amqp_url, redis_url};
use hg_test_support::tls::free_port;
use serde_json::{Value, json};

use crate::support::{heartguard, sigterm, wait_for_200};

const DEMO_PASSWORD: &str = "e2e-Demo-Password-2026";

#[tokio::test]
async fn a_simulated_tachycardia_reaches_dra_lopez_who_acknowledges_and_resolves_it() {
    let _one_up_at_a_time = crate::support::up_lock().await;
    let data_dir = std::env::temp_dir().join(format!("hg-e2e-{}", uuid::Uuid::new_v4().simple()));
    let redis = TestRedis::new();
    let broker = TestBroker::new();
    let pg_port = free_port();
    let smtp = SmtpServer::start(SmtpTls::StartTls);
    let mut cmd = heartguard();
    cmd.args(["up", "--no-simulate"])
        .env("HEARTGUARD_DATA_DIR", &data_dir)
        .env("HEARTGUARD_PG_PORT", pg_port.to_string())
        .env("REDIS_URL", redis_url())
        .env("REDIS_KEY_PREFIX", &redis.prefix)
        .env("AMQP_URL", amqp_url())
        .env("AMQP_EXCHANGE", &broker.exchange)
        .env("INTERNAL_API_KEY", TEST_API_KEY)
        .env("DEMO_PASSWORD", DEMO_PASSWORD)
        .env("SMTP_URL", smtp.url())
        .env("SMTP_CA_CERT", &smtp.certs.ca)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut ports = std::collections::HashMap::new();
    for c in Component::ALL {
        let port = free_port();
        cmd.env(c.port_var(), port.to_string());
        ports.insert(c, port);
    }
    cmd.env("ADMIN_METRICS_ADDR", format!("127.0.0.1:{}", free_port()));
    let up = cmd.spawn().expect("heartguard up starts");
    let stop = Stop(Some(up), data_dir.clone());
    let client = crate::support::client();
    let gw = format!("http://127.0.0.1:{}", ports[&Component::Gateway]);
    for c in [
        Component::Gateway,
        Component::Alert,
        Component::Timeseries,
        Component::Auth,
    ] {
        let url = format!("http://127.0.0.1:{}/health", ports[&c]);
        assert!(
            wait_for_200(&client, &url, 180).await,
            "{c} did not come up"
        );
    }

    // dra.lopez logs in through the gateway and opens the live feed.
    let login: Value = client
        .post(format!("{gw}/auth/login"))
        .header("x-internal-api-key", TEST_API_KEY)
        .json(&json!({"email": "dra.lopez@clin001.demo", "password": DEMO_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["data"]["tokens"]["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{login}"))
        .to_owned();
    let me = login["data"]["user"]["id"].as_str().unwrap().to_owned();
    let get = |path: String| {
        client
            .get(format!("{gw}{path}"))
            .header("x-internal-api-key", TEST_API_KEY)
            .bearer_auth(&token)
    };
    let read =
        async |path: String| -> Value { get(path).send().await.unwrap().json().await.unwrap() };
    let feed = get("/alerts/stream".into())
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), 200);
    let mut feed = feed.bytes_stream();

    // The demo data holds open alerts: she settles the open TACHY ones, so that the simulated
    // episode raises a new alert (a repeat of an open one notifies nobody).
    let post = |path: String, body: Value| {
        client
            .post(format!("{gw}{path}"))
            .header("x-internal-api-key", TEST_API_KEY)
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let open = read("/alerts?type=TACHY&open=true&limit=200".into()).await;
    for a in open["data"].as_array().unwrap() {
        let old = a["id"].as_str().unwrap();
        if a["status"] != "ack" {
            let r = post(format!("/alerts/{old}/ack"), json!({})).await.unwrap();
            assert_eq!(r.status(), 200);
        }
        let r = post(format!("/alerts/{old}/resolve"), json!({}))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    // The simulator streams one demo device (the first by serial: a CLIN-001 patient of her
    // team) through the gateway, tachycardic from 5 s on.
    let mut sim = heartguard()
        .args([
            "simulate",
            "--patients",
            "1",
            "--rate",
            "1",
            "--duration",
            "80s",
            "--episodes",
            "tachy@5s+75s",
            "--url",
            &gw,
            "--api-key",
            TEST_API_KEY,
        ])
        .env("HEARTGUARD_DATA_DIR", &data_dir)
        .env("HEARTGUARD_PG_PORT", pg_port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the simulator starts");

    // The tachycardia reaches her feed: a new TACHY alert.
    let mut buf = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(150);
    let id = loop {
        let tachy = buf.split("\n\n").find_map(|event| {
            let data = event.lines().find_map(|l| l.strip_prefix("data: "))?;
            let change: Value = serde_json::from_str(data).ok()?;
            (change["alert_type"] == "TACHY" && change["action"] == "created")
                .then(|| change["alert_id"].as_str().unwrap().to_owned())
        });
        if let Some(id) = tachy {
            break id;
        }
        match tokio::time::timeout_at(deadline, feed.next()).await {
            Ok(Some(Ok(chunk))) => buf.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("no TACHY change on the feed ({other:?}); it sent: {buf}"),
        }
    };
    // It is in her list, assigned to her.
    let list = read("/alerts?type=TACHY&open=true".into()).await;
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == id.as_str()),
        "{list}"
    );
    let detail = read(format!("/alerts/{id}")).await;
    let assignees: Vec<&str> = detail["data"]["assignees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["user_id"].as_str().unwrap())
        .collect();
    assert!(assignees.contains(&me.as_str()), "{detail}");
    assert!(
        detail["data"]["evidence"]["value"].as_f64().unwrap_or(0.0) > 120.0,
        "{detail}"
    );

    // Its e-mail reaches her over STARTTLS, linking to the alert; the delivery is on the alert
    // (recorded once the server has answered, a moment after the message arrived).
    let mut mail = None;
    for _ in 0..300 {
        mail = smtp.received().into_iter().find(|m| {
            m.rcpt_tos == ["dra.lopez@clin001.demo"]
                && hg_test_support::readable(&m.data).contains(&format!("/alerts/{id}"))
        });
        if mail.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mail = mail.unwrap_or_else(|| panic!("no e-mail for {id}: {:?}", smtp.received()));
    assert!(
        mail.tls && mail.data.contains("Subject: [HeartGuard] Alerta"),
        "{}",
        mail.data
    );
    let mut detail = Value::Null;
    for _ in 0..100 {
        detail = read(format!("/alerts/{id}")).await;
        let delivered = detail["data"]["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| {
                d["channel"] == "EMAIL"
                    && d["target"] == "dra.lopez@clin001.demo"
                    && d["status"] == "SENT"
            });
        if delivered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let delivered = detail["data"]["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| {
            d["channel"] == "EMAIL"
                && d["target"] == "dra.lopez@clin001.demo"
                && d["status"] == "SENT"
        });
    assert!(delivered, "{detail}");
    let notified = detail["data"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["action"] == "notified");
    assert!(notified, "{detail}");

    // She acknowledges and resolves it; the history shows each step.
    for (step, body) in [
        ("ack", json!({"note": "seen"})),
        ("resolve", json!({"outcome": "stabilized"})),
    ] {
        let resp = client
            .post(format!("{gw}/alerts/{id}/{step}"))
            .header("x-internal-api-key", TEST_API_KEY)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{step}: {}", resp.text().await.unwrap());
    }
    let detail = read(format!("/alerts/{id}")).await;
    let actions: Vec<&str> = detail["data"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.first(), Some(&"created"), "{actions:?}");
    for step in ["assigned", "notified", "acknowledged", "resolved"] {
        assert!(actions.contains(&step), "{step} in {actions:?}");
    }
    assert_eq!(detail["data"]["status"], "resolved");

    let _ = sim.kill();
    let _ = sim.wait();
    drop(stop);
}

/// Stops `heartguard up` (SIGTERM, waits, kills after a minute) and removes its data directory when
/// dropped, so a failing assertion leaves no cluster running.
struct Stop(Option<std::process::Child>, std::path::PathBuf);

impl Drop for Stop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            sigterm(child.id());
            let deadline = Instant::now() + Duration::from_secs(60);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(200));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.1);
    }
}
