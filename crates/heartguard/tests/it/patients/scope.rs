//! Who sees which patients: every scope's list and totals, other teams and organizations, read audits, e-mails.

use super::*;

#[tokio::test]
pub(super) async fn each_principal_lists_exactly_its_patients() {
    let w = world().await;
    fixtures::caregiver_link(&w.app.db.pool, w.org_a, w.p2, w.caregiver.id, true).await;
    for (token, expected) in [
        (&w.admin_a, vec!["Ana Uno", "Beto Dos"]),
        (&w.viewer_a, vec!["Ana Uno", "Beto Dos"]),
        (&w.doctor_a, vec!["Ana Uno"]),
        (&w.other_doctor_a, vec![]),
        (&w.caregiver, vec!["Beto Dos"]),
        (&w.admin_b, vec!["Carla Be"]),
    ] {
        let (status, list) = w.get("/patients", token).await;
        assert_eq!(status, 200, "{list}");
        assert_eq!(names(&list), expected);
        assert_eq!(list["meta"]["total"], expected.len());
    }
    let (_, v) = w.get("/patients/count", &w.doctor_a).await;
    assert_eq!(v["data"]["count"], 1);
    let (_, v) = w
        .post(
            "/patients/count",
            &w.admin_a,
            json!({"care_team_id": w.team_a}),
        )
        .await;
    assert_eq!(v["data"]["count"], 1);
    let (_, list) = w
        .get(
            &format!("/patients?care_team_id={}&q=ana", w.team_a),
            &w.admin_a,
        )
        .await;
    assert_eq!(names(&list), ["Ana Uno"]);
    for bad in [
        "risk_level=extreme",
        "org_id=x",
        "sort=email",
        "care_team_id=1",
        "foo=bar",
    ] {
        let (status, v) = w.get(&format!("/patients?{bad}"), &w.admin_a).await;
        assert_eq!((status, error_id(&v)), (400, "HG-VALIDATION"), "{bad}");
    }
}

#[tokio::test]
pub(super) async fn every_page_of_a_list_tells_the_same_total_whatever_the_scope() {
    let w = world().await;
    let pool = &w.app.db.pool;
    // Ana Uno is already in the team; four more make five, over three pages of two.
    for name in ["Dora Tres", "Eva Cuatro", "Fede Cinco", "Gala Seis"] {
        fixtures::patient(pool, w.org_a, name, Some(w.team_a)).await;
    }
    // The doctor's scope is bounded by the team (the page query counts), the admin's is org-wide
    // (a separate count); both must agree on every page, from a cursor or an offset too.
    for (token, total) in [(&w.doctor_a, 5), (&w.admin_a, 6)] {
        let mut seen = Vec::new();
        let mut path = "/patients?limit=2".to_owned();
        loop {
            let (status, page) = w.get(&path, token).await;
            assert_eq!(status, 200, "{page}");
            assert_eq!(page["meta"]["total"], total, "{path}");
            seen.extend(names(&page).into_iter().map(str::to_owned));
            match page["meta"]["next_cursor"].as_str() {
                Some(c) => path = format!("/patients?limit=2&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen.len(), total, "{seen:?}");
        for (offset, len) in [(1, 2), (total - 1, 1), (total + 3, 0)] {
            let (status, page) = w
                .get(&format!("/patients?limit=2&offset={offset}"), token)
                .await;
            assert_eq!(status, 200, "{page}");
            assert_eq!(names(&page).len(), len, "offset {offset}");
            assert_eq!(page["meta"]["total"], total, "offset {offset}");
        }
    }
}

#[tokio::test]
pub(super) async fn patients_of_other_teams_and_organizations_are_404_for_every_route() {
    let w = world().await;
    for (token, id) in [
        (&w.admin_a, w.pb),
        (&w.other_doctor_a, w.p1),
        (&w.doctor_a, w.p2),
        (&w.caregiver, w.p1),
    ] {
        for path in [
            format!("/patients/{id}"),
            format!("/patients/{id}/care-teams"),
            format!("/patients/{id}/caregivers"),
            format!("/patients/{id}/locations"),
            format!("/patients/{id}/alerts"),
            format!("/patients/{id}/devices"),
            format!("/patients/{id}/ground-truth"),
        ] {
            let (status, v) = w.get(&path, token).await;
            assert_eq!(
                (status, error_id(&v)),
                (404, "HG-PATIENT-NOT-FOUND"),
                "{path}"
            );
        }
        let (status, _) = w
            .req(
                Method::PATCH,
                &format!("/patients/{id}"),
                token,
                Some(json!({"person_name": "X"})),
            )
            .await;
        assert_eq!(status, 404);
        let (status, _) = w
            .post(&format!("/patients/{id}/archive"), token, json!({}))
            .await;
        assert_eq!(status, 404);
    }
}

#[tokio::test]
pub(super) async fn reading_a_patient_is_audited() {
    let w = world().await;
    let (status, v) = w.get(&format!("/patients/{}", w.p1), &w.doctor_a).await;
    assert_eq!(
        (status, v["data"]["person_name"].as_str()),
        (200, Some("Ana Uno"))
    );
    let entry: Value = sqlx::query_scalar(
        "select payload from outbox_events where payload->>'action' = 'PATIENT_READ'",
    )
    .fetch_one(&w.app.db.pool)
    .await
    .unwrap();
    assert_eq!(entry["entity_id"], w.p1.to_string());
    assert_eq!(entry["actor_id"], w.doctor_a.id.to_string());
    assert_eq!(entry["org_id"], w.org_a.to_string());
    w.get("/patients", &w.doctor_a).await;
    let n: i64 = sqlx::query_scalar(
        "select count(*) from outbox_events where payload->>'action' = 'PATIENT_LIST'",
    )
    .fetch_one(&w.app.db.pool)
    .await
    .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
pub(super) async fn no_answer_tells_that_an_email_is_a_patient_of_another_organization() {
    let w = world().await;
    let pool = &w.app.db.pool;
    // A patient of ORG-B who signs in with this address.
    let theirs = fixtures::patient_login(pool, w.org_b, "cardiac.person@example.org").await;
    sqlx::query("update organizations set allow_patient_registration = true where id = $1")
        .bind(w.org_a)
        .execute(pool)
        .await
        .unwrap();

    // An org admin of ORG-A registers a patient with that address: nothing says it is taken.
    let (status, v) = w
        .post(
            "/patients",
            &w.admin_a,
            json!({"org_id": w.org_a, "person_name": "Same Address", "email": "Cardiac.Person@example.org"}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    // Within ORG-A itself the address is taken, and saying so tells only about ORG-A.
    let (status, v) = w
        .post(
            "/patients",
            &w.admin_a,
            json!({"org_id": w.org_a, "person_name": "Again", "email": "cardiac.person@example.org"}),
        )
        .await;
    assert_eq!((status, error_id(&v)), (409, "HG-EMAIL-TAKEN"));

    // Self-registration answers alike for that address and for a fresh one.
    let register = |email: &'static str, org: &'static str| {
        let w = &w;
        async move {
            w.request(Method::POST, "/auth/patient/register").on(Component::Auth).json(json!({"org_code": org, "name": "Some One", "email": email, "password": "heart rhythm 42"})).send().await
        }
    };
    let taken = register("cardiac.person@example.org", "ORG-A").await;
    let fresh = register("fresh.person@example.org", "ORG-A").await;
    assert_eq!((taken.0, &taken.1["data"]), (fresh.0, &fresh.1["data"]));
    assert_eq!(taken.0, 202);
    // The existing patient still signs in, and is the only login for the address.
    let (status, v) = w
        .request(Method::POST, "/auth/patient/login")
        .on(Component::Auth)
        .json(
            json!({"email": "cardiac.person@example.org", "password": fixtures::FIXTURE_PASSWORD}),
        )
        .send()
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["patient"]["id"], theirs.to_string());
}

#[tokio::test]
pub(super) async fn an_org_admin_who_is_also_a_caregiver_sees_each_patient_once() {
    let w = world().await;
    let pool = &w.app.db.pool;
    // The admin of ORG-A also cares for a patient of ORG-B, and for one of their own organization.
    let admin: Uuid =
        sqlx::query_scalar("select id from users where email = 'admin.a@example.org'")
            .fetch_one(pool)
            .await
            .unwrap();
    fixtures::caregiver_link(pool, w.org_b, w.pb, admin, false).await;
    fixtures::caregiver_link(pool, w.org_a, w.p1, admin, false).await;
    let token = w.app.token_for(admin).await;
    let own: i64 = sqlx::query_scalar(
        "select count(*) from patients where org_id = $1 and archived_at is null",
    )
    .bind(w.org_a)
    .fetch_one(pool)
    .await
    .unwrap();
    let expected = own as usize + 1;
    for limit in [1, 2, 50] {
        let mut seen = Vec::new();
        let mut path = format!("/patients?limit={limit}");
        loop {
            let (status, page) = w.get(&path, &token).await;
            assert_eq!(status, 200, "{page}");
            assert_eq!(page["meta"]["total"], expected, "{path}");
            seen.extend(
                page["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["id"].as_str().unwrap().to_owned()),
            );
            match page["meta"]["next_cursor"].as_str() {
                Some(c) => path = format!("/patients?limit={limit}&cursor={c}"),
                None => break,
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "no patient twice: {seen:?}");
        assert_eq!(seen.len(), expected);
        assert!(
            seen.contains(&w.pb.to_string()),
            "the other organization's cared-for patient"
        );
    }
}
