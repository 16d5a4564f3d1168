//! `/ready`: 200 while PostgreSQL, Redis and RabbitMQ answer; 503 naming the one that does not; and
//! back to 200 when it returns.

use std::process::{Command, Stdio};

use hg_platform::Component;
use hg_test_support::TestApp;
use hg_test_support::tls::free_port;
use serde_json::Value;

async fn ready(app: &TestApp, c: Component) -> (u16, Value) {
    let resp = app.client.get(app.url(c, "/ready")).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn ready_is_200_when_every_dependency_answers() {
    let app = TestApp::builder()
        .with(Component::Alert)
        .with(Component::Admin)
        .with_redis()
        .with_rabbitmq()
        .spawn()
        .await;
    let (status, body) = ready(&app, Component::Alert).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["checks"]["postgres"]["status"], "up");
    assert_eq!(body["data"]["checks"]["redis"]["kind"], "redis");
    assert_eq!(body["data"]["checks"]["rabbitmq"]["kind"], "rabbitmq");
    // The admin panel (machine 1) never talks to RabbitMQ.
    let (status, body) = ready(&app, Component::Admin).await;
    assert_eq!(status, 200);
    assert!(body["data"]["checks"].get("rabbitmq").is_none(), "{body}");
}

#[tokio::test]
async fn ready_reports_the_stand_ins_when_redis_and_rabbitmq_are_not_configured() {
    let app = TestApp::builder().with(Component::Audit).spawn().await;
    let (status, body) = ready(&app, Component::Audit).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["checks"]["redis"]["kind"], "in-process");
    // Event queues are kept in PostgreSQL instead.
    assert_eq!(body["data"]["checks"]["rabbitmq"]["kind"], "postgresql");
}

#[tokio::test]
async fn ready_is_503_naming_redis_while_it_is_down_and_recovers_when_it_returns() {
    let port = free_port();
    let app = TestApp::builder()
        .with(Component::Auth)
        .env("REDIS_URL", &format!("redis://127.0.0.1:{port}"))
        .spawn()
        .await;
    let (status, body) = ready(&app, Component::Auth).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["id"], "HG-NOT-READY");
    assert_eq!(
        body["error"]["details"]["failed"],
        serde_json::json!(["redis"])
    );
    assert!(body["error"]["message"].as_str().unwrap().contains("redis"));

    let mut redis = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server");
    let mut recovered = false;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if ready(&app, Component::Auth).await.0 == 200 {
            recovered = true;
            break;
        }
    }
    redis.kill().ok();
    redis.wait().ok();
    assert!(recovered, "readiness did not recover after Redis came back");
}

#[tokio::test]
async fn ready_is_503_naming_rabbitmq_when_the_broker_is_unreachable() {
    let app = TestApp::builder()
        .with(Component::Notification)
        .env(
            "AMQP_URL",
            &format!("amqp://guest:guest@127.0.0.1:{}/%2f", free_port()),
        )
        .spawn()
        .await;
    let (status, body) = ready(&app, Component::Notification).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["error"]["details"]["failed"],
        serde_json::json!(["rabbitmq"])
    );
}

#[tokio::test]
async fn ready_is_503_naming_postgres_when_the_database_is_unreachable() {
    let app = TestApp::builder()
        .with(Component::Patient)
        .env(
            "DATABASE_URL",
            &format!("postgresql://postgres@127.0.0.1:{}/x", free_port()),
        )
        .spawn()
        .await;
    let (status, body) = ready(&app, Component::Patient).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["error"]["details"]["failed"],
        serde_json::json!(["postgres"])
    );
    // Liveness does not depend on anything.
    let live = app
        .client
        .get(app.url(Component::Patient, "/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
}
