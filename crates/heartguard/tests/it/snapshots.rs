//! Contract snapshots (issue 11): the error envelope, one JSON and one XML answer of every
//! component, and the merged OpenAPI document, as files under `tests/it/snapshots/`. A change to
//! any of them shows in review as a change to a snapshot (accept it with `cargo insta review`, or
//! `INSTA_UPDATE=always scripts/test -- snapshots`). Ids and times are replaced by placeholders.

use hg_platform::Component;
use hg_test_support::{TEST_API_KEY, TestApp, fixtures};
use uuid::Uuid;

/// Ids and times vary from run to run: placeholders instead.
fn stable(text: &str) -> String {
    static UUID: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap()
    });
    static TIME: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
            .unwrap()
    });
    // A consumer's backlog depends on how far it got with the requests just made.
    static BACKLOG: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r#"("ready": |<ready>)\d+"#).unwrap());
    let text = UUID.replace_all(text, "[uuid]");
    let text = BACKLOG.replace_all(&text, "${1}[n]");
    TIME.replace_all(&text, "[time]").into_owned()
}

/// The body of `GET path` on `c`, as JSON (pretty) or XML.
async fn answer(app: &TestApp, c: Component, path: &str, token: Option<&str>, xml: bool) -> String {
    let mut req = app
        .client
        .get(app.url(c, path))
        .header("x-internal-api-key", TEST_API_KEY)
        .header(
            "accept",
            if xml {
                "application/xml"
            } else {
                "application/json"
            },
        );
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let text = req.send().await.unwrap().text().await.unwrap();
    if xml {
        return stable(&text);
    }
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    stable(&serde_json::to_string_pretty(&value).unwrap())
}

#[tokio::test]
async fn every_component_answers_as_its_snapshot() {
    let app = TestApp::builder()
        .with(Component::Gateway)
        .with(Component::Auth)
        .with(Component::Organization)
        .with(Component::User)
        .with(Component::Patient)
        .with(Component::Device)
        .with(Component::Timeseries)
        .with(Component::Inference)
        .with(Component::Alert)
        .with(Component::Notification)
        .with(Component::Media)
        .with(Component::Audit)
        .with(Component::Admin)
        .spawn()
        .await;
    let pool = &app.db.pool;
    let org = fixtures::org(pool, "SNAP-ORG").await;
    let admin = fixtures::user(pool, "snap.admin@example.org", None).await;
    fixtures::membership(pool, org, admin, "org_admin").await;
    let patient = fixtures::patient(pool, org, "Paciente Instantánea", None).await;
    let token = app.token_for(admin).await;
    let t = Some(token.as_str());

    let described: [(Component, String); 6] = [
        (Component::Auth, "/auth/me".into()),
        (Component::Organization, format!("/organizations/{org}")),
        (Component::User, format!("/users/{admin}")),
        (Component::Patient, format!("/patients/{patient}")),
        (Component::Device, "/devices?limit=5".into()),
        (
            Component::Timeseries,
            format!("/timeseries/patients/{patient}/latest"),
        ),
    ];
    for (c, path) in &described {
        for xml in [false, true] {
            let name = format!("{}_{}", c.name(), if xml { "xml" } else { "json" });
            insta::assert_snapshot!(name, answer(&app, *c, path, t, xml).await);
        }
    }
    // The components without routes of their own yet answer their readiness.
    for c in [
        Component::Gateway,
        Component::Inference,
        Component::Alert,
        Component::Notification,
        Component::Media,
        Component::Audit,
        Component::Admin,
    ] {
        for xml in [false, true] {
            let name = format!("{}_ready_{}", c.name(), if xml { "xml" } else { "json" });
            insta::assert_snapshot!(name, answer(&app, c, "/ready", None, xml).await);
        }
    }
    // The error envelope.
    let missing = format!("/patients/{}", Uuid::now_v7());
    for xml in [false, true] {
        let name = format!("error_envelope_{}", if xml { "xml" } else { "json" });
        insta::assert_snapshot!(
            name,
            answer(&app, Component::Patient, &missing, t, xml).await
        );
    }
}

#[test]
fn the_merged_openapi_document_is_its_snapshot() {
    let doc = hg_services::gateway::openapi_document().unwrap();
    insta::assert_snapshot!(
        "openapi",
        serde_json::to_string_pretty(doc.as_ref()).unwrap()
    );
}
