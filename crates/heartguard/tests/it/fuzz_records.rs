//! Property-based robustness of the records services (issue #5): random strings (any unicode, NUL
//! bytes, very long), huge and negative numbers, wrong types, nulls and nested junk go into every
//! create and update body and every list's query parameters, as the most privileged caller (so the
//! input reaches the deepest validation). No answer may be a 5xx.

use std::collections::BTreeMap;

use hg_platform::Component;
use hg_test_support::{TestApp, fixtures};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Method;
use serde_json::{Value, json};

/// Requests per endpoint (bodies) and per list (query strings).
const CASES: usize = 48;

fn leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
        "\\PC{0,40}".prop_map(Value::String),
        "[a-z_]{0,12}".prop_map(Value::String),
        Just(json!("x\u{0}y")),
        Just(json!("9".repeat(400))),
        Just(json!("a".repeat(5000))),
        Just(json!("2026-13-45T99:99:99Z")),
        Just(json!("1969-12-31")),
        Just(json!("00000000-0000-0000-0000-000000000000")),
        Just(json!("high")),
        Just(json!("ECG")),
        Just(json!(1e308)),
        Just(json!(-1)),
    ]
    .boxed()
}

fn value() -> BoxedStrategy<Value> {
    leaf()
        .prop_recursive(2, 12, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z_]{1,10}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
        .boxed()
}

/// A body with the endpoint's fields (each present or not, with any value) and sometimes a stray one.
fn body(fields: &'static [&'static str]) -> BoxedStrategy<Value> {
    (
        proptest::collection::vec(proptest::option::of(value()), fields.len()),
        proptest::option::of(("[a-z]{1,8}", value())),
        prop::bool::weighted(0.05),
    )
        .prop_map(move |(vals, stray, not_object)| {
            if not_object {
                return json!([1, "two"]);
            }
            let mut m = serde_json::Map::new();
            for (f, v) in fields.iter().zip(vals) {
                if let Some(v) = v {
                    m.insert((*f).to_owned(), v);
                }
            }
            if let Some((k, v)) = stray {
                m.insert(k, v);
            }
            Value::Object(m)
        })
        .boxed()
}

fn query(params: &'static [&'static str]) -> BoxedStrategy<String> {
    proptest::collection::vec(
        (
            proptest::sample::select(params.to_vec()),
            prop_oneof![
                any::<String>(),
                "\\PC{0,20}",
                Just("-1".to_owned()),
                Just("99999999999999999999".to_owned())
            ],
        ),
        0..4,
    )
    .prop_map(|pairs| {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs.into_iter().collect::<BTreeMap<_, _>>() {
            ser.append_pair(k, &v);
        }
        ser.finish()
    })
    .boxed()
}

struct Target {
    component: Component,
    method: Method,
    path: String,
    fields: &'static [&'static str],
}

#[tokio::test]
async fn random_input_never_gets_a_server_error() {
    let app = TestApp::builder()
        .with(Component::Organization)
        .with(Component::User)
        .with(Component::Patient)
        .with(Component::Device)
        .spawn()
        .await;
    let pool = &app.db.pool;
    let org = fixtures::org(pool, "FUZZ").await;
    let root_id = fixtures::user(pool, "root@example.org", Some("superadmin")).await;
    fixtures::membership(pool, org, root_id, "org_admin").await;
    let team = fixtures::care_team(pool, org, "Team", &[root_id]).await;
    let patient = fixtures::patient(pool, org, "Fuzz Patient", Some(team)).await;
    let device: uuid::Uuid = sqlx::query_scalar(
        "insert into devices (org_id, serial, device_type, owner_patient_id) values ($1, 'FUZZ-1', 'WEARABLE_MULTI', $2) returning id",
    )
    .bind(org)
    .bind(patient)
    .fetch_one(pool)
    .await
    .unwrap();
    let stream: uuid::Uuid = sqlx::query_scalar(
        "insert into signal_streams (org_id, patient_id, device_id, signal_type, sample_rate_hz) values ($1, $2, $3, 'HR', 1) returning id",
    )
    .bind(org)
    .bind(patient)
    .bind(device)
    .fetch_one(pool)
    .await
    .unwrap();
    let root = app.token_for(root_id).await;

    use Component::{Device as D, Organization as O, Patient as P, User as U};
    let t = |component, method, path: String, fields| Target {
        component,
        method,
        path,
        fields,
    };
    let targets = vec![
        t(
            O,
            Method::POST,
            "/organizations".into(),
            &["code", "name", "allow_patient_registration"],
        ),
        t(
            O,
            Method::PATCH,
            format!("/organizations/{org}"),
            &["name", "allow_patient_registration", "logo_url"],
        ),
        t(
            O,
            Method::POST,
            format!("/organizations/{org}/members"),
            &["user_id", "email", "org_role"],
        ),
        t(
            O,
            Method::POST,
            format!("/organizations/{org}/invitations"),
            &["email", "org_role", "ttl_hours"],
        ),
        t(
            O,
            Method::POST,
            format!("/organizations/{org}/care-teams"),
            &["name"],
        ),
        t(
            O,
            Method::POST,
            format!("/organizations/{org}/care-teams/{team}/members"),
            &["user_id", "role"],
        ),
        t(
            O,
            Method::POST,
            format!("/organizations/{org}/care-teams/{team}/patients"),
            &["patient_id"],
        ),
        t(
            U,
            Method::PATCH,
            "/users/me".into(),
            &["name", "locale", "profile_photo_url"],
        ),
        t(
            U,
            Method::PUT,
            format!("/users/{root_id}/roles"),
            &["roles"],
        ),
        t(
            U,
            Method::POST,
            "/users/count".into(),
            &["org_id", "status", "role", "q"],
        ),
        t(
            P,
            Method::POST,
            "/patients".into(),
            &[
                "org_id",
                "person_name",
                "email",
                "birthdate",
                "sex",
                "risk_level",
                "care_team_ids",
            ],
        ),
        t(
            P,
            Method::PATCH,
            format!("/patients/{patient}"),
            &["person_name", "email", "birthdate", "sex", "risk_level"],
        ),
        t(
            P,
            Method::POST,
            format!("/patients/{patient}/caregivers"),
            &["user_id", "relationship", "is_primary", "note"],
        ),
        t(
            P,
            Method::POST,
            format!("/patients/{patient}/locations"),
            &["ts", "latitude", "longitude", "accuracy_m", "source"],
        ),
        t(
            P,
            Method::POST,
            format!("/patients/{patient}/ground-truth"),
            &["event_type", "onset", "offset_at", "source", "note"],
        ),
        t(
            P,
            Method::POST,
            "/patients/count".into(),
            &["org_id", "risk_level", "care_team_id", "q"],
        ),
        t(
            D,
            Method::POST,
            "/devices".into(),
            &[
                "org_id",
                "serial",
                "brand",
                "model",
                "device_type",
                "owner_patient_id",
                "active",
            ],
        ),
        t(
            D,
            Method::PATCH,
            format!("/devices/{device}"),
            &[
                "brand",
                "model",
                "device_type",
                "owner_patient_id",
                "active",
            ],
        ),
        t(
            D,
            Method::POST,
            format!("/devices/{device}/streams"),
            &["signal_type", "sample_rate_hz", "patient_id"],
        ),
        t(
            D,
            Method::POST,
            format!("/streams/{stream}/bindings"),
            &[
                "influx_org",
                "bucket",
                "measurement",
                "retention_hint",
                "tags",
            ],
        ),
        t(
            D,
            Method::POST,
            "/devices/count".into(),
            &["org_id", "owner_patient_id", "device_type", "active", "q"],
        ),
    ];
    let lists: Vec<(Component, String, &'static [&'static str])> = vec![
        (
            O,
            "/organizations".into(),
            &["limit", "cursor", "offset", "sort", "q", "archived"],
        ),
        (
            O,
            format!("/organizations/{org}/members"),
            &["limit", "cursor", "sort", "org_role", "q"],
        ),
        (
            O,
            format!("/organizations/{org}/invitations"),
            &["limit", "cursor", "sort", "status"],
        ),
        (
            U,
            "/users".into(),
            &["limit", "cursor", "sort", "org_id", "status", "role", "q"],
        ),
        (
            P,
            "/patients".into(),
            &[
                "limit",
                "cursor",
                "offset",
                "sort",
                "org_id",
                "risk_level",
                "care_team_id",
                "q",
                "archived",
            ],
        ),
        (
            P,
            format!("/patients/{patient}/locations"),
            &["limit", "cursor", "sort", "from", "to"],
        ),
        (
            P,
            format!("/patients/{patient}/alerts"),
            &["limit", "cursor", "sort", "status"],
        ),
        (
            D,
            "/devices".into(),
            &[
                "limit",
                "cursor",
                "sort",
                "org_id",
                "owner_patient_id",
                "device_type",
                "active",
                "q",
            ],
        ),
        (
            D,
            format!("/devices/{device}/streams"),
            &["limit", "cursor", "sort", "open", "signal_type"],
        ),
    ];

    let mut runner = TestRunner::new(Config::default());
    let mut failures = Vec::new();
    let mut sent = 0;
    for target in &targets {
        let strategy = body(target.fields);
        for _ in 0..CASES {
            let input = strategy.new_tree(&mut runner).unwrap().current();
            let resp = app
                .client
                .request(
                    target.method.clone(),
                    app.url(target.component, &target.path),
                )
                .bearer_auth(&root)
                .json(&input)
                .send()
                .await
                .unwrap();
            sent += 1;
            if resp.status().is_server_error() {
                failures.push(format!(
                    "{} {} {input} -> {}",
                    target.method,
                    target.path,
                    resp.text().await.unwrap_or_default()
                ));
            }
        }
    }
    for (component, path, params) in &lists {
        let strategy = query(params);
        for _ in 0..CASES {
            let qs = strategy.new_tree(&mut runner).unwrap().current();
            let resp = app
                .client
                .get(app.url(*component, &format!("{path}?{qs}")))
                .bearer_auth(&root)
                .send()
                .await
                .unwrap();
            sent += 1;
            if resp.status().is_server_error() {
                failures.push(format!(
                    "GET {path}?{qs} -> {}",
                    resp.text().await.unwrap_or_default()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {sent} requests got a 5xx:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
