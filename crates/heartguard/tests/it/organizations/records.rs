//! Organizations themselves: created and archived by superadmins, renamed by their admins, listed, counted.

use super::*;

#[tokio::test]
pub(super) async fn superadmins_create_and_archive_organizations_with_validation() {
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
    assert!(!codes(&list).contains(&"NEW-ORG"));
    let (_, list) = w.get("/organizations?archived=true", &w.root).await;
    assert!(codes(&list).contains(&"NEW-ORG"));
}

#[tokio::test]
pub(super) async fn org_admins_rename_their_organization_and_others_cannot() {
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
    assert!(
        v["error"]["details"]["fields"]["code"].is_string(),
        "names code: {v}"
    );
    let (status, _) = w
        .patch(
            &format!("/organizations/{a}"),
            &w.doctor_a,
            json!({"name": "Clinician rename"}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, v) = w.get(&format!("/organizations/{a}"), &w.doctor_a).await;
    assert_eq!(
        (status, v["data"]["name"].as_str()),
        (200, Some("Renamed A"))
    );
}

#[tokio::test]
pub(super) async fn organization_lists_paginate_with_cursors_sort_and_search() {
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
pub(super) async fn stats_count_the_organizations_records() {
    let w = world().await;
    fixtures::patient(&w.app.db.pool, w.org_a, "P1", None).await;
    fixtures::care_team(&w.app.db.pool, w.org_a, "T", &[]).await;
    let (status, v) = w
        .get(&format!("/organizations/{}/stats", w.org_a), &w.doctor_a)
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["data"],
        // The world's four members of A, its two patients and team, and the two made here.
        json!({"members": 4, "patients": 3, "devices": 0, "open_alerts": 0, "care_teams": 2, "pending_invitations": 0})
    );
}
