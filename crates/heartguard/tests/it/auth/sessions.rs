//! Sessions: refresh rotation and reuse detection, logout, anonymous callers, forged tokens, the JWKS.

use super::*;

#[tokio::test]
pub(super) async fn refresh_rotates_and_a_reused_token_revokes_the_whole_family() {
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
    let (status, body) = post(&app, "/auth/refresh", json!({})).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["details"]["fields"]["refresh_token"].is_string(),
        "names refresh_token: {body}"
    );
}

#[tokio::test]
pub(super) async fn logout_makes_the_access_token_fail_at_once_on_another_component() {
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
pub(super) async fn anonymous_callers_get_401_with_a_challenge() {
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

pub(super) fn claims_json(sub: Uuid, exp_offset: i64, aud: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": sub, "typ": "user", "roles": ["superadmin"], "orgs": {}, "jti": Uuid::new_v4(),
           "iat": now, "exp": now + exp_offset, "iss": "heartguard", "aud": aud, "amr": ["pwd"]})
}

#[tokio::test]
pub(super) async fn forged_expired_and_misdirected_tokens_are_401() {
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
pub(super) async fn jwks_publishes_the_key_that_verifies_issued_tokens() {
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
