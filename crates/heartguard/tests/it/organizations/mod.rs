//! The organization component: organizations, members, invitations, statistics, care teams — success,
//! validation, anonymous 401, other organizations invisible (404 / absent from lists), envelope.

use hg_platform::Component;
use hg_test_support::fixtures;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{error_id, names_field, pluck};
use crate::world::World;

const ORG: Component = Component::Organization;

async fn world() -> World {
    World::new(&[ORG, Component::Auth, Component::Notification]).await
}

fn codes(list: &Value) -> Vec<&str> {
    pluck(list, "code")
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
    w.assert_anonymous_refused(&routes).await;
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

mod care_teams;
mod members;
mod records;
