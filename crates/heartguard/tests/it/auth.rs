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

#[tokio::test]
async fn staff_login_returns_the_token_pair_and_the_user_and_is_audited() {
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
async fn login_input_is_validated_field_by_field() {
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
async fn unknown_email_and_wrong_password_get_the_same_answer() {
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
async fn repeated_failures_lock_the_account_until_the_lock_expires() {
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
async fn attempt(app: &TestApp, path: &str, email: &str) -> (u16, String, String, Option<u64>) {
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
async fn unknown_emails_lock_out_exactly_like_accounts_do() {
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
async fn a_password_reset_request_does_the_same_work_for_any_address() {
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
async fn blocked_and_pending_accounts_cannot_log_in() {
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
async fn login_attempts_are_limited_per_address() {
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
async fn bcrypt_hashes_from_imported_data_work_once_and_are_upgraded() {
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

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_revokes_the_whole_family() {
    let app = app_with(&[]).await;
    staff(&app, "rot@example.org").await;
    let first = login(&app, "rot@example.org", FIXTURE_PASSWORD).await.1["data"]["tokens"].clone();
    let r1 = first["refresh_token"].as_str().unwrap();
    let (status, second) = post(&app, "/auth/refresh", json!({"refresh_token": r1})).await;
    assert_eq!(status, 200, "{second}");
    let r2 = second["data"]["tokens"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let a2 = second["data"]["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(r1, r2);
    assert_eq!(
        get_auth(&app, Component::Auth, "/auth/me", &a2).await.0,
        200
    );

    // Theft: the old token comes back.
    let (status, body) = post(&app, "/auth/refresh", json!({"refresh_token": r1})).await;
    assert_eq!((status, error_id(&body)), (401, "HG-REFRESH-REUSED"));
    // The newest of the family is dead too, and so are its access tokens.
    let (status, body) = post(&app, "/auth/refresh", json!({"refresh_token": r2})).await;
    assert_eq!((status, error_id(&body)), (401, "HG-REFRESH-REUSED"));
    let (status, body) = get_auth(&app, Component::Auth, "/auth/me", &a2).await;
    assert_eq!((status, error_id(&body)), (401, "HG-TOKEN-REVOKED"));
    assert!(
        audit_actions(&app)
            .await
            .contains(&"REFRESH_TOKEN_REUSE".to_owned())
    );

    let (status, body) = post(&app, "/auth/refresh", json!({"refresh_token": "made-up"})).await;
    assert_eq!((status, error_id(&body)), (401, "HG-REFRESH-INVALID"));
    let (status, _) = post(&app, "/auth/refresh", json!({})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn logout_makes_the_access_token_fail_at_once_on_another_component() {
    let app = app_with(&[]).await;
    staff(&app, "out@example.org").await;
    let tokens = login(&app, "out@example.org", FIXTURE_PASSWORD).await.1["data"]["tokens"].clone();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        get_auth(&app, Component::User, "/users/me", access).await.0,
        200
    );
    let resp = app
        .client
        .post(app.url(Component::Auth, "/auth/logout"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let (status, body) = get_auth(&app, Component::User, "/users/me", access).await;
    assert_eq!((status, error_id(&body)), (401, "HG-TOKEN-REVOKED"));
    let (status, _) = post(
        &app,
        "/auth/refresh",
        json!({"refresh_token": tokens["refresh_token"]}),
    )
    .await;
    assert_eq!(status, 401, "the refresh family survived logout");
    assert!(audit_actions(&app).await.contains(&"LOGOUT".to_owned()));
}

#[tokio::test]
async fn anonymous_callers_get_401_with_a_challenge() {
    let app = app_with(&[]).await;
    for path in ["/auth/me"] {
        let resp = app
            .client
            .get(app.url(Component::Auth, path))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        assert!(resp.headers().contains_key("www-authenticate"));
    }
    for path in [
        "/auth/logout",
        "/auth/password/change",
        "/auth/email/resend",
        "/auth/2fa/setup",
        "/auth/2fa/confirm",
        "/auth/2fa/disable",
    ] {
        let (status, body) = post(&app, path, json!({})).await;
        assert_eq!(
            (status, error_id(&body)),
            (401, "HG-UNAUTHENTICATED"),
            "{path}"
        );
    }
    let resp = app
        .client
        .get(app.url(Component::User, "/users/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

fn claims_json(sub: Uuid, exp_offset: i64, aud: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": sub, "typ": "user", "roles": ["superadmin"], "orgs": {}, "jti": Uuid::new_v4(),
           "iat": now, "exp": now + exp_offset, "iss": "heartguard", "aud": aud, "amr": ["pwd"]})
}

#[tokio::test]
async fn forged_expired_and_misdirected_tokens_are_401() {
    let app = app_with(&[]).await;
    let sub = staff(&app, "forge@example.org").await;
    let (private_path, public_path) = test_token_keys();
    let ours = EncodingKey::from_ed_pem(&std::fs::read(&private_path).unwrap()).unwrap();
    let (other_private, _) = hg_platform::auth::generate_keypair().unwrap();
    let other = EncodingKey::from_ed_pem(other_private.as_bytes()).unwrap();
    let eddsa = Header::new(Algorithm::EdDSA);

    let valid =
        jsonwebtoken::encode(&eddsa, &claims_json(sub, 600, "heartguard-api"), &ours).unwrap();
    assert_eq!(
        get_auth(&app, Component::Auth, "/auth/me", &valid).await.0,
        200,
        "the control token must pass"
    );

    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let unsigned = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims_json(sub, 600, "heartguard-api"))
    );
    let hs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims_json(sub, 600, "heartguard-api"),
        &EncodingKey::from_secret(&std::fs::read(&public_path).unwrap()).unwrap(),
    )
    .unwrap();
    let cases = [
        (
            "another key",
            jsonwebtoken::encode(&eddsa, &claims_json(sub, 600, "heartguard-api"), &other).unwrap(),
            "HG-TOKEN-INVALID",
        ),
        ("alg none", unsigned, "HG-TOKEN-INVALID"),
        ("HS256 with the public key", hs256, "HG-TOKEN-INVALID"),
        (
            "expired",
            jsonwebtoken::encode(&eddsa, &claims_json(sub, -120, "heartguard-api"), &ours).unwrap(),
            "HG-TOKEN-EXPIRED",
        ),
        (
            "wrong audience",
            jsonwebtoken::encode(&eddsa, &claims_json(sub, 600, "someone-else"), &ours).unwrap(),
            "HG-TOKEN-INVALID",
        ),
        ("garbage", "a.b.c".to_owned(), "HG-TOKEN-INVALID"),
    ];
    for (what, token, id) in cases {
        let (status, body) = get_auth(&app, Component::User, "/users/me", &token).await;
        assert_eq!((status, error_id(&body)), (401, id), "{what}");
    }
}

#[tokio::test]
async fn jwks_publishes_the_key_that_verifies_issued_tokens() {
    let app = app_with(&[]).await;
    staff(&app, "jwks@example.org").await;
    let jwks: Value = app
        .client
        .get(app.url(Component::Auth, "/auth/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["crv"].as_str(),
            key["alg"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    let access =
        login(&app, "jwks@example.org", FIXTURE_PASSWORD).await.1["data"]["tokens"]["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
    let decoding =
        jsonwebtoken::DecodingKey::from_ed_components(key["x"].as_str().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["heartguard-api"]);
    let data = jsonwebtoken::decode::<Value>(&access, &decoding, &validation).unwrap();
    assert_eq!(data.header.kid.as_deref(), key["kid"].as_str());
    assert_eq!(data.claims["typ"], "user");
}

#[tokio::test]
async fn changing_the_password_checks_the_current_one_and_ends_other_sessions() {
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
    let (status, _) = post_auth(
        &app,
        "/auth/password/change",
        access,
        json!({"current_password": FIXTURE_PASSWORD}),
    )
    .await;
    assert_eq!(status, 400);

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
async fn the_current_password_cannot_be_guessed_without_limit() {
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
async fn password_reset_links_are_single_use_and_expire() {
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
async fn patients_register_verify_their_email_and_then_log_in() {
    let app = app_with(&[]).await;
    let org = fixtures::org(&app.db.pool, "SELF-REG").await;
    fixtures::org(&app.db.pool, "CLOSED").await;
    sqlx::query("update organizations set allow_patient_registration = true where id = $1")
        .bind(org)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let body = json!({"org_code": "self-reg", "name": "Paula Paciente", "email": "paula@example.org", "password": "heart rhythm 42", "birthdate": "1980-04-02", "sex": "F"});

    let (status, v) = post(&app, "/auth/patient/register", json!({"org_code": "CLOSED", "name": "X", "email": "x@example.org", "password": "heart rhythm 42"})).await;
    assert_eq!((status, error_id(&v)), (403, "HG-REGISTRATION-CLOSED"));
    let mut bad = body.clone();
    bad["sex"] = json!("Z");
    assert_eq!(post(&app, "/auth/patient/register", bad).await.0, 400);
    let mut bad = body.clone();
    bad["birthdate"] = json!("not a date");
    assert_eq!(post(&app, "/auth/patient/register", bad).await.0, 400);

    let (status, first) = post(&app, "/auth/patient/register", body.clone()).await;
    assert_eq!(status, 202, "{first}");
    // Registering again answers the same: the address's owner learns by e-mail that it has an
    // account; the one registering learns nothing.
    let (status, again) = post(&app, "/auth/patient/register", body.clone()).await;
    assert_eq!((status, &again["data"]), (202, &first["data"]));
    assert!(
        app.nth_mail_to("paula@example.org", 2)
            .await
            .contains("Ya tienes una cuenta")
    );

    let creds = json!({"email": "paula@example.org", "password": "heart rhythm 42"});
    let (status, v) = post(&app, "/auth/patient/login", creds.clone()).await;
    assert_eq!((status, error_id(&v)), (403, "HG-ACCOUNT-PENDING"));
    let token = mailed_token(&app, "paula@example.org", 1).await;
    let (status, v) = post(&app, "/auth/email/verify", json!({"token": token})).await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = post(&app, "/auth/email/verify", json!({"token": token})).await;
    assert_eq!((status, error_id(&v)), (409, "HG-LINK-USED"));

    let (status, v) = post(&app, "/auth/patient/login", creds.clone()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["patient"]["org_code"], "SELF-REG");
    // Now that the address signs in, registering it elsewhere creates nothing.
    let other = fixtures::org(&app.db.pool, "OTHER-REG").await;
    sqlx::query("update organizations set allow_patient_registration = true where id = $1")
        .bind(other)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let mut elsewhere = body.clone();
    elsewhere["org_code"] = json!("other-reg");
    assert_eq!(post(&app, "/auth/patient/register", elsewhere).await.0, 202);
    let rows: i64 =
        sqlx::query_scalar("select count(*) from patients where email = 'paula@example.org'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(rows, 1);
    let access = v["data"]["tokens"]["access_token"].as_str().unwrap();
    let (status, me) = get_auth(&app, Component::Auth, "/auth/me", access).await;
    assert_eq!(
        (status, me["data"]["type"].as_str()),
        (200, Some("patient"))
    );
    let (status, v) = post_auth(&app, "/auth/email/resend", access, json!({})).await;
    assert_eq!((status, error_id(&v)), (409, "HG-EMAIL-ALREADY-VERIFIED"));
    let (status, _) = post_auth(&app, "/auth/2fa/setup", access, json!({})).await;
    assert_eq!(status, 403, "patients do not use TOTP");
}

#[tokio::test]
async fn staff_without_a_verified_address_can_ask_for_a_new_link() {
    let app = app_with(&[]).await;
    let id = staff(&app, "resend@example.org").await;
    let access = app.token_for(id).await;
    sqlx::query("update users set email_verified_at = null where id = $1")
        .bind(id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (status, v) = post_auth(&app, "/auth/email/resend", &access, json!({})).await;
    assert_eq!(status, 202, "{v}");
    let token = mailed_token(&app, "resend@example.org", 1).await;
    let (status, v) = post(&app, "/auth/email/verify", json!({"token": token})).await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test]
async fn staff_self_registration_is_off_unless_enabled() {
    let app = app_with(&[]).await;
    let (status, v) = post(
        &app,
        "/auth/register",
        json!({"name": "N", "email": "n@example.org", "password": "long enough pw 1"}),
    )
    .await;
    assert_eq!((status, error_id(&v)), (403, "HG-SIGNUP-DISABLED"));

    let open = app_with(&[("ALLOW_STAFF_SIGNUP", "true")]).await;
    let (status, v) = post(
        &open,
        "/auth/register",
        json!({"name": "Nora", "email": "nora@example.org"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(v["error"]["details"]["fields"]["password"].is_string());
    let (status, v) = post(
        &open,
        "/auth/register",
        json!({"name": "Nora", "email": "nora@example.org", "password": "long enough pw 1"}),
    )
    .await;
    assert_eq!(status, 202, "{v}");
    let (status, again) = post(
        &open,
        "/auth/register",
        json!({"name": "Nora", "email": "NORA@example.org", "password": "long enough pw 1"}),
    )
    .await;
    assert_eq!(
        (status, &again["data"]),
        (202, &v["data"]),
        "the same answer"
    );
    assert!(
        open.nth_mail_to("nora@example.org", 2)
            .await
            .contains("Ya tienes una cuenta")
    );
    assert_eq!(
        error_id(&login(&open, "nora@example.org", "long enough pw 1").await.1),
        "HG-ACCOUNT-PENDING"
    );
}

#[tokio::test]
async fn an_invitation_creates_the_account_and_membership_once_and_not_after_expiry() {
    let app = app_with(&[]).await;
    let org = fixtures::org(&app.db.pool, "INVITING").await;
    let token =
        fixtures::invitation(&app.db.pool, org, "new.hire@example.org", "org_admin", 48).await;

    let (status, v) = post(&app, "/auth/invitations/accept", json!({"token": token})).await;
    assert_eq!(status, 400, "a new account needs a name and password: {v}");
    let (status, v) = post(
        &app,
        "/auth/invitations/accept",
        json!({"token": token, "name": "New Hire", "password": "brand new hire 1"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["data"]["account_created"], true);
    let (status, v) = post(
        &app,
        "/auth/invitations/accept",
        json!({"token": token, "name": "New Hire", "password": "brand new hire 1"}),
    )
    .await;
    assert_eq!((status, error_id(&v)), (409, "HG-INVITATION-USED"));
    let body = login(&app, "new.hire@example.org", "brand new hire 1").await;
    assert_eq!(body.0, 200);
    assert_eq!(
        body.1["data"]["user"]["organizations"][0]["role_code"],
        "org_admin"
    );

    // An existing account just joins.
    let existing = staff(&app, "old.hand@example.org").await;
    let token = fixtures::invitation(&app.db.pool, org, "Old.Hand@example.org", "viewer", 48).await;
    let (status, v) = post(&app, "/auth/register", json!({"invitation_token": token})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["user_id"], existing.to_string());

    let expired = fixtures::invitation(&app.db.pool, org, "late@example.org", "viewer", 1).await;
    sqlx::query("update org_invitations set created_at = now() - interval '2 hours', expires_at = now() - interval '1 hour' where email = 'late@example.org'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (status, v) = post(
        &app,
        "/auth/invitations/accept",
        json!({"token": expired, "name": "L", "password": "late comer pw 1"}),
    )
    .await;
    assert_eq!((status, error_id(&v)), (422, "HG-INVITATION-EXPIRED"));
    let revoked = fixtures::invitation(&app.db.pool, org, "nope@example.org", "viewer", 5).await;
    sqlx::query("update org_invitations set revoked_at = now() where email = 'nope@example.org'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (status, v) = post(
        &app,
        "/auth/invitations/accept",
        json!({"token": revoked, "name": "N", "password": "revoked one pw 1"}),
    )
    .await;
    assert_eq!((status, error_id(&v)), (422, "HG-INVITATION-REVOKED"));
    let (status, v) = post(
        &app,
        "/auth/invitations/accept",
        json!({"token": "unknown"}),
    )
    .await;
    assert_eq!((status, error_id(&v)), (404, "HG-INVITATION-NOT-FOUND"));
    assert!(
        audit_actions(&app)
            .await
            .contains(&"INVITATION_ACCEPTED".to_owned())
    );
}

#[tokio::test]
async fn two_concurrent_acceptances_of_one_invitation_make_one_membership() {
    let app = app_with(&[]).await;
    let org = fixtures::org(&app.db.pool, "RACE").await;
    let token = fixtures::invitation(&app.db.pool, org, "racer@example.org", "viewer", 48).await;
    let body = json!({"token": token, "name": "Racer", "password": "racing along 1"});
    let (a, b) = tokio::join!(
        post(&app, "/auth/invitations/accept", body.clone()),
        post(&app, "/auth/invitations/accept", body.clone())
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{a:?} {b:?}");
    let users: i64 =
        sqlx::query_scalar("select count(*) from users where email = 'racer@example.org'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(users, 1);
}

fn totp_code(secret_b32: &str, offset_steps: i64) -> String {
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
async fn totp_is_enrolled_confirmed_required_at_login_and_not_replayable() {
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

    let (status, _) = post_auth(
        &app,
        "/auth/2fa/disable",
        &access,
        json!({"password": "wrong password"}),
    )
    .await;
    assert_eq!(status, 400);
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
async fn a_superadmin_without_totp_gets_no_superadmin_rights_when_2fa_is_required() {
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
async fn login_failures_are_audited_with_the_client_address_and_no_password() {
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
