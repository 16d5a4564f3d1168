//! Staff and patient login: answers, validation, lockout and enumeration, blocked accounts, limits, legacy hashes.

use super::*;

#[tokio::test]
pub(super) async fn staff_login_returns_the_token_pair_and_the_user_and_is_audited() {
    let app = app_with(&[]).await;
    let id = staff(&app, "clara@example.org").await;
    let (status, body) = login(&app, "Clara@Example.org", FIXTURE_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    assert_eq!(data["tokens"]["token_type"], "Bearer");
    assert_eq!(data["tokens"]["expires_in"], 900);
    assert_eq!(data["tokens"]["refresh_token"].as_str().unwrap().len(), 43);
    assert_eq!(data["user"]["id"], id.to_string());
    assert_eq!(data["user"]["roles"], json!(["clinician"]));
    let org = &data["user"]["organizations"][0];
    assert_eq!(org["role_code"], "org_user");
    assert!(org["code"].as_str().unwrap().starts_with("ORG-"));

    let token = data["tokens"]["access_token"].as_str().unwrap();
    let (status, me) = get_auth(&app, Component::Auth, "/auth/me", token).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["data"]["type"], "user");
    let perms = &me["data"]["permissions"];
    assert!(
        perms["global"]
            .as_array()
            .unwrap()
            .contains(&json!("patients.read"))
    );
    let org_id = org["id"].as_str().unwrap();
    assert!(
        perms["per_org"][org_id]
            .as_array()
            .unwrap()
            .contains(&json!("alerts.manage"))
    );

    let entry: Value = sqlx::query_scalar(
        "select payload from outbox_events where payload->>'action' = 'LOGIN_SUCCESS'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(entry["ip"], "127.0.0.1");
    assert_eq!(entry["actor_id"], id.to_string());
}

#[tokio::test]
pub(super) async fn login_input_is_validated_field_by_field() {
    let app = app_with(&[]).await;
    for (body, field) in [
        (json!({"password": "x"}), "email"),
        (json!({"email": "a@b.org"}), "password"),
        (json!({"email": "", "password": "xxxxxxxxxx"}), "email"),
        (json!({"email": 5, "password": "xxxxxxxxxx"}), "email"),
    ] {
        let (status, v) = post(&app, "/auth/login", body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(error_id(&v), "HG-VALIDATION");
        assert!(
            v["error"]["details"]["fields"][field].is_string(),
            "{field}: {v}"
        );
    }
    let resp = app
        .client
        .post(app.url(Component::Auth, "/auth/login"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
pub(super) async fn unknown_email_and_wrong_password_get_the_same_answer() {
    let app = app_with(&[]).await;
    staff(&app, "known@example.org").await;
    let (s1, unknown) = login(&app, "nobody@example.org", FIXTURE_PASSWORD).await;
    let (s2, wrong) = login(&app, "known@example.org", "not-the-password").await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(error_id(&unknown), "HG-INVALID-CREDENTIALS");
    assert_eq!(unknown["error"]["message"], wrong["error"]["message"]);
    assert_eq!(error_id(&unknown), error_id(&wrong));

    let xml = app
        .client
        .post(app.url(Component::Auth, "/auth/login"))
        .header("accept", "application/xml")
        .json(&json!({"email": "nobody@example.org", "password": "whatever123"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(xml.contains("<id>HG-INVALID-CREDENTIALS</id>"), "{xml}");
}

#[tokio::test]
pub(super) async fn repeated_failures_lock_the_account_until_the_lock_expires() {
    let app = app_with(&[]).await;
    let id = staff(&app, "lock@example.org").await;
    for _ in 0..5 {
        assert_eq!(
            login(&app, "lock@example.org", "wrong-password").await.0,
            401
        );
    }
    let (status, body) = login(&app, "lock@example.org", FIXTURE_PASSWORD).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(error_id(&body), "HG-ACCOUNT-LOCKED");
    let until: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("select locked_until from users where id = $1")
            .bind(id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let minutes = (until - chrono::Utc::now()).num_minutes();
    assert!((13..=15).contains(&minutes), "{minutes}");
    assert!(
        audit_actions(&app)
            .await
            .contains(&"ACCOUNT_LOCKED".to_owned())
    );

    // The lock expires.
    sqlx::query("update users set locked_until = now() - interval '1 second' where id = $1")
        .bind(id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(
        login(&app, "lock@example.org", FIXTURE_PASSWORD).await.0,
        200
    );
    let failures: i32 = sqlx::query_scalar("select failed_login_count from users where id = $1")
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(failures, 0);
}

/// Logs `email` in as staff or patient; returns status, error id, message and `Retry-After`.
pub(super) async fn attempt(
    app: &TestApp,
    path: &str,
    email: &str,
) -> (u16, String, String, Option<u64>) {
    let resp = app
        .client
        .post(app.url(Component::Auth, path))
        .json(&json!({"email": email, "password": "not the password 1"}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body: Value = resp.json().await.unwrap();
    (
        status,
        error_id(&body).to_owned(),
        body["error"]["message"].as_str().unwrap_or("").to_owned(),
        retry,
    )
}

#[tokio::test]
pub(super) async fn unknown_emails_lock_out_exactly_like_accounts_do() {
    let app = app_with(&[("LOGIN_RATE_PER_MINUTE", "1000")]).await;
    staff(&app, "real@example.org").await;
    let org = fixtures::org(&app.db.pool, "LOCK-P").await;
    fixtures::patient_login(&app.db.pool, org, "real.patient@example.org").await;
    for (path, known, unknown) in [
        ("/auth/login", "real@example.org", "ghost@example.org"),
        (
            "/auth/patient/login",
            "real.patient@example.org",
            "ghost.patient@example.org",
        ),
    ] {
        for i in 1..=7 {
            let k = attempt(&app, path, known).await;
            let u = attempt(&app, path, unknown).await;
            assert_eq!((k.0, &k.1, &k.2), (u.0, &u.1, &u.2), "{path}, attempt {i}");
            if i <= 5 {
                assert_eq!(k.1, "HG-INVALID-CREDENTIALS", "{path}, attempt {i}");
            } else {
                assert_eq!(k.1, "HG-ACCOUNT-LOCKED", "{path}, attempt {i}");
                let (kr, ur) = (k.3.unwrap(), u.3.unwrap());
                assert!(
                    kr.abs_diff(ur) <= 5 && (800..=900).contains(&kr),
                    "{kr} {ur}"
                );
            }
        }
    }
    let digests: i64 = sqlx::query_scalar(
        "select count(*) from login_throttle where email_digest = sha256('ghost@example.org'::bytea)",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(digests, 1, "unknown e-mails are kept as digests only");
}

#[tokio::test]
pub(super) async fn a_password_reset_request_does_the_same_work_for_any_address() {
    let app = app_with(&[]).await;
    staff(&app, "owner@example.org").await;
    let written = |app: &TestApp| {
        let pool = app.db.pool.clone();
        async move {
            sqlx::query_as::<_, (String, Option<String>)>(
                "select event_type, payload->>'action' from outbox_events order by created_at, id",
            )
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    let before = written(&app).await.len();
    let (status, known) = post(
        &app,
        "/auth/password/forgot",
        json!({"email": "owner@example.org"}),
    )
    .await;
    assert_eq!(status, 202);
    let after_known = written(&app).await;
    let (status, unknown) = post(
        &app,
        "/auth/password/forgot",
        json!({"email": "nobody@example.org"}),
    )
    .await;
    assert_eq!(status, 202);
    let after_unknown = written(&app).await;
    assert_eq!(known["data"], unknown["data"]);
    let known_rows = &after_known[before..];
    let unknown_rows = &after_unknown[after_known.len()..];
    assert_eq!(
        known_rows, unknown_rows,
        "the request writes the same rows whether or not the address has an account"
    );
    assert!(!known_rows.is_empty());
    // Only the account's owner gets an e-mail.
    app.mail_to("owner@example.org").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        app.mails()
            .iter()
            .all(|m| !m.contains("nobody@example.org"))
    );
}

#[tokio::test]
pub(super) async fn blocked_and_pending_accounts_cannot_log_in() {
    let app = app_with(&[]).await;
    let blocked = staff(&app, "blocked@example.org").await;
    let pending = staff(&app, "pending@example.org").await;
    sqlx::query("update users set status = 'blocked' where id = $1")
        .bind(blocked)
        .execute(&app.db.pool)
        .await
        .unwrap();
    sqlx::query("update users set status = 'pending' where id = $1")
        .bind(pending)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (status, body) = login(&app, "blocked@example.org", FIXTURE_PASSWORD).await;
    assert_eq!((status, error_id(&body)), (403, "HG-ACCOUNT-BLOCKED"));
    let (status, body) = login(&app, "pending@example.org", FIXTURE_PASSWORD).await;
    assert_eq!((status, error_id(&body)), (403, "HG-ACCOUNT-PENDING"));
    // A blocked account's wrong password still gets the generic answer.
    assert_eq!(
        error_id(&login(&app, "blocked@example.org", "wrong-password").await.1),
        "HG-INVALID-CREDENTIALS"
    );
}

#[tokio::test]
pub(super) async fn login_attempts_are_limited_per_address() {
    let app = app_with(&[("LOGIN_RATE_PER_MINUTE", "3")]).await;
    staff(&app, "rate@example.org").await;
    for _ in 0..3 {
        assert_eq!(
            login(&app, "rate@example.org", "wrong-password").await.0,
            401
        );
    }
    let (status, body) = login(&app, "rate@example.org", FIXTURE_PASSWORD).await;
    assert_eq!((status, error_id(&body)), (429, "HG-RATE-LIMITED"));
}

#[tokio::test]
pub(super) async fn bcrypt_hashes_from_imported_data_work_once_and_are_upgraded() {
    let app = app_with(&[]).await;
    let id = staff(&app, "legacy@example.org").await;
    let legacy = bcrypt::hash("legacy password 1", 4).unwrap();
    sqlx::query("update users set password_hash = $2 where id = $1")
        .bind(id)
        .bind(legacy)
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(
        login(&app, "legacy@example.org", "legacy password 1")
            .await
            .0,
        200
    );
    let hash: String = sqlx::query_scalar("select password_hash from users where id = $1")
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert_eq!(
        login(&app, "legacy@example.org", "legacy password 1")
            .await
            .0,
        200
    );
}
