//! The organization component: organizations, members, invitations, statistics, care teams — success,
//! validation, anonymous 401, other organizations invisible (404 / absent from lists), envelope.

use hg_platform::Component;
use hg_test_support::{TestApp, fixtures};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{call, error_id, names_field};

const ORG: Component = Component::Organization;

/// Two organizations with an admin each, a clinician in A, and a superadmin.
struct World {
    app: TestApp,
    org_a: Uuid,
    org_b: Uuid,
    admin_a: String,
    admin_a_id: Uuid,
    admin_b: String,
    admin_b_id: Uuid,
    clinician_a: String,
    clinician_a_id: Uuid,
    root: String,
}

async fn world() -> World {
    let app = TestApp::builder()
        .with(ORG)
        .with(Component::Auth)
        .with(Component::Notification)
        .spawn()
        .await;
    let pool = &app.db.pool;
    let org_a = fixtures::org(pool, "ORG-A").await;
    let org_b = fixtures::org(pool, "ORG-B").await;
    let admin_a_id = fixtures::user(pool, "admin.a@example.org", None).await;
    fixtures::membership(pool, org_a, admin_a_id, "org_admin").await;
    let admin_b_id = fixtures::user(pool, "admin.b@example.org", None).await;
    fixtures::membership(pool, org_b, admin_b_id, "org_admin").await;
    let clinician_a_id = fixtures::user(pool, "doc.a@example.org", Some("clinician")).await;
    fixtures::membership(pool, org_a, clinician_a_id, "org_user").await;
    let root_id = fixtures::user(pool, "root@example.org", Some("superadmin")).await;
    World {
        admin_a: app.token_for(admin_a_id).await,
        admin_b: app.token_for(admin_b_id).await,
        clinician_a: app.token_for(clinician_a_id).await,
        root: app.token_for(root_id).await,
        app,
        org_a,
        org_b,
        admin_a_id,
        admin_b_id,
        clinician_a_id,
    }
}

impl World {
    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        call(&self.app, Method::GET, ORG, path, Some(token), None).await
    }
    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        call(&self.app, Method::POST, ORG, path, Some(token), Some(body)).await
    }
    async fn patch(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        call(&self.app, Method::PATCH, ORG, path, Some(token), Some(body)).await
    }
    async fn delete(&self, path: &str, token: &str) -> (u16, Value) {
        call(&self.app, Method::DELETE, ORG, path, Some(token), None).await
    }
}

fn codes(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["code"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_route_refuses_anonymous_callers() {
    let w = world().await;
    let (a, t, u, p) = (w.org_a, Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let routes = [
        (Method::GET, "/organizations".to_owned()),
        (Method::POST, "/organizations".to_owned()),
        (Method::GET, format!("/organizations/{a}")),
        (Method::PATCH, format!("/organizations/{a}")),
        (Method::DELETE, format!("/organizations/{a}")),
        (Method::GET, format!("/organizations/{a}/stats")),
        (Method::GET, format!("/organizations/{a}/members")),
        (Method::POST, format!("/organizations/{a}/members")),
        (Method::PATCH, format!("/organizations/{a}/members/{u}")),
        (Method::DELETE, format!("/organizations/{a}/members/{u}")),
        (Method::GET, format!("/organizations/{a}/invitations")),
        (Method::POST, format!("/organizations/{a}/invitations")),
        (
            Method::DELETE,
            format!("/organizations/{a}/invitations/{u}"),
        ),
        (
            Method::POST,
            format!("/organizations/{a}/invitations/{u}/revoke"),
        ),
        (Method::GET, format!("/organizations/{a}/care-teams")),
        (Method::POST, format!("/organizations/{a}/care-teams")),
        (Method::GET, format!("/organizations/{a}/care-teams/{t}")),
        (Method::PATCH, format!("/organizations/{a}/care-teams/{t}")),
        (Method::DELETE, format!("/organizations/{a}/care-teams/{t}")),
        (
            Method::GET,
            format!("/organizations/{a}/care-teams/{t}/members"),
        ),
        (
            Method::POST,
            format!("/organizations/{a}/care-teams/{t}/members"),
        ),
        (
            Method::PATCH,
            format!("/organizations/{a}/care-teams/{t}/members/{u}"),
        ),
        (
            Method::DELETE,
            format!("/organizations/{a}/care-teams/{t}/members/{u}"),
        ),
        (
            Method::GET,
            format!("/organizations/{a}/care-teams/{t}/patients"),
        ),
        (
            Method::POST,
            format!("/organizations/{a}/care-teams/{t}/patients"),
        ),
        (
            Method::DELETE,
            format!("/organizations/{a}/care-teams/{t}/patients/{p}"),
        ),
    ];
    for (method, path) in routes {
        let (status, body) = call(&w.app, method.clone(), ORG, &path, None, Some(json!({}))).await;
        assert_eq!(
            (status, error_id(&body)),
            (401, "HG-UNAUTHENTICATED"),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn another_organizations_records_are_404_and_absent_from_lists() {
    let w = world().await;
    let b = w.org_b;
    let team_b = fixtures::care_team(&w.app.db.pool, b, "Team B", &[]).await;
    let (status, list) = w.get("/organizations", &w.admin_a).await;
    assert_eq!(status, 200);
    assert_eq!(codes(&list), ["ORG-A"]);
    let (_, list) = w.get("/organizations", &w.admin_b).await;
    assert_eq!(codes(&list), ["ORG-B"]);
    for path in [
        format!("/organizations/{b}"),
        format!("/organizations/{b}/stats"),
        format!("/organizations/{b}/members"),
        format!("/organizations/{b}/invitations"),
        format!("/organizations/{b}/care-teams"),
        format!("/organizations/{b}/care-teams/{team_b}"),
        format!("/organizations/{b}/care-teams/{team_b}/members"),
        format!("/organizations/{b}/care-teams/{team_b}/patients"),
    ] {
        let (status, body) = w.get(&path, &w.admin_a).await;
        assert_eq!(
            (status, error_id(&body)),
            (404, "HG-ORG-NOT-FOUND"),
            "{path}"
        );
    }
    for (path, body) in [
        (
            format!("/organizations/{b}/members"),
            json!({"email": "admin.a@example.org", "org_role": "viewer"}),
        ),
        (
            format!("/organizations/{b}/invitations"),
            json!({"email": "x@example.org", "org_role": "viewer"}),
        ),
        (
            format!("/organizations/{b}/care-teams"),
            json!({"name": "Intruders"}),
        ),
    ] {
        let (status, _) = w.post(&path, &w.admin_a, body).await;
        assert_eq!(status, 404, "{path}");
    }
    assert_eq!(
        w.patch(
            &format!("/organizations/{b}"),
            &w.admin_a,
            json!({"name": "Hijacked"})
        )
        .await
        .0,
        404
    );
    // A team of another organization through this organization's path is 404 too.
    let (status, body) = w
        .get(
            &format!("/organizations/{}/care-teams/{team_b}", w.org_a),
            &w.admin_a,
        )
        .await;
    assert_eq!((status, error_id(&body)), (404, "HG-TEAM-NOT-FOUND"));
}

#[tokio::test]
async fn superadmins_create_and_archive_organizations_with_validation() {
    let w = world().await;
    let (status, body) = w
        .post(
            "/organizations",
            &w.root,
            json!({"code": "new-org", "name": "New Clinic"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["code"], "NEW-ORG");
    let id = body["data"]["id"].as_str().unwrap().to_owned();

    for (body, field) in [
        (json!({"code": "x", "name": "Long enough"}), "code"),
        (json!({"code": "BAD CODE", "name": "Long enough"}), "code"),
        (json!({"code": "OK-CODE", "name": "ab"}), "name"),
        (json!({"code": "OK-CODE"}), "name"),
        (json!({"name": "No code"}), "code"),
        (
            json!({"code": "OK-CODE", "name": "Fine", "allow_patient_registration": "yes"}),
            "allow_patient_registration",
        ),
    ] {
        let (status, v) = w.post("/organizations", &w.root, body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert!(names_field(&v, field), "{field}: {v}");
    }
    let (status, v) = w
        .post(
            "/organizations",
            &w.root,
            json!({"code": "NEW-ORG", "name": "Again"}),
        )
        .await;
    assert_eq!((status, error_id(&v)), (409, "HG-ORG-CODE-TAKEN"));
    assert!(names_field(&v, "code"));
    let (status, _) = w
        .post(
            "/organizations",
            &w.admin_a,
            json!({"code": "MINE", "name": "My own"}),
        )
        .await;
    assert_eq!(status, 403, "org admins cannot create organizations");

    assert_eq!(
        w.delete(&format!("/organizations/{id}"), &w.admin_a)
            .await
            .0,
        404,
        "not visible to another org's admin"
    );
    assert_eq!(
        w.delete(&format!("/organizations/{id}"), &w.root).await.0,
        204
    );
    let (_, list) = w.get("/organizations", &w.root).await;
    assert!(!codes(&list).contains(&"NEW-ORG".to_owned()));
    let (_, list) = w.get("/organizations?archived=true", &w.root).await;
    assert!(codes(&list).contains(&"NEW-ORG".to_owned()));
}

#[tokio::test]
async fn org_admins_rename_their_organization_and_others_cannot() {
    let w = world().await;
    let a = w.org_a;
    let (status, v) = w
        .patch(
            &format!("/organizations/{a}"),
            &w.admin_a,
            json!({"name": "Renamed A", "allow_patient_registration": true}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["name"], "Renamed A");
    assert_eq!(v["data"]["allow_patient_registration"], true);
    let (status, v) = w
        .patch(
            &format!("/organizations/{a}"),
            &w.admin_a,
            json!({"logo_url": "ftp://x"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(names_field(&v, "logo_url"));
    let (status, v) = w
        .patch(
            &format!("/organizations/{a}"),
            &w.admin_a,
            json!({"code": "NEW"}),
        )
        .await;
    assert_eq!(status, 400, "the code is immutable: {v}");
    let (status, _) = w
        .patch(
            &format!("/organizations/{a}"),
            &w.clinician_a,
            json!({"name": "Clinician rename"}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, v) = w.get(&format!("/organizations/{a}"), &w.clinician_a).await;
    assert_eq!(
        (status, v["data"]["name"].as_str()),
        (200, Some("Renamed A"))
    );
}

#[tokio::test]
async fn organization_lists_paginate_with_cursors_sort_and_search() {
    let w = world().await;
    for i in 0..5 {
        fixtures::org(&w.app.db.pool, &format!("PAGE-{i}")).await;
    }
    let (status, first) = w.get("/organizations?limit=3&sort=code", &w.root).await;
    assert_eq!(status, 200);
    assert_eq!(codes(&first), ["ORG-A", "ORG-B", "PAGE-0"]);
    assert_eq!(first["meta"]["total"], 7);
    let cursor = first["meta"]["next_cursor"].as_str().unwrap();
    let (_, second) = w
        .get(
            &format!("/organizations?limit=3&sort=code&cursor={cursor}"),
            &w.root,
        )
        .await;
    assert_eq!(codes(&second), ["PAGE-1", "PAGE-2", "PAGE-3"]);
    let (_, desc) = w.get("/organizations?limit=2&sort=-code", &w.root).await;
    assert_eq!(codes(&desc), ["PAGE-4", "PAGE-3"]);
    let (_, search) = w.get("/organizations?q=page-2", &w.root).await;
    assert_eq!(codes(&search), ["PAGE-2"]);
    for bad in [
        "limit=0",
        "limit=500",
        "sort=password",
        "cursor=nonsense",
        "colour=red",
        "archived=maybe",
    ] {
        let (status, v) = w.get(&format!("/organizations?{bad}"), &w.root).await;
        assert_eq!((status, error_id(&v)), (400, "HG-VALIDATION"), "{bad}");
    }
    let xml = w
        .app
        .client
        .get(w.app.url(ORG, "/organizations?limit=1"))
        .bearer_auth(&w.root)
        .header("accept", "application/xml")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        xml.contains("<data><item><id>") && xml.contains("<next_cursor>"),
        "{xml}"
    );
}

#[tokio::test]
async fn stats_count_the_organizations_records() {
    let w = world().await;
    fixtures::patient(&w.app.db.pool, w.org_a, "P1", None).await;
    fixtures::care_team(&w.app.db.pool, w.org_a, "T", &[]).await;
    let (status, v) = w
        .get(&format!("/organizations/{}/stats", w.org_a), &w.clinician_a)
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["data"],
        json!({"members": 2, "patients": 1, "devices": 0, "open_alerts": 0, "care_teams": 1, "pending_invitations": 0})
    );
}

#[tokio::test]
async fn members_are_added_re_roled_and_removed_keeping_one_admin() {
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
    let (status, v) = call(
        &w.app,
        Method::POST,
        Component::Auth,
        "/auth/invitations/accept",
        None,
        Some(json!({"token": token})),
    )
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
            json!({"user_id": w.admin_b_id, "org_role": "viewer"}),
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
            &w.clinician_a,
            json!({"user_id": newcomer, "org_role": "viewer"}),
        )
        .await;
    assert_eq!(status, 403, "only org admins manage members");

    let (status, list) = w
        .get(
            &format!("/organizations/{a}/members?org_role=viewer"),
            &w.clinician_a,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["meta"]["total"], 1);

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
            &format!("/organizations/{a}/members/{}", w.admin_a_id),
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
            &format!("/organizations/{a}/members/{}", w.clinician_a_id),
            &newcomer_token
        )
        .await
        .0,
        204
    );
    assert_eq!(
        w.delete(
            &format!("/organizations/{a}/members/{}", w.clinician_a_id),
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
async fn adding_someone_needs_their_consent_and_tells_nothing_about_their_account() {
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
    .bind(w.admin_b_id)
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
async fn a_role_change_takes_effect_on_the_next_request() {
    let w = world().await;
    let a = w.org_a;
    let (status, _) = w
        .get(&format!("/organizations/{a}/members"), &w.clinician_a)
        .await;
    assert_eq!(status, 200);
    w.delete(
        &format!("/organizations/{a}/members/{}", w.clinician_a_id),
        &w.admin_a,
    )
    .await;
    let (status, v) = w
        .get(&format!("/organizations/{a}/members"), &w.clinician_a)
        .await;
    assert_eq!((status, error_id(&v)), (401, "HG-TOKEN-REVOKED"));
}

#[tokio::test]
async fn invitations_show_their_token_once_derive_status_and_can_be_revoked() {
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
        .get(&format!("/organizations/{a}/invitations"), &w.clinician_a)
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
    let (status, v) = call(
        &w.app,
        Method::POST,
        Component::Auth,
        "/auth/invitations/accept",
        None,
        Some(json!({"token": token, "name": "I", "password": "invited person 1"})),
    )
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

#[tokio::test]
async fn care_teams_with_members_and_patients() {
    let w = world().await;
    let a = w.org_a;
    let base = format!("/organizations/{a}/care-teams");
    let (status, v) = w.post(&base, &w.admin_a, json!({"name": "Cardio"})).await;
    assert_eq!(status, 201, "{v}");
    let team = v["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        w.post(&base, &w.admin_a, json!({"name": "cardio"})).await.1["error"]["id"],
        "HG-TEAM-NAME-TAKEN"
    );
    let (status, v) = w.post(&base, &w.admin_a, json!({"name": "   "})).await;
    assert_eq!(status, 400);
    assert!(names_field(&v, "name"));
    assert_eq!(
        w.post(&base, &w.clinician_a, json!({"name": "Mine"}))
            .await
            .0,
        403
    );

    let members = format!("{base}/{team}/members");
    let (status, v) = w
        .post(
            &members,
            &w.admin_a,
            json!({"user_id": w.clinician_a_id, "role": "Doctor"}),
        )
        .await;
    assert_eq!(
        (status, v["data"]["role"].as_str()),
        (201, Some("doctor")),
        "{v}"
    );
    let outsider = fixtures::user(&w.app.db.pool, "outsider@example.org", None).await;
    let (status, v) = w
        .post(
            &members,
            &w.admin_a,
            json!({"user_id": outsider, "role": "nurse"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(names_field(&v, "user_id"));
    let (status, v) = w
        .post(
            &members,
            &w.admin_a,
            json!({"user_id": w.admin_a_id, "role": "wizard"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(names_field(&v, "role"));
    let (status, v) = w
        .patch(
            &format!("{members}/{}", w.clinician_a_id),
            &w.admin_a,
            json!({"role": "specialist"}),
        )
        .await;
    assert_eq!(
        (status, v["data"]["role"].as_str()),
        (200, Some("specialist"))
    );

    let patients = format!("{base}/{team}/patients");
    let p1 = fixtures::patient(&w.app.db.pool, a, "Patient One", None).await;
    let p_other = fixtures::patient(&w.app.db.pool, w.org_b, "Other Org Patient", None).await;
    assert_eq!(
        w.post(&patients, &w.admin_a, json!({"patient_id": p1}))
            .await
            .0,
        201
    );
    assert_eq!(
        w.post(&patients, &w.admin_a, json!({"patient_id": p1}))
            .await
            .1["error"]["id"],
        "HG-ALREADY-LINKED"
    );
    let (status, v) = w
        .post(&patients, &w.admin_a, json!({"patient_id": p_other}))
        .await;
    assert_eq!(
        status, 400,
        "a patient of another organization cannot join: {v}"
    );
    // The clinician now sees the patient through the team.
    let (status, v) = w.get(&patients, &w.clinician_a).await;
    assert_eq!(
        (status, v["data"][0]["person_name"].as_str()),
        (200, Some("Patient One"))
    );
    // Names and risk levels are patient data: reading them is audited.
    let read: Value = sqlx::query_scalar(
        "select payload from outbox_events where payload->>'action' = 'PATIENT_LIST'
          and payload->'details'->>'care_team_id' = $1",
    )
    .bind(team.to_string())
    .fetch_one(&w.app.db.pool)
    .await
    .expect("a PATIENT_LIST audit entry for the team's list");
    assert_eq!(read["details"]["patient_ids"], json!([p1]));
    let (status, v) = w.get(&format!("{base}/{team}"), &w.clinician_a).await;
    assert_eq!(
        (
            status,
            v["data"]["members"].as_i64(),
            v["data"]["patients"].as_i64()
        ),
        (200, Some(1), Some(1))
    );

    assert_eq!(
        w.delete(&format!("{patients}/{p1}"), &w.admin_a).await.0,
        204
    );
    assert_eq!(
        w.delete(&format!("{patients}/{p1}"), &w.admin_a).await.0,
        404
    );
    assert_eq!(
        w.delete(&format!("{members}/{}", w.clinician_a_id), &w.admin_a)
            .await
            .0,
        204
    );
    let (status, v) = w
        .patch(
            &format!("{base}/{team}"),
            &w.admin_a,
            json!({"name": "Cardiology"}),
        )
        .await;
    assert_eq!(
        (status, v["data"]["name"].as_str()),
        (200, Some("Cardiology"))
    );
    let (_, list) = w.get(&format!("{base}?q=cardio"), &w.clinician_a).await;
    assert_eq!(list["meta"]["total"], 1);
    assert_eq!(w.delete(&format!("{base}/{team}"), &w.admin_a).await.0, 204);
    assert_eq!(w.get(&format!("{base}/{team}"), &w.admin_a).await.0, 404);
}

#[tokio::test]
async fn malformed_ids_and_bodies_get_the_envelope() {
    let w = world().await;
    let (status, v) = w.get("/organizations/not-a-uuid", &w.root).await;
    assert_eq!((status, error_id(&v)), (404, "HG-NOT-FOUND"));
    let resp = w
        .app
        .client
        .post(w.app.url(ORG, "/organizations"))
        .bearer_auth(&w.root)
        .header("content-type", "application/json")
        .body("{\"code\":")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(error_id(&v), "HG-BAD-PAYLOAD");
    assert!(v["error"]["request_id"].is_string());
}
