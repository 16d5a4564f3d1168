//! The user component: listing (superadmin: everyone; org_admin: their members), profiles, status and
//! roles with their safety rules, memberships, the count compatibility routes.

use hg_platform::Component;
use hg_test_support::{TestApp, fixtures};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{call, error_id, names_field};

const USER: Component = Component::User;

struct World {
    app: TestApp,
    org_a: Uuid,
    root: String,
    root_id: Uuid,
    admin_a: String,
    member_a: Uuid,
    member_a_token: String,
    member_b: Uuid,
}

async fn world() -> World {
    let app = TestApp::builder()
        .with(USER)
        .with(Component::Auth)
        .spawn()
        .await;
    let pool = &app.db.pool;
    let org_a = fixtures::org(pool, "ORG-A").await;
    let org_b = fixtures::org(pool, "ORG-B").await;
    let root_id = fixtures::user(pool, "root@example.org", Some("superadmin")).await;
    let admin_a = fixtures::user(pool, "admin.a@example.org", None).await;
    fixtures::membership(pool, org_a, admin_a, "org_admin").await;
    let member_a = fixtures::user(pool, "member.a@example.org", Some("clinician")).await;
    fixtures::membership(pool, org_a, member_a, "org_user").await;
    let member_b = fixtures::user(pool, "member.b@example.org", Some("clinician")).await;
    fixtures::membership(pool, org_b, member_b, "org_user").await;
    World {
        root: app.token_for(root_id).await,
        admin_a: app.token_for(admin_a).await,
        member_a_token: app.token_for(member_a).await,
        app,
        org_a,
        root_id,
        member_a,
        member_b,
    }
}

impl World {
    async fn req(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        call(&self.app, method, USER, path, Some(token), body).await
    }
}

fn emails(list: &Value) -> Vec<&str> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn every_route_refuses_anonymous_callers() {
    let w = world().await;
    let id = w.member_a;
    for (method, path) in [
        (Method::GET, "/users".to_owned()),
        (Method::GET, "/users/count".to_owned()),
        (Method::POST, "/users/count".to_owned()),
        (Method::GET, "/users/me".to_owned()),
        (Method::PATCH, "/users/me".to_owned()),
        (Method::GET, format!("/users/{id}")),
        (Method::PATCH, format!("/users/{id}")),
        (Method::PUT, format!("/users/{id}/status")),
        (Method::PUT, format!("/users/{id}/roles")),
        (Method::GET, format!("/users/{id}/memberships")),
    ] {
        let (status, body) = call(&w.app, method.clone(), USER, &path, None, Some(json!({}))).await;
        assert_eq!(
            (status, error_id(&body)),
            (401, "HG-UNAUTHENTICATED"),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn superadmins_list_everyone_with_filters_and_org_admins_only_their_members() {
    let w = world().await;
    let (status, all) = w.req(Method::GET, "/users?sort=email", &w.root, None).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["meta"]["total"], 4);
    assert_eq!(
        emails(&all),
        [
            "admin.a@example.org",
            "member.a@example.org",
            "member.b@example.org",
            "root@example.org"
        ]
    );
    let (_, filtered) = w
        .req(
            Method::GET,
            &format!("/users?org_id={}&role=clinician", w.org_a),
            &w.root,
            None,
        )
        .await;
    assert_eq!(emails(&filtered), ["member.a@example.org"]);
    let (_, q) = w.req(Method::GET, "/users?q=MEMBER.B", &w.root, None).await;
    assert_eq!(emails(&q), ["member.b@example.org"]);

    let (status, mine) = w
        .req(Method::GET, "/users?sort=email", &w.admin_a, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        emails(&mine),
        ["admin.a@example.org", "member.a@example.org"],
        "another organization's users are absent"
    );
    let (status, v) = w
        .req(
            Method::GET,
            &format!("/users/{}", w.member_b),
            &w.admin_a,
            None,
        )
        .await;
    assert_eq!((status, error_id(&v)), (404, "HG-USER-NOT-FOUND"));
    let (status, _) = w.req(Method::GET, "/users", &w.member_a_token, None).await;
    assert_eq!(status, 403, "clinicians do not list users");

    for bad in [
        "status=sleepy",
        "role=king",
        "org_id=nope",
        "limit=-1",
        "unknown=1",
    ] {
        let (status, v) = w
            .req(Method::GET, &format!("/users?{bad}"), &w.root, None)
            .await;
        assert_eq!((status, error_id(&v)), (400, "HG-VALIDATION"), "{bad}");
    }
    let (status, v) = w.req(Method::GET, "/users/count", &w.admin_a, None).await;
    assert_eq!((status, v["data"]["count"].as_i64()), (200, Some(2)));
    let (status, v) = w
        .req(
            Method::POST,
            "/users/count",
            &w.root,
            Some(json!({"role": "clinician"})),
        )
        .await;
    assert_eq!((status, v["data"]["count"].as_i64()), (200, Some(2)));
    let (status, _) = w
        .req(
            Method::POST,
            "/users/count",
            &w.root,
            Some(json!({"colour": "red"})),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn users_read_and_edit_their_own_profile() {
    let w = world().await;
    let (status, me) = w
        .req(Method::GET, "/users/me", &w.member_a_token, None)
        .await;
    assert_eq!(
        (status, me["data"]["email"].as_str()),
        (200, Some("member.a@example.org"))
    );
    let (status, v) = w
        .req(
            Method::PATCH,
            "/users/me",
            &w.member_a_token,
            Some(json!({"name": "Dr. Member", "locale": "EN", "profile_photo_url": "/media/1"})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["data"]["name"].as_str(), v["data"]["locale"].as_str()),
        (Some("Dr. Member"), Some("en"))
    );
    let (_, v) = w
        .req(
            Method::PATCH,
            "/users/me",
            &w.member_a_token,
            Some(json!({"profile_photo_url": null})),
        )
        .await;
    assert!(v["data"]["profile_photo_url"].is_null());
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"locale": "fr"}), "locale"),
        (
            json!({"profile_photo_url": "javascript:alert(1)"}),
            "profile_photo_url",
        ),
        (json!({"name": "x".repeat(161)}), "name"),
    ] {
        let (status, v) = w
            .req(
                Method::PATCH,
                "/users/me",
                &w.member_a_token,
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert!(names_field(&v, field), "{field}: {v}");
    }
    let (status, _) = w
        .req(
            Method::PATCH,
            "/users/me",
            &w.member_a_token,
            Some(json!({"status": "active"})),
        )
        .await;
    assert_eq!(status, 400, "status is not a profile field");
    let (status, _) = w
        .req(
            Method::PATCH,
            &format!("/users/{}", w.member_a),
            &w.admin_a,
            Some(json!({"name": "Renamed by admin"})),
        )
        .await;
    assert_eq!(
        status, 403,
        "org admins do not edit other people's profiles"
    );
    let (status, v) = w
        .req(
            Method::GET,
            &format!("/users/{}/memberships", w.member_a),
            &w.admin_a,
            None,
        )
        .await;
    assert_eq!(
        (status, v["data"][0]["code"].as_str()),
        (200, Some("ORG-A"))
    );
}

#[tokio::test]
async fn blocking_ends_sessions_at_once_and_the_last_superadmin_is_protected() {
    let w = world().await;
    let target = w.member_a;
    let (status, v) = w
        .req(
            Method::PUT,
            &format!("/users/{target}/status"),
            &w.root,
            Some(json!({"status": "blocked"})),
        )
        .await;
    assert_eq!(
        (status, v["data"]["status"].as_str()),
        (200, Some("blocked"))
    );
    let (status, v) = w
        .req(Method::GET, "/users/me", &w.member_a_token, None)
        .await;
    assert_eq!((status, error_id(&v)), (401, "HG-TOKEN-REVOKED"));
    let (status, v) = call(
        &w.app,
        Method::POST,
        Component::Auth,
        "/auth/login",
        None,
        Some(json!({"email": "member.a@example.org", "password": fixtures::FIXTURE_PASSWORD})),
    )
    .await;
    assert_eq!((status, error_id(&v)), (403, "HG-ACCOUNT-BLOCKED"));

    let (status, v) = w
        .req(
            Method::PUT,
            &format!("/users/{target}/status"),
            &w.root,
            Some(json!({"status": "asleep"})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(names_field(&v, "status"));
    let (status, _) = w
        .req(
            Method::PUT,
            &format!("/users/{target}/status"),
            &w.admin_a,
            Some(json!({"status": "active"})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, v) = w
        .req(
            Method::PUT,
            &format!("/users/{}/status", w.root_id),
            &w.root,
            Some(json!({"status": "blocked"})),
        )
        .await;
    assert_eq!((status, error_id(&v)), (409, "HG-LAST-SUPERADMIN"));
    let (status, v) = w
        .req(
            Method::PUT,
            &format!("/users/{}/roles", w.root_id),
            &w.root,
            Some(json!({"roles": ["ops"]})),
        )
        .await;
    assert_eq!((status, error_id(&v)), (409, "HG-LAST-SUPERADMIN"));
}

#[tokio::test]
async fn roles_are_replaced_audited_and_apply_at_the_next_request() {
    let w = world().await;
    let target = w.member_a;
    let (status, v) = w
        .req(
            Method::PUT,
            &format!("/users/{target}/roles"),
            &w.root,
            Some(json!({"roles": ["caregiver", "Clinician", "caregiver"]})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["roles"], json!(["caregiver", "clinician"]));
    let (status, v) = w
        .req(
            Method::PUT,
            &format!("/users/{target}/roles"),
            &w.root,
            Some(json!({"roles": ["pope"]})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(names_field(&v, "roles"));
    let (status, _) = w
        .req(
            Method::PUT,
            &format!("/users/{target}/roles"),
            &w.root,
            Some(json!({"roles": "clinician"})),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = w
        .req(Method::GET, "/users/me", &w.member_a_token, None)
        .await;
    assert_eq!(status, 401, "the old token carried the old roles");
    let entry: Value = sqlx::query_scalar(
        "select payload from outbox_events where payload->>'action' = 'ROLE_CHANGE' limit 1",
    )
    .fetch_one(&w.app.db.pool)
    .await
    .unwrap();
    assert_eq!(entry["details"]["to"], json!(["caregiver", "clinician"]));
    assert_eq!(entry["actor_id"], w.root_id.to_string());
}

#[tokio::test]
async fn an_org_admin_sees_only_what_concerns_their_organization_about_a_member() {
    let w = world().await;
    let pool = &w.app.db.pool;
    // member.a is also in ORG-B, has two-factor on and has signed in.
    let org_b: Uuid = sqlx::query_scalar("select id from organizations where code = 'ORG-B'")
        .fetch_one(pool)
        .await
        .unwrap();
    fixtures::membership(pool, org_b, w.member_a, "viewer").await;
    sqlx::query("update users set totp_enabled = true, last_login_at = now() where id = $1")
        .bind(w.member_a)
        .execute(pool)
        .await
        .unwrap();
    let id = w.member_a;

    let (status, v) = w
        .req(Method::GET, &format!("/users/{id}"), &w.admin_a, None)
        .await;
    assert_eq!(status, 200, "{v}");
    for hidden in ["roles", "totp_enabled", "last_login_at"] {
        assert!(v["data"].get(hidden).is_none(), "{hidden} shown: {v}");
    }
    let (_, list) = w.req(Method::GET, "/users", &w.admin_a, None).await;
    let row = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == id.to_string())
        .unwrap();
    assert!(
        row.get("roles").is_none() && row.get("totp_enabled").is_none(),
        "{row}"
    );
    let (status, v) = w
        .req(
            Method::GET,
            &format!("/users/{id}/memberships"),
            &w.admin_a,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let codes: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["ORG-A"],
        "another organization's membership is not shown"
    );
    // Filters cannot ask the question either.
    let (status, v) = w
        .req(
            Method::GET,
            &format!("/users?org_id={org_b}"),
            &w.admin_a,
            None,
        )
        .await;
    assert_eq!((status, v["meta"]["total"].as_i64()), (200, Some(0)), "{v}");
    let (status, _) = w
        .req(Method::GET, "/users?role=clinician", &w.admin_a, None)
        .await;
    assert_eq!(status, 403);

    // The user themself and superadmins see everything.
    for token in [&w.member_a_token, &w.root] {
        let (_, v) = w
            .req(Method::GET, &format!("/users/{id}"), token, None)
            .await;
        assert_eq!(v["data"]["roles"], json!(["clinician"]));
        assert_eq!(v["data"]["totp_enabled"], true);
        let (_, v) = w
            .req(
                Method::GET,
                &format!("/users/{id}/memberships"),
                token,
                None,
            )
            .await;
        assert_eq!(v["data"].as_array().unwrap().len(), 2);
    }
}
