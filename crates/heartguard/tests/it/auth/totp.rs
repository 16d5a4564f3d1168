//! Two-factor authentication, and what failed logins leave in the audit.

use super::*;

pub(super) fn totp_code(secret_b32: &str, offset_steps: i64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret_b32).unwrap();
    let totp = totp_rs::Builder::new()
        .with_secret(secret)
        .with_account_name("t")
        .build()
        .unwrap();
    let t = (chrono::Utc::now().timestamp() + offset_steps * 30) as u64;
    totp.generate(t).to_string()
}

#[tokio::test]
pub(super) async fn totp_is_enrolled_confirmed_required_at_login_and_not_replayable() {
    let app = app_with(&[]).await;
    let id = staff(&app, "otp@example.org").await;
    let access = app.token_for(id).await;
    let (status, v) = post_auth(&app, "/auth/2fa/setup", &access, json!({})).await;
    assert_eq!(status, 200, "{v}");
    let secret = v["data"]["secret"].as_str().unwrap().to_owned();
    assert!(
        v["data"]["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/HeartGuard")
    );
    let stored: Vec<u8> = sqlx::query_scalar("select totp_secret_enc from users where id = $1")
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(
        !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the secret is stored in clear"
    );

    let (status, v) = post_auth(
        &app,
        "/auth/2fa/confirm",
        &access,
        json!({"code": "000000"}),
    )
    .await;
    assert_eq!((status, error_id(&v)), (401, "HG-TOTP-INVALID"));
    let (status, v) = post_auth(
        &app,
        "/auth/2fa/confirm",
        &access,
        json!({"code": totp_code(&secret, -1)}),
    )
    .await;
    assert_eq!(status, 200, "{v}");

    let (status, v) = login(&app, "otp@example.org", FIXTURE_PASSWORD).await;
    assert_eq!((status, error_id(&v)), (401, "HG-TOTP-REQUIRED"));
    let code = totp_code(&secret, 0);
    let (status, v) = post(
        &app,
        "/auth/login",
        json!({"email": "otp@example.org", "password": FIXTURE_PASSWORD, "totp_code": code}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = post(
        &app,
        "/auth/login",
        json!({"email": "otp@example.org", "password": FIXTURE_PASSWORD, "totp_code": code}),
    )
    .await;
    assert_eq!(
        (status, error_id(&v)),
        (401, "HG-TOTP-INVALID"),
        "a code works once"
    );

    let (status, body) = post_auth(
        &app,
        "/auth/2fa/disable",
        &access,
        json!({"password": "wrong password"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["details"]["fields"]["password"].is_string(),
        "names password: {body}"
    );
    let (status, _) = post_auth(
        &app,
        "/auth/2fa/disable",
        &access,
        json!({"password": FIXTURE_PASSWORD}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        login(&app, "otp@example.org", FIXTURE_PASSWORD).await.0,
        200
    );
    let actions = audit_actions(&app).await;
    assert!(
        actions.contains(&"TOTP_ENABLED".to_owned())
            && actions.contains(&"TOTP_DISABLED".to_owned())
    );
}

#[tokio::test]
pub(super) async fn a_superadmin_without_totp_gets_no_superadmin_rights_when_2fa_is_required() {
    let app = app_with(&[("REQUIRE_2FA_SUPERADMIN", "true")]).await;
    fixtures::user(&app.db.pool, "root@example.org", Some("superadmin")).await;
    let (status, v) = login(&app, "root@example.org", FIXTURE_PASSWORD).await;
    assert_eq!(status, 200);
    assert_eq!(v["data"]["mfa_setup_required"], true);
    let access = v["data"]["tokens"]["access_token"].as_str().unwrap();
    let (_, me) = get_auth(&app, Component::Auth, "/auth/me", access).await;
    assert_eq!(me["data"]["session_roles"], json!([]), "{me}");
    assert!(
        me["data"]["permissions"]["global"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Enrollment is still possible.
    assert_eq!(
        post_auth(&app, "/auth/2fa/setup", access, json!({}))
            .await
            .0,
        200
    );
}

#[tokio::test]
pub(super) async fn login_failures_are_audited_with_the_client_address_and_no_password() {
    let app = app_with(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    staff(&app, "audit@example.org").await;
    let resp = app
        .client
        .post(app.url(Component::Auth, "/auth/login"))
        .header("x-forwarded-for", "198.51.100.23")
        .json(&json!({"email": "audit@example.org", "password": "secret-attempt-123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let payloads: Vec<Value> = sqlx::query_scalar(
        "select payload from outbox_events where payload->>'action' = 'LOGIN_FAILED'",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(payloads.len(), 1);
    assert_eq!(payloads[0]["ip"], "198.51.100.23");
    assert_eq!(payloads[0]["details"]["reason"], "wrong_password");
    assert!(!payloads[0].to_string().contains("secret-attempt-123"));
}
