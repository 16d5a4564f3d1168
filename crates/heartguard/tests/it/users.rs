//! The user component: listing (superadmin: everyone; org_admin: their members), profiles, status and
//! roles with their safety rules, memberships, the count compatibility routes.

use hg_platform::Component;
use hg_test_support::fixtures;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{error_id, names_field, pluck};
use crate::world::World;

const USER: Component = Component::User;

async fn world() -> World {
    World::new(&[USER, Component::Auth]).await
}

fn emails(list: &Value) -> Vec<&str> {
    pluck(list, "email")
}

#[tokio::test]
async fn every_route_refuses_anonymous_callers() {
    let w = world().await;
    let id = w.doctor_a.id;
    w.assert_anonymous_refused(&[
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
    ])
    .await;
}

#[tokio::test]
async fn superadmins_list_everyone_with_filters_and_org_admins_only_their_members() {
    let w = world().await;
    let (status, all) = w.req(Method::GET, "/users?sort=email", &w.root, None).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["meta"]["total"], 8);
    assert_eq!(
        emails(&all),
        [
            "admin.a@example.org",
            "admin.b@example.org",
            "carer@example.org",
            "doctor.a@example.org",
            "doctor.b@example.org",
            "other.doctor@example.org",
            "root@example.org",
            "viewer.a@example.org"
        ]
    );
    let (_, filtered) = w
        .req(
            Method::GET,
            &format!("/users?org_id={}&role=clinician&sort=email", w.org_a),
            &w.root,
            None,
        )
        .await;
    assert_eq!(
        emails(&filtered),
        ["doctor.a@example.org", "other.doctor@example.org"]
    );
    let (_, q) = w.req(Method::GET, "/users?q=DOCTOR.B", &w.root, None).await;
    assert_eq!(emails(&q), ["doctor.b@example.org"]);

    let (status, mine) = w
        .req(Method::GET, "/users?sort=email", &w.admin_a, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        emails(&mine),
        [
            "admin.a@example.org",
            "doctor.a@example.org",
            "other.doctor@example.org",
            "viewer.a@example.org"
        ],
        "another organization's users are absent"
    );
    let (status, v) = w
        .req(
            Method::GET,
            &format!("/users/{}", w.doctor_b.id),
            &w.admin_a,
            None,
        )
        .await;
    assert_eq!((status, error_id(&v)), (404, "HG-USER-NOT-FOUND"));
    let (status, _) = w.req(Method::GET, "/users", &w.doctor_a, None).await;
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
    assert_eq!((status, v["data"]["count"].as_i64()), (200, Some(4)));
    let (status, v) = w
        .req(
            Method::POST,
            "/users/count",
            &w.root,
            Some(json!({"role": "clinician"})),
        )
        .await;
    assert_eq!(
        (status, v["data"]["count"].as_i64()),
        (200, Some(3)),
        "doctor.a, other.doctor and doctor.b"
    );
    let (status, body) = w
        .req(
            Method::POST,
            "/users/count",
            &w.root,
            Some(json!({"colour": "red"})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["details"]["fields"]["colour"].is_string(),
        "names colour: {body}"
    );
}

#[tokio::test]
async fn users_read_and_edit_their_own_profile() {
    let w = world().await;
    let (status, me) = w.req(Method::GET, "/users/me", &w.doctor_a, None).await;
    assert_eq!(
        (status, me["data"]["email"].as_str()),
        (200, Some("doctor.a@example.org"))
    );
    let (status, v) = w
        .req(
            Method::PATCH,
            "/users/me",
            &w.doctor_a,
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
            &w.doctor_a,
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
            .req(Method::PATCH, "/users/me", &w.doctor_a, Some(body.clone()))
            .await;
        assert_eq!(status, 400, "{body}");
        assert!(names_field(&v, field), "{field}: {v}");
    }
    let (status, body) = w
        .req(
            Method::PATCH,
            "/users/me",
            &w.doctor_a,
            Some(json!({"status": "active"})),
        )
        .await;
    assert_eq!(status, 400, "status is not a profile field");
    assert!(
        body["error"]["details"]["fields"]["status"].is_string(),
        "names status: {body}"
    );
    let (status, _) = w
        .req(
            Method::PATCH,
            &format!("/users/{}", w.doctor_a.id),
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
            &format!("/users/{}/memberships", w.doctor_a.id),
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
    let target = w.doctor_a.id;
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
    let (status, v) = w.req(Method::GET, "/users/me", &w.doctor_a, None).await;
    assert_eq!((status, error_id(&v)), (401, "HG-TOKEN-REVOKED"));
    let (status, v) = w
        .request(Method::POST, "/auth/login")
        .on(Component::Auth)
        .json(json!({"email": "doctor.a@example.org", "password": fixtures::FIXTURE_PASSWORD}))
        .send()
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
            &format!("/users/{}/status", w.root.id),
            &w.root,
            Some(json!({"status": "blocked"})),
        )
        .await;
    assert_eq!((status, error_id(&v)), (409, "HG-LAST-SUPERADMIN"));
    let (status, v) = w
        .req(
            Method::PUT,
            &format!("/users/{}/roles", w.root.id),
            &w.root,
            Some(json!({"roles": ["ops"]})),
        )
        .await;
    assert_eq!((status, error_id(&v)), (409, "HG-LAST-SUPERADMIN"));
}

#[tokio::test]
async fn roles_are_replaced_audited_and_apply_at_the_next_request() {
    let w = world().await;
    let target = w.doctor_a.id;
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
    let (status, body) = w
        .req(
            Method::PUT,
            &format!("/users/{target}/roles"),
            &w.root,
            Some(json!({"roles": "clinician"})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["details"]["fields"]["roles"].is_string(),
        "names roles: {body}"
    );
    let (status, _) = w.req(Method::GET, "/users/me", &w.doctor_a, None).await;
    assert_eq!(status, 401, "the old token carried the old roles");
    let entry: Value = sqlx::query_scalar(
        "select payload from outbox_events where payload->>'action' = 'ROLE_CHANGE' limit 1",
    )
    .fetch_one(&w.app.db.pool)
    .await
    .unwrap();
    assert_eq!(entry["details"]["to"], json!(["caregiver", "clinician"]));
    assert_eq!(entry["actor_id"], w.root.id.to_string());
}

#[tokio::test]
async fn an_org_admin_sees_only_what_concerns_their_organization_about_a_member() {
    let w = world().await;
    let pool = &w.app.db.pool;
    // doctor.a is also in ORG-B, has two-factor on and has signed in.
    let org_b: Uuid = sqlx::query_scalar("select id from organizations where code = 'ORG-B'")
        .fetch_one(pool)
        .await
        .unwrap();
    fixtures::membership(pool, org_b, w.doctor_a.id, "viewer").await;
    sqlx::query("update users set totp_enabled = true, last_login_at = now() where id = $1")
        .bind(w.doctor_a.id)
        .execute(pool)
        .await
        .unwrap();
    let id = w.doctor_a.id;

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
    for token in [&w.doctor_a, &w.root] {
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
