//! Passwords: change (checked and limited), reset by a single-use, expiring e-mailed link.

use super::*;

#[tokio::test]
pub(super) async fn changing_the_password_checks_the_current_one_and_ends_other_sessions() {
    let app = app_with(&[]).await;
    staff(&app, "change@example.org").await;
    let here =
        login(&app, "change@example.org", FIXTURE_PASSWORD).await.1["data"]["tokens"].clone();
    let elsewhere =
        login(&app, "change@example.org", FIXTURE_PASSWORD).await.1["data"]["tokens"].clone();
    let access = here["access_token"].as_str().unwrap();

    let (status, body) = post_auth(
        &app,
        "/auth/password/change",
        access,
        json!({"current_password": "nope-nope-1", "new_password": "a brand new secret"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["error"]["details"]["fields"]["current_password"].is_string());
    let (status, body) = post_auth(
        &app,
        "/auth/password/change",
        access,
        json!({"current_password": FIXTURE_PASSWORD, "new_password": "password123"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["details"]["fields"]["new_password"].is_string(),
        "{body}"
    );
    let (status, body) = post_auth(
        &app,
        "/auth/password/change",
        access,
        json!({"current_password": FIXTURE_PASSWORD}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["details"]["fields"]["new_password"].is_string(),
        "names new_password: {body}"
    );

    let (status, body) = post_auth(
        &app,
        "/auth/password/change",
        access,
        json!({"current_password": FIXTURE_PASSWORD, "new_password": "a brand new secret"}),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        login(&app, "change@example.org", FIXTURE_PASSWORD).await.0,
        401
    );
    assert_eq!(
        login(&app, "change@example.org", "a brand new secret")
            .await
            .0,
        200
    );
    // This session goes on; the other one is over.
    assert_eq!(
        post(
            &app,
            "/auth/refresh",
            json!({"refresh_token": here["refresh_token"]})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        post(
            &app,
            "/auth/refresh",
            json!({"refresh_token": elsewhere["refresh_token"]})
        )
        .await
        .0,
        401
    );
    assert!(
        audit_actions(&app)
            .await
            .contains(&"PASSWORD_CHANGE".to_owned())
    );
}

#[tokio::test]
pub(super) async fn the_current_password_cannot_be_guessed_without_limit() {
    let app = app_with(&[]).await;
    let id = staff(&app, "guess@example.org").await;
    let access = app.token_for(id).await;
    let change = |current: &'static str| {
        let (app, access) = (&app, access.clone());
        async move {
            post_auth(
                app,
                "/auth/password/change",
                &access,
                json!({"current_password": current, "new_password": "a brand new secret"}),
            )
            .await
        }
    };
    for _ in 0..5 {
        assert_eq!(change("a wrong guess 1").await.0, 400);
    }
    let (status, body) = change(FIXTURE_PASSWORD).await;
    assert_eq!(
        (status, error_id(&body)),
        (429, "HG-ACCOUNT-LOCKED"),
        "even the right password waits for the lock: {body}"
    );
    assert!(
        audit_actions(&app)
            .await
            .contains(&"PASSWORD_CHANGE_FAILED".to_owned())
    );
}

#[tokio::test]
pub(super) async fn password_reset_links_are_single_use_and_expire() {
    let app = app_with(&[]).await;
    let id = staff(&app, "reset@example.org").await;
    let before = login(&app, "reset@example.org", FIXTURE_PASSWORD).await.1["data"]["tokens"]["access_token"].as_str().unwrap().to_owned();

    let (status, _) = post(
        &app,
        "/auth/password/forgot",
        json!({"email": "ghost@example.org"}),
    )
    .await;
    assert_eq!(status, 202, "unknown addresses get the same answer");
    let (status, body) = post(
        &app,
        "/auth/password/forgot",
        json!({"email": "not an address"}),
    )
    .await;
    assert_eq!((status, error_id(&body)), (400, "HG-VALIDATION"));
    let (status, _) = post(
        &app,
        "/auth/password/forgot",
        json!({"email": "reset@example.org"}),
    )
    .await;
    assert_eq!(status, 202);
    let token = mailed_token(&app, "reset@example.org", 1).await;
    assert!(
        app.mails()
            .iter()
            .all(|m| !m.contains("To: ghost@example.org")),
        "an address without an account gets no e-mail"
    );
    let stored: i64 = sqlx::query_scalar(
        "select count(*) from auth_tokens where token_hash = sha256($1::text::bytea)",
    )
    .bind(&token)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(stored, 1, "the token is stored as its digest");

    let (status, body) = post(
        &app,
        "/auth/password/reset",
        json!({"token": token, "new_password": "short"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["details"]["fields"]["new_password"].is_string(),
        "names new_password: {body}"
    );
    let (status, body) = post(
        &app,
        "/auth/password/reset",
        json!({"token": token, "new_password": "reset and renewed"}),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = post(
        &app,
        "/auth/password/reset",
        json!({"token": token, "new_password": "reset and renewed again"}),
    )
    .await;
    assert_eq!((status, error_id(&body)), (409, "HG-LINK-USED"));
    assert_eq!(
        login(&app, "reset@example.org", "reset and renewed")
            .await
            .0,
        200
    );
    let (status, body) = get_auth(&app, Component::Auth, "/auth/me", &before).await;
    assert_eq!(
        (status, error_id(&body)),
        (401, "HG-TOKEN-REVOKED"),
        "tokens from before the reset must die"
    );

    post(
        &app,
        "/auth/password/forgot",
        json!({"email": "reset@example.org"}),
    )
    .await;
    let late = mailed_token(&app, "reset@example.org", 2).await;
    sqlx::query("update auth_tokens set expires_at = now() - interval '1 minute' where user_id = $1 and used_at is null")
        .bind(id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (status, body) = post(
        &app,
        "/auth/password/reset",
        json!({"token": late, "new_password": "too late for this"}),
    )
    .await;
    assert_eq!((status, error_id(&body)), (422, "HG-LINK-EXPIRED"));
    let (status, body) = post(
        &app,
        "/auth/password/reset",
        json!({"token": "nonsense", "new_password": "whatever it is 1"}),
    )
    .await;
    assert_eq!((status, error_id(&body)), (404, "HG-LINK-NOT-FOUND"));
}

#[tokio::test]
async fn account_e_mails_go_over_smtp_when_it_is_configured() {
    use hg_test_support::loopback::{SmtpServer, SmtpTls};
    let smtp = SmtpServer::start(SmtpTls::StartTls);
    let (url, ca) = (smtp.url(), smtp.certs.ca.display().to_string());
    let app = app_with(&[("SMTP_URL", url.as_str()), ("SMTP_CA_CERT", ca.as_str())]).await;
    staff(&app, "smtp.reset@example.org").await;
    let (status, _) = post(
        &app,
        "/auth/password/forgot",
        json!({"email": "smtp.reset@example.org"}),
    )
    .await;
    assert_eq!(status, 202);
    let got = smtp.wait_for(1, 20).await;
    assert_eq!(got[0].rcpt_tos, ["smtp.reset@example.org"]);
    assert!(got[0].tls && got[0].authenticated);
    let token = hg_test_support::token_in(&got[0].data);
    assert!(
        token.len() >= 32,
        "the one-time link arrives: {}",
        got[0].data
    );
    assert!(app.mails().is_empty(), "SMTP replaces the mail directory");
}
