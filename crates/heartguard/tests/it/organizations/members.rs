//! Members and invitations: joining only by accepted invitation, roles, removal, the last admin kept.

use super::*;

#[tokio::test]
pub(super) async fn members_are_added_re_roled_and_removed_keeping_one_admin() {
    let w = world().await;
    let a = w.org_a;
    let newcomer = fixtures::user(&w.app.db.pool, "newcomer@example.org", None).await;
    let (status, v) = w
        .post(
            &format!("/organizations/{a}/members"),
            &w.admin_a,
            json!({"email": "NEWCOMER@example.org", "org_role": "viewer"}),
        )
        .await;
    assert_eq!(status, 202, "adding someone invites them: {v}");
    assert_eq!(v["data"]["status"], "pending");
    assert!(v["data"].get("token").is_none(), "{v}");
    let member_count = |w: &World| {
        let pool = w.app.db.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "select count(*) from user_org_membership where org_id = $1 and user_id = $2",
            )
            .bind(a)
            .bind(newcomer)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    assert_eq!(member_count(&w).await, 0, "no membership before consent");
    let token = hg_test_support::token_in(&w.app.mail_to("newcomer@example.org").await);
    let (status, v) = w
        .request(Method::POST, "/auth/invitations/accept")
        .on(Component::Auth)
        .json(json!({"token": token}))
        .send()
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["user_id"], newcomer.to_string());
    assert_eq!(member_count(&w).await, 1);
    let (status, v) = w
        .post(
            &format!("/organizations/{a}/members"),
            &w.admin_a,
            json!({"user_id": newcomer, "org_role": "viewer"}),
        )
        .await;
    assert_eq!((status, error_id(&v)), (409, "HG-ALREADY-MEMBER"));
    for (body, field) in [
        (
            json!({"user_id": newcomer, "org_role": "emperor"}),
            "org_role",
        ),
        (json!({"org_role": "viewer"}), "user_id"),
        (
            json!({"user_id": "not-a-uuid", "org_role": "viewer"}),
            "user_id",
        ),
        (
            json!({"email": "not an address", "org_role": "viewer"}),
            "email",
        ),
        // Only users the caller can already see are named by id: another organization's admin
        // is not.
        (
            json!({"user_id": w.admin_b.id, "org_role": "viewer"}),
            "user_id",
        ),
    ] {
        let (status, v) = w
            .post(
                &format!("/organizations/{a}/members"),
                &w.admin_a,
                body.clone(),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert!(names_field(&v, field), "{field}: {v}");
    }
    let (status, _) = w
        .post(
            &format!("/organizations/{a}/members"),
            &w.doctor_a,
            json!({"user_id": newcomer, "org_role": "viewer"}),
        )
        .await;
    assert_eq!(status, 403, "only org admins manage members");

    let (status, list) = w
        .get(
            &format!("/organizations/{a}/members?org_role=viewer"),
            &w.doctor_a,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["meta"]["total"], 2, "viewer_a and the newcomer");

    let (status, v) = w
        .patch(
            &format!("/organizations/{a}/members/{newcomer}"),
            &w.admin_a,
            json!({"org_role": "org_admin"}),
        )
        .await;
    assert_eq!(
        (status, v["data"]["org_role"].as_str()),
        (200, Some("org_admin"))
    );
    // Demoting the last admin is refused; with two admins it is fine.
    let (status, _) = w
        .patch(
            &format!("/organizations/{a}/members/{}", w.admin_a.id),
            &w.admin_a,
            json!({"org_role": "viewer"}),
        )
        .await;
    assert_eq!(status, 200);
    let newcomer_token = w.app.token_for(newcomer).await;
    let (status, v) = w
        .patch(
            &format!("/organizations/{a}/members/{newcomer}"),
            &newcomer_token,
            json!({"org_role": "viewer"}),
        )
        .await;
    assert_eq!((status, error_id(&v)), (409, "HG-LAST-ORG-ADMIN"));
    let (status, v) = w
        .delete(
            &format!("/organizations/{a}/members/{newcomer}"),
            &newcomer_token,
        )
        .await;
    assert_eq!((status, error_id(&v)), (409, "HG-LAST-ORG-ADMIN"));
    assert_eq!(
        w.delete(
            &format!("/organizations/{a}/members/{}", w.doctor_a.id),
            &newcomer_token
        )
        .await
        .0,
        204
    );
    assert_eq!(
        w.delete(
            &format!("/organizations/{a}/members/{}", w.doctor_a.id),
            &newcomer_token
        )
        .await
        .0,
        404
    );
    let actions: Vec<String> = sqlx::query_scalar(
        "select payload->>'action' from outbox_events where event_type = 'audit.recorded'",
    )
    .fetch_all(&w.app.db.pool)
    .await
    .unwrap();
    for a in [
        "INVITATION_CREATE",
        "INVITATION_ACCEPTED",
        "MEMBER_ROLE_CHANGE",
        "MEMBER_REMOVE",
    ] {
        assert!(actions.contains(&a.to_owned()), "{a}");
    }
}

#[tokio::test]
pub(super) async fn adding_someone_needs_their_consent_and_tells_nothing_about_their_account() {
    let w = world().await;
    let a = w.org_a;
    let mut answers = Vec::new();
    // Another tenant's admin, and an address without an account.
    for email in ["admin.b@example.org", "nobody.here@example.org"] {
        let (status, v) = w
            .post(
                &format!("/organizations/{a}/members"),
                &w.admin_a,
                json!({"email": email, "org_role": "org_admin"}),
            )
            .await;
        assert_eq!(status, 202, "{v}");
        let mut keys: Vec<String> = v["data"].as_object().unwrap().keys().cloned().collect();
        keys.sort();
        answers.push((
            keys,
            v["data"]["status"].clone(),
            v["data"]["org_role"].clone(),
        ));
    }
    assert_eq!(answers[0], answers[1], "the same answer either way");
    let joined: i64 = sqlx::query_scalar(
        "select count(*) from user_org_membership where org_id = $1 and user_id = $2",
    )
    .bind(a)
    .bind(w.admin_b.id)
    .fetch_one(&w.app.db.pool)
    .await
    .unwrap();
    assert_eq!(joined, 0, "nobody is added without accepting");
    // The invited admin's session is untouched: an add no longer logs anyone out.
    let (status, _) = w
        .get(&format!("/organizations/{}", w.org_b), &w.admin_b)
        .await;
    assert_eq!(status, 200);
    // The link goes to the invited address only, never through the outbox.
    let token = hg_test_support::token_in(&w.app.mail_to("admin.b@example.org").await);
    let leaked: i64 = sqlx::query_scalar(
        "select count(*) from outbox_events where strpos(payload::text, $1) > 0",
    )
    .bind(&token)
    .fetch_one(&w.app.db.pool)
    .await
    .unwrap();
    assert_eq!(leaked, 0);
}

#[tokio::test]
pub(super) async fn a_role_change_takes_effect_on_the_next_request() {
    let w = world().await;
    let a = w.org_a;
    let (status, _) = w
        .get(&format!("/organizations/{a}/members"), &w.doctor_a)
        .await;
    assert_eq!(status, 200);
    w.delete(
        &format!("/organizations/{a}/members/{}", w.doctor_a.id),
        &w.admin_a,
    )
    .await;
    let (status, v) = w
        .get(&format!("/organizations/{a}/members"), &w.doctor_a)
        .await;
    assert_eq!((status, error_id(&v)), (401, "HG-TOKEN-REVOKED"));
}

#[tokio::test]
pub(super) async fn invitations_show_their_token_once_derive_status_and_can_be_revoked() {
    let w = world().await;
    let a = w.org_a;
    let (status, v) = w
        .post(
            &format!("/organizations/{a}/invitations"),
            &w.admin_a,
            json!({"email": "invitee@example.org", "org_role": "org_user", "ttl_hours": 24}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(v["data"]["status"], "pending");
    assert!(
        v["data"].get("token").is_none() && v["data"].get("link").is_none(),
        "the inviting admin never sees the link: {v}"
    );
    let event: Value =
        sqlx::query_scalar("select payload from outbox_events where event_type = 'user.invited'")
            .fetch_one(&w.app.db.pool)
            .await
            .unwrap();
    assert_eq!(
        event,
        json!({"invitation_id": id}),
        "the event carries a reference only"
    );
    let mail = w.app.mail_to("invitee@example.org").await;
    assert!(mail.contains("Organization ORG-A"), "{mail}");
    let token = hg_test_support::token_in(&mail);

    for (body, field) in [
        (json!({"email": "bad", "org_role": "viewer"}), "email"),
        (
            json!({"email": "i@example.org", "org_role": "king"}),
            "org_role",
        ),
        (
            json!({"email": "i@example.org", "org_role": "viewer", "ttl_hours": 0}),
            "ttl_hours",
        ),
        (
            json!({"email": "i@example.org", "org_role": "viewer", "ttl_hours": 721}),
            "ttl_hours",
        ),
    ] {
        let (status, v) = w
            .post(
                &format!("/organizations/{a}/invitations"),
                &w.admin_a,
                body.clone(),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert!(names_field(&v, field), "{field}: {v}");
    }

    let (status, list) = w
        .get(&format!("/organizations/{a}/invitations"), &w.admin_a)
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["data"][0]["status"], "pending");
    assert!(
        list["data"][0].get("token").is_none(),
        "the token is shown only once"
    );
    let (status, _) = w
        .get(&format!("/organizations/{a}/invitations"), &w.doctor_a)
        .await;
    assert_eq!(status, 403);

    let (status, v) = w
        .delete(&format!("/organizations/{a}/invitations/{id}"), &w.admin_a)
        .await;
    assert_eq!(
        (status, v["data"]["status"].as_str()),
        (200, Some("revoked"))
    );
    let (_, list) = w
        .get(
            &format!("/organizations/{a}/invitations?status=revoked"),
            &w.admin_a,
        )
        .await;
    assert_eq!(list["meta"]["total"], 1);
    let (status, v) = w
        .request(Method::POST, "/auth/invitations/accept")
        .on(Component::Auth)
        .json(json!({"token": token, "name": "I", "password": "invited person 1"}))
        .send()
        .await;
    assert_eq!((status, error_id(&v)), (422, "HG-INVITATION-REVOKED"));
    assert_eq!(
        w.delete(
            &format!("/organizations/{a}/invitations/{}", Uuid::new_v4()),
            &w.admin_a
        )
        .await
        .0,
        404
    );
}
