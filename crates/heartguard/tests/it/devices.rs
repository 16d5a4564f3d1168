//! The device component: devices by scope, registration with unique serials (also under
//! concurrency), credentials shown once, streams opened and closed by org_admins and care teams (one
//! open stream per device and signal), bindings with tags, and 401/404 everywhere.

use hg_platform::Component;
use hg_test_support::fixtures;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{error_id, names_field, pluck};
use crate::world::World;

const DEVICE: Component = Component::Device;

async fn world() -> World {
    World::new(&[DEVICE]).await
}

/// A device of organization A registered by its admin, owned by `owner`: its id.
async fn device(w: &World, serial: &str, owner: Option<Uuid>) -> String {
    let (status, v) = w
        .post("/devices", &w.admin_a, json!({"org_id": w.org_a, "serial": serial, "device_type": "WEARABLE_MULTI", "owner_patient_id": owner}))
        .await;
    assert_eq!(status, 201, "{v}");
    v["data"]["id"].as_str().unwrap().to_owned()
}

fn serials(list: &Value) -> Vec<&str> {
    pluck(list, "serial")
}

#[tokio::test]
async fn every_route_refuses_anonymous_callers() {
    let w = world().await;
    let (d, s, b) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    w.assert_anonymous_refused(&[
        (Method::GET, "/devices".to_owned()),
        (Method::POST, "/devices".to_owned()),
        (Method::GET, "/devices/count".to_owned()),
        (Method::POST, "/devices/count".to_owned()),
        (Method::GET, format!("/devices/{d}")),
        (Method::PATCH, format!("/devices/{d}")),
        (Method::DELETE, format!("/devices/{d}")),
        (Method::POST, format!("/devices/{d}/credentials")),
        (Method::GET, format!("/devices/{d}/streams")),
        (Method::POST, format!("/devices/{d}/streams")),
        (Method::GET, format!("/streams/{s}")),
        (Method::POST, format!("/streams/{s}/close")),
        (Method::GET, format!("/streams/{s}/bindings")),
        (Method::POST, format!("/streams/{s}/bindings")),
        (Method::DELETE, format!("/streams/{s}/bindings/{b}")),
        (Method::PUT, format!("/streams/{s}/bindings/{b}/tags/site")),
        (
            Method::DELETE,
            format!("/streams/{s}/bindings/{b}/tags/site"),
        ),
    ])
    .await;
}

#[tokio::test]
async fn devices_are_registered_by_org_admins_with_validation() {
    let w = world().await;
    let (status, v) = w
        .post("/devices", &w.admin_a, json!({"org_id": w.org_a, "serial": "HG-0001", "brand": "Acme", "model": "Band", "device_type": "pulse_ox", "owner_patient_id": w.p1}))
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(
        (
            v["data"]["device_type"].as_str(),
            v["data"]["has_credential"].as_bool()
        ),
        (Some("PULSE_OX"), Some(false))
    );
    let (status, v) = w
        .post(
            "/devices",
            &w.admin_a,
            json!({"org_id": w.org_a, "serial": "HG-0001", "device_type": "BP_CUFF"}),
        )
        .await;
    assert_eq!((status, error_id(&v)), (409, "HG-SERIAL-TAKEN"));
    assert!(names_field(&v, "serial"));
    let other_patient = fixtures::patient(&w.app.db.pool, w.org_b, "Elsewhere", None).await;
    for (change, field) in [
        (json!({"serial": ""}), "serial"),
        (json!({"serial": "has space"}), "serial"),
        (json!({"device_type": "TOASTER"}), "device_type"),
        (
            json!({"owner_patient_id": other_patient}),
            "owner_patient_id",
        ),
        (json!({"org_id": w.org_b}), "org_id"),
        (json!({"brand": "x".repeat(81)}), "brand"),
        (json!({"active": "sometimes"}), "active"),
    ] {
        let mut b = json!({"org_id": w.org_a, "serial": "HG-NEW", "device_type": "BP_CUFF"});
        for (k, v) in change.as_object().unwrap() {
            b[k] = v.clone();
        }
        let (status, v) = w.post("/devices", &w.admin_a, b.clone()).await;
        assert_eq!(status, 400, "{b}");
        assert!(names_field(&v, field), "{field}: {v}");
    }
    let (status, _) = w
        .post(
            "/devices",
            &w.doctor_a,
            json!({"org_id": w.org_a, "serial": "BY-DOC", "device_type": "BP_CUFF"}),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn two_devices_with_one_serial_at_the_same_time_make_exactly_one() {
    let w = world().await;
    let body = json!({"org_id": w.org_a, "serial": "RACE-1", "device_type": "ECG_1LEAD"});
    let (a, b) = tokio::join!(
        w.post("/devices", &w.admin_a, body.clone()),
        w.post("/devices", &w.admin_a, body.clone())
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{a:?} {b:?}");
    let n: i64 = sqlx::query_scalar("select count(*) from devices where serial = 'RACE-1'")
        .fetch_one(&w.app.db.pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn devices_are_visible_by_scope_and_404_elsewhere() {
    let w = world().await;
    let d1 = device(&w, "A-1", Some(w.p1)).await;
    let d2 = device(&w, "A-2", Some(w.p2)).await;
    device(&w, "A-3", None).await;
    let (status, list) = w.get("/devices?sort=serial", &w.admin_a).await;
    assert_eq!((status, serials(&list)), (200, vec!["A-1", "A-2", "A-3"]));
    assert_eq!(
        serials(&w.get("/devices", &w.doctor_a).await.1),
        ["A-1"],
        "the doctor sees the devices of team patients"
    );
    assert!(serials(&w.get("/devices", &w.other_doctor_a).await.1).is_empty());
    assert!(serials(&w.get("/devices", &w.admin_b).await.1).is_empty());
    for (token, id) in [(&w.admin_b, &d1), (&w.doctor_a, &d2)] {
        let (status, v) = w.get(&format!("/devices/{id}"), token).await;
        assert_eq!((status, error_id(&v)), (404, "HG-DEVICE-NOT-FOUND"));
        assert_eq!(w.get(&format!("/devices/{id}/streams"), token).await.0, 404);
        assert_eq!(
            w.post(&format!("/devices/{id}/credentials"), token, json!({}))
                .await
                .0,
            404
        );
    }
    let (_, list) = w
        .get(&format!("/devices?owner_patient_id={}", w.p2), &w.admin_a)
        .await;
    assert_eq!(serials(&list), ["A-2"]);
    let (_, v) = w
        .get("/devices/count?device_type=wearable_multi", &w.admin_a)
        .await;
    assert_eq!(v["data"]["count"], 3);
    let (_, v) = w
        .post("/devices/count", &w.doctor_a, json!({"active": true}))
        .await;
    assert_eq!(v["data"]["count"], 1);
    for bad in [
        "device_type=toaster",
        "active=perhaps",
        "owner_patient_id=7",
        "sort=brand",
    ] {
        assert_eq!(
            w.get(&format!("/devices?{bad}"), &w.admin_a).await.0,
            400,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn devices_are_edited_and_archived_by_org_admins() {
    let w = world().await;
    let d = device(&w, "EDIT-1", Some(w.p1)).await;
    let path = format!("/devices/{d}");
    let (status, v) = w
        .req(
            Method::PATCH,
            &path,
            &w.admin_a,
            Some(json!({"owner_patient_id": null, "active": false, "model": "v2"})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert!(v["data"]["owner_patient_id"].is_null());
    assert_eq!(v["data"]["active"], false);
    let (status, body) = w
        .req(
            Method::PATCH,
            &path,
            &w.admin_a,
            Some(json!({"serial": "NEW"})),
        )
        .await;
    assert_eq!(status, 400, "the serial is immutable");
    assert!(
        body["error"]["details"]["fields"]["serial"].is_string(),
        "names serial: {body}"
    );
    let (status, v) = w
        .req(
            Method::PATCH,
            &path,
            &w.admin_a,
            Some(json!({"device_type": "RADIO"})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(names_field(&v, "device_type"));
    let (status, v) = w
        .post(&format!("{path}/credentials"), &w.admin_a, json!({}))
        .await;
    assert_eq!((status, error_id(&v)), (422, "HG-DEVICE-INACTIVE"));
    assert_eq!(w.req(Method::DELETE, &path, &w.doctor_a, None).await.0, 404);
    assert_eq!(w.req(Method::DELETE, &path, &w.admin_a, None).await.0, 204);
    assert_eq!(w.get(&path, &w.admin_a).await.0, 404);
}

#[tokio::test]
async fn credentials_are_shown_once_stored_as_digests_and_rotation_replaces_them() {
    let w = world().await;
    let d = device(&w, "CRED-1", Some(w.p1)).await;
    let (status, v) = w
        .post(&format!("/devices/{d}/credentials"), &w.admin_a, json!({}))
        .await;
    assert_eq!(status, 201, "{v}");
    let first = v["data"]["credential"].as_str().unwrap().to_owned();
    assert!(first.starts_with(&format!("{d}.")));
    let (_, dev) = w.get(&format!("/devices/{d}"), &w.admin_a).await;
    assert_eq!(dev["data"]["has_credential"], true);
    assert!(
        !dev.to_string().contains(first.split('.').nth(1).unwrap()),
        "the secret is shown again"
    );
    let mut conn = w.app.db.pool.acquire().await.unwrap();
    assert!(
        hg_domain::device::authenticate(&mut conn, &first)
            .await
            .unwrap()
            .is_some()
    );
    let (_, v) = w
        .post(&format!("/devices/{d}/credentials"), &w.admin_a, json!({}))
        .await;
    let second = v["data"]["credential"].as_str().unwrap().to_owned();
    assert!(
        hg_domain::device::authenticate(&mut conn, &first)
            .await
            .unwrap()
            .is_none(),
        "the old credential still works"
    );
    assert!(
        hg_domain::device::authenticate(&mut conn, &second)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        hg_domain::device::authenticate(&mut conn, "garbage")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        w.post(&format!("/devices/{d}/credentials"), &w.doctor_a, json!({}))
            .await
            .0,
        403
    );
}

#[tokio::test]
async fn streams_open_once_per_signal_and_close_with_checks() {
    let w = world().await;
    let d = device(&w, "STR-1", Some(w.p1)).await;
    let path = format!("/devices/{d}/streams");
    let (status, v) = w
        .post(
            &path,
            &w.doctor_a,
            json!({"signal_type": "hr", "sample_rate_hz": 1}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(
        (
            v["data"]["signal_type"].as_str(),
            v["data"]["open"].as_bool()
        ),
        (Some("HR"), Some(true))
    );
    assert_eq!(
        v["data"]["patient_id"],
        w.p1.to_string(),
        "the owner by default"
    );
    let stream = v["data"]["id"].as_str().unwrap().to_owned();
    let (status, v) = w
        .post(
            &path,
            &w.admin_a,
            json!({"signal_type": "HR", "sample_rate_hz": 1}),
        )
        .await;
    assert_eq!((status, error_id(&v)), (409, "HG-STREAM-OPEN"));
    for (body, field) in [
        (
            json!({"signal_type": "HR", "sample_rate_hz": 0}),
            "sample_rate_hz",
        ),
        (
            json!({"signal_type": "HR", "sample_rate_hz": 20000}),
            "sample_rate_hz",
        ),
        (
            json!({"signal_type": "MOOD", "sample_rate_hz": 1}),
            "signal_type",
        ),
        (json!({"signal_type": "ECG"}), "sample_rate_hz"),
        (
            json!({"signal_type": "ECG", "sample_rate_hz": 250, "patient_id": Uuid::new_v4()}),
            "patient_id",
        ),
    ] {
        let (status, v) = w.post(&path, &w.admin_a, body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert!(names_field(&v, field), "{field}: {v}");
    }
    // Another team's clinician cannot see it; a patient not in the doctor's team cannot be streamed by him.
    assert_eq!(
        w.get(&format!("/streams/{stream}"), &w.other_doctor_a)
            .await
            .0,
        404
    );
    let (status, _) = w
        .post(
            &path,
            &w.doctor_a,
            json!({"signal_type": "SpO2", "sample_rate_hz": 1, "patient_id": w.p2}),
        )
        .await;
    assert_eq!(status, 403);

    let (status, list) = w.get(&format!("{path}?open=true"), &w.doctor_a).await;
    assert_eq!((status, list["data"].as_array().unwrap().len()), (200, 1));
    let (status, v) = w
        .post(
            &format!("/streams/{stream}/close"),
            &w.doctor_a,
            json!({"ended_at": "2000-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(names_field(&v, "ended_at"));
    let resp = w
        .app
        .client
        .post(w.app.url(DEVICE, &format!("/streams/{stream}/close")))
        .bearer_auth(&w.doctor_a)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "closing needs no body");
    let (status, v) = w
        .post(&format!("/streams/{stream}/close"), &w.doctor_a, json!({}))
        .await;
    assert_eq!((status, error_id(&v)), (422, "HG-STREAM-CLOSED"));
    assert_eq!(
        w.post(
            &path,
            &w.doctor_a,
            json!({"signal_type": "HR", "sample_rate_hz": 1})
        )
        .await
        .0,
        201,
        "a new HR stream after closing"
    );
    let (_, list) = w.get(&format!("{path}?open=false"), &w.admin_a).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bindings_and_tags_are_managed_by_org_admins() {
    let w = world().await;
    let d = device(&w, "BIND-1", Some(w.p1)).await;
    let (_, v) = w
        .post(
            &format!("/devices/{d}/streams"),
            &w.admin_a,
            json!({"signal_type": "HR", "sample_rate_hz": 1}),
        )
        .await;
    let stream = v["data"]["id"].as_str().unwrap().to_owned();
    let path = format!("/streams/{stream}/bindings");
    let (status, v) = w
        .post(
            &path,
            &w.admin_a,
            json!({"bucket": "vitals", "measurement": "hr", "tags": {"site": "cdmx"}}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["data"]["tags"], json!({"site": "cdmx"}));
    let binding = v["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        w.post(
            &path,
            &w.admin_a,
            json!({"bucket": "vitals", "measurement": "hr"})
        )
        .await
        .1["error"]["id"],
        "HG-BINDING-EXISTS"
    );
    for (body, field) in [
        (json!({"bucket": "", "measurement": "hr"}), "bucket"),
        (json!({"bucket": "b"}), "measurement"),
        (
            json!({"bucket": "b", "measurement": "m", "tags": {"bad key!": "x"}}),
            "tags",
        ),
    ] {
        let (status, v) = w.post(&path, &w.admin_a, body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert!(names_field(&v, field), "{field}: {v}");
    }
    assert_eq!(
        w.post(
            &path,
            &w.doctor_a,
            json!({"bucket": "x", "measurement": "y"})
        )
        .await
        .0,
        403
    );
    let (status, v) = w
        .req(
            Method::PUT,
            &format!("{path}/{binding}/tags/room"),
            &w.admin_a,
            Some(json!({"value": "12"})),
        )
        .await;
    assert_eq!(
        (status, v["data"]["tags"]["room"].as_str()),
        (200, Some("12"))
    );
    assert_eq!(
        w.req(
            Method::DELETE,
            &format!("{path}/{binding}/tags/room"),
            &w.admin_a,
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        w.req(
            Method::DELETE,
            &format!("{path}/{binding}/tags/room"),
            &w.admin_a,
            None
        )
        .await
        .0,
        404
    );
    let (status, list) = w.get(&path, &w.doctor_a).await;
    assert_eq!((status, list["data"].as_array().unwrap().len()), (200, 1));
    assert_eq!(
        w.req(
            Method::DELETE,
            &format!("{path}/{binding}"),
            &w.admin_a,
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(w.get(&path, &w.admin_b).await.0, 404);
}
