//! The notifier against real servers on loopback: an SMTP server (aiosmtpd, STARTTLS and implicit
//! TLS, with AUTH), an SMS provider webhook and a Web Push service (recording HTTP servers whose
//! requests the tests decrypt and verify). Alerts are raised by hand through the alert component;
//! the notification component's consumer and sender do the rest.

mod api;
mod channels;
mod fallback;

use std::time::Duration;

use hg_platform::Component;
use hg_test_support::loopback::{HttpSink, SmtpServer, SmtpTls};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::world::{Principal, World};

const NOTIFY: Component = Component::Notification;
const ALERT: Component = Component::Alert;

/// The world with the alert and notification components and `env`.
async fn world(env: &[(&str, &str)]) -> World {
    World::with_env(&[NOTIFY, ALERT], env).await
}

/// `SMTP_URL` and `SMTP_CA_CERT` of `smtp`.
fn smtp_env(smtp: &SmtpServer) -> [(String, String); 2] {
    [
        ("SMTP_URL".into(), smtp.url()),
        ("SMTP_CA_CERT".into(), smtp.certs.ca.display().to_string()),
    ]
}

fn pairs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Sets `who`'s preferences; expects 200.
async fn prefer(w: &World, who: &Principal, prefs: Value) {
    let (status, body) = w
        .request(Method::PUT, "/notifications/preferences")
        .on(NOTIFY)
        .token(who)
        .json(prefs)
        .send()
        .await;
    assert_eq!(status, 200, "{body}");
}

/// Raises an alert for p1 (doctor A's care team) as root; returns its id.
async fn raise(w: &World, alert_type: &str, level: &str) -> Uuid {
    let (status, body) = w
        .request(Method::POST, "/alerts")
        .on(ALERT)
        .token(&w.root)
        .json(json!({"patient_id": w.p1, "alert_type": alert_type, "alert_level": level}))
        .send()
        .await;
    assert!(status == 201 || status == 200, "{body}");
    body["data"]["id"].as_str().unwrap().parse().unwrap()
}

/// The deliveries of `alert` as doctor A sees them.
async fn deliveries(w: &World, alert: Uuid) -> Vec<Value> {
    let (status, body) = w
        .request(
            Method::GET,
            &format!("/notifications/deliveries?alert_id={alert}"),
        )
        .on(NOTIFY)
        .token(&w.doctor_a)
        .send()
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().unwrap().clone()
}

/// Waits up to `secs` until the deliveries of `alert` satisfy `done`; returns them.
async fn deliveries_until(
    w: &World,
    alert: Uuid,
    secs: u64,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    for _ in 0..secs * 10 {
        let d = deliveries(w, alert).await;
        if done(&d) {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "deliveries of {alert} never got there: {:#?}",
        deliveries(w, alert).await
    );
}

/// Waits until the notifier has handled every alert event so far (its `processed_events`).
async fn notifier_caught_up(w: &World) {
    for _ in 0..100 {
        let pending: i64 = sqlx::query_scalar(
            "select count(*) from outbox_events o
              where o.event_type in ('alert.created', 'alert.escalated', 'alert.updated')
                and not exists (select 1 from processed_events p
                                 where p.consumer = 'notifier' and p.event_id = o.id)",
        )
        .fetch_one(&w.app.db.pool)
        .await
        .unwrap();
        if pending == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the notifier did not catch up");
}

/// The parts of a received message: (content type, body) of each part.
fn parts(data: &str) -> Vec<(String, String)> {
    let Some(boundary) = data
        .split("boundary=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
    else {
        return Vec::new();
    };
    data.split(&format!("--{boundary}"))
        .skip(1)
        .filter_map(|part| {
            let (head, body) = part.split_once("\r\n\r\n")?;
            let ct = head
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("content-type:"))?
                .split_once(':')?
                .1
                .trim()
                .to_owned();
            Some((ct, body.trim_end_matches("\r\n").to_owned()))
        })
        .collect()
}
