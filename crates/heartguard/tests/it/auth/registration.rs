//! Registration: patients, staff self-registration, e-mail verification, invitations.

use super::*;

#[tokio::test]
pub(super) async fn patients_register_verify_their_email_and_then_log_in() {
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
pub(super) async fn staff_without_a_verified_address_can_ask_for_a_new_link() {
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
pub(super) async fn staff_self_registration_is_off_unless_enabled() {
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
pub(super) async fn an_invitation_creates_the_account_and_membership_once_and_not_after_expiry() {
    let app = app_with(&[]).await;
    let org = fixtures::org(&app.db.pool, "INVITING").await;
    let token =
        fixtures::invitation(&app.db.pool, org, "new.hire@example.org", "org_admin", 48).await;

    let (status, v) = post(&app, "/auth/invitations/accept", json!({"token": token})).await;
    assert_eq!(status, 400, "a new account needs a name and password: {v}");
    assert!(
        v["error"]["details"]["fields"]["name"].is_string(),
        "names name: {v}"
    );
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
pub(super) async fn two_concurrent_acceptances_of_one_invitation_make_one_membership() {
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
