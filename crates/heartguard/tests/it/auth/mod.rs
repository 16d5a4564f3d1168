//! The auth component over real sockets, PostgreSQL and Redis: login and its protections, sessions
//! (rotation, reuse detection, logout seen by another component), token forgeries, password change and
//! reset, e-mail verification, registration, invitations, TOTP, JWKS, and audit entries.

use base64::Engine;
use hg_platform::Component;
use hg_test_support::fixtures::{self, FIXTURE_PASSWORD};
use hg_test_support::{TestApp, test_token_keys, token_in};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use uuid::Uuid;

async fn app_with(env: &[(&str, &str)]) -> TestApp {
    let mut b = TestApp::builder()
        .with(Component::Auth)
        .with(Component::User)
        .with(Component::Notification)
        .with_redis();
    for (k, v) in env {
        b = b.env(k, v);
    }
    b.spawn().await
}

async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let resp = app
        .client
        .post(app.url(Component::Auth, path))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn post_auth(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    let resp = app
        .client
        .post(app.url(Component::Auth, path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn get_auth(app: &TestApp, c: Component, path: &str, token: &str) -> (u16, Value) {
    let resp = app
        .client
        .get(app.url(c, path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn error_id(body: &Value) -> &str {
    body["error"]["id"].as_str().unwrap_or("")
}

async fn staff(app: &TestApp, email: &str) -> Uuid {
    let org = fixtures::org(
        &app.db.pool,
        &format!(
            "ORG-{}",
            &Uuid::new_v4().simple().to_string()[..6].to_uppercase()
        ),
    )
    .await;
    let id = fixtures::user(&app.db.pool, email, Some("clinician")).await;
    fixtures::membership(&app.db.pool, org, id, "org_user").await;
    id
}

async fn login(app: &TestApp, email: &str, password: &str) -> (u16, Value) {
    post(
        app,
        "/auth/login",
        json!({"email": email, "password": password}),
    )
    .await
}

/// The link token of the `n`-th e-mail (from 1) sent to `to`, checking that neither the outbox nor
/// anything it published holds it.
async fn mailed_token(app: &TestApp, to: &str, n: usize) -> String {
    let token = token_in(&app.nth_mail_to(to, n).await);
    let leaked: i64 = sqlx::query_scalar(
        "select count(*) from outbox_events where strpos(payload::text, $1) > 0",
    )
    .bind(&token)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(leaked, 0, "a one-time token is in the outbox");
    token
}

async fn audit_actions(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar(
        "select payload->>'action' from outbox_events where event_type = 'audit.recorded' order by created_at, id",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
}

mod login;
mod passwords;
mod registration;
mod sessions;
mod totp;
