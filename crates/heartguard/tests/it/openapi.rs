//! The OpenAPI descriptions (spec/03 "OpenAPI"): the gateway serves the merged document behind the
//! API key, each component serves its own, every `$ref` resolves, operation ids are unique, and —
//! the check that keeps the document honest — every described operation is routed through the
//! gateway and answers an anonymous caller as its `security` says.

use std::collections::BTreeSet;

use hg_platform::Component;
use hg_test_support::{TEST_API_KEY, TestApp};
use serde_json::Value;
use uuid::Uuid;

const KEY_HEADER: &str = "x-internal-api-key";
const DESCRIBED: [Component; 11] = [
    Component::Auth,
    Component::Organization,
    Component::User,
    Component::Patient,
    Component::Device,
    Component::Timeseries,
    Component::Alert,
    Component::Inference,
    Component::Audit,
    Component::Notification,
    Component::Media,
];

async fn platform() -> TestApp {
    let mut b = TestApp::builder().with(Component::Gateway);
    for c in DESCRIBED {
        b = b.with(c);
    }
    b.spawn().await
}

async fn merged(app: &TestApp) -> Value {
    let resp = app
        .client
        .get(app.url(Component::Gateway, "/openapi.json"))
        .header(KEY_HEADER, TEST_API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// Every `"$ref"` string anywhere in `v`.
fn refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        out.insert(r.clone());
                    }
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                ops.push((method.clone(), path.clone(), op.clone()));
            }
        }
    }
    ops
}

#[tokio::test]
async fn merged_document_is_behind_the_key_complete_and_self_consistent() {
    let app = platform().await;
    let anonymous = app
        .client
        .get(app.url(Component::Gateway, "/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401, "the document needs the API key");

    let doc = merged(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "HeartGuard API");
    // One path of each service, with the methods its router has.
    for (path, methods) in [
        ("/auth/login", &["post"][..]),
        ("/organizations/{id}", &["get", "patch", "delete"][..]),
        ("/users/me", &["get", "patch"][..]),
        ("/patients/{id}", &["get", "patch"][..]),
        ("/streams/{id}/close", &["post"][..]),
    ] {
        for m in methods {
            assert!(
                doc["paths"][path][m].is_object(),
                "{m} {path} is not described"
            );
        }
    }
    let ops = operations(&doc);
    assert!(ops.len() >= 90, "only {} operations described", ops.len());
    let ids: BTreeSet<&str> = ops
        .iter()
        .map(|(_, _, op)| op["operationId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), ops.len(), "operation ids repeat");

    let mut all = BTreeSet::new();
    refs(&doc, &mut all);
    for r in &all {
        let (kind, name) = r
            .strip_prefix("#/components/")
            .and_then(|r| r.split_once('/'))
            .unwrap_or_else(|| panic!("unexpected reference {r}"));
        assert!(
            doc["components"][kind][name].is_object(),
            "{r} does not resolve"
        );
    }

    // Errors follow the envelope; the login is public (key only), the rest needs a token too.
    assert_eq!(
        doc["paths"]["/patients/{id}"]["get"]["responses"]["404"]["$ref"],
        "#/components/responses/Error"
    );
    assert_eq!(
        doc["paths"]["/auth/login"]["post"]["security"],
        serde_json::json!([{"api_key": []}])
    );
    assert_eq!(
        doc["security"],
        serde_json::json!([{"api_key": [], "bearer": []}])
    );
    assert_eq!(
        doc["components"]["schemas"]["Patient"]["properties"]["person_name"]["type"],
        "string"
    );
}

#[tokio::test]
async fn every_described_operation_is_routed_and_guarded_as_described() {
    let app = platform().await;
    let doc = merged(&app).await;
    let mut checked = 0;
    for (method, path, op) in operations(&doc) {
        let concrete: String = path
            .split('/')
            .map(|seg| match seg {
                "{key}" => "room".to_owned(),
                s if s.starts_with('{') => Uuid::new_v4().to_string(),
                s => s.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/");
        let mut req = app
            .client
            .request(
                method.to_uppercase().parse().unwrap(),
                app.url(Component::Gateway, &concrete),
            )
            .header(KEY_HEADER, TEST_API_KEY);
        if op.get("requestBody").is_some() {
            req = req.header("content-type", "application/json").body("{}");
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let id = body["error"]["id"].as_str().unwrap_or("");
        let what = format!("{method} {path} → {status} {id}");
        assert!(
            id != "HG-ROUTE-NOT-FOUND" && status != 405,
            "described but not routed: {what}"
        );
        assert!(status < 500, "{what}");
        if op.get("security").is_none() {
            assert_eq!(status, 401, "needs a token by its description: {what}");
        } else {
            assert_ne!(status, 401, "public by its description: {what}");
        }
        checked += 1;
    }
    assert!(checked >= 90, "{checked}");
}

#[tokio::test]
async fn each_component_serves_its_own_description() {
    let app = platform().await;
    for c in DESCRIBED {
        let doc: Value = app
            .client
            .get(app.url(c, "/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            doc["info"]["title"],
            format!("HeartGuard {}", c.name()),
            "{c:?}"
        );
        let prefix = format!("/{}", c.prefixes()[0]);
        let paths = doc["paths"].as_object().unwrap();
        assert!(!paths.is_empty(), "{c:?} describes nothing");
        assert!(
            paths.keys().all(|p| c
                .prefixes()
                .iter()
                .any(|pre| p.starts_with(&format!("/{pre}")))),
            "{c:?} describes a path outside its prefixes {prefix}"
        );
    }
}
