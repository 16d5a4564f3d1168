//! Tenancy end to end, as a client sees it: through the gateway (with the internal API key), logging
//! in with the demo accounts of spec/02, each principal reaches exactly its own records.

use hg_domain::seed::demo::{DemoPasswords, demo};
use hg_platform::Component;
use hg_test_support::{TEST_API_KEY, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "demo-password-1234";

struct Gateway {
    app: TestApp,
}

impl Gateway {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .app
            .client
            .request(method, self.app.url(Component::Gateway, path))
            .header("x-internal-api-key", TEST_API_KEY);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn login(&self, email: &str) -> String {
        let (status, v) = self
            .call(
                Method::POST,
                "/auth/login",
                None,
                Some(json!({"email": email, "password": PASSWORD})),
            )
            .await;
        assert_eq!(status, 200, "{email}: {v}");
        v["data"]["tokens"]["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn patients(&self, token: &str) -> Vec<String> {
        let (status, v) = self
            .call(Method::GET, "/patients?sort=person_name", Some(token), None)
            .await;
        assert_eq!(status, 200, "{v}");
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["person_name"].as_str().unwrap().to_owned())
            .collect()
    }
}

async fn patient_id(app: &TestApp, name: &str) -> String {
    sqlx::query_scalar::<_, uuid::Uuid>("select id from patients where person_name = $1")
        .bind(name)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn demo_principals_reach_exactly_their_records_through_the_gateway() {
    let app = TestApp::builder()
        .with(Component::Gateway)
        .with(Component::Auth)
        .with(Component::Patient)
        .with(Component::Organization)
        .spawn()
        .await;
    demo(
        &app.db.pool,
        &DemoPasswords {
            admin: "admin-password-1234".into(),
            demo: PASSWORD.into(),
        },
    )
    .await
    .unwrap();
    let gw = Gateway { app };
    let clin_patient = patient_id(&gw.app, "Elena Gómez Ruiz").await;
    let clin_org: String =
        sqlx::query_scalar::<_, uuid::Uuid>("select id from organizations where code = 'CLIN-001'")
            .fetch_one(&gw.app.db.pool)
            .await
            .unwrap()
            .to_string();

    // ana.admin@fam001.demo: FAM-001 only.
    let ana = gw.login("ana.admin@fam001.demo").await;
    assert_eq!(
        gw.patients(&ana).await,
        [
            "Juan Pérez Gómez",
            "Luis Hernández Soto",
            "Rosa Martínez Luna"
        ]
    );
    let (status, v) = gw
        .call(
            Method::GET,
            &format!("/patients/{clin_patient}"),
            Some(&ana),
            None,
        )
        .await;
    assert_eq!(
        (status, v["error"]["id"].as_str()),
        (404, Some("HG-PATIENT-NOT-FOUND"))
    );
    let (status, _) = gw
        .call(
            Method::POST,
            "/patients",
            Some(&ana),
            Some(json!({"org_id": clin_org, "person_name": "Intruso"})),
        )
        .await;
    assert_eq!(status, 400, "creating a patient in CLIN-001 is refused");
    let (_, orgs) = gw.call(Method::GET, "/orgs", Some(&ana), None).await;
    assert_eq!(
        orgs["data"].as_array().unwrap().len(),
        1,
        "through the /orgs alias too"
    );

    // dra.lopez@clin001.demo: the patients of her care team, not the clinic's others.
    let lopez = gw.login("dra.lopez@clin001.demo").await;
    assert_eq!(
        gw.patients(&lopez).await,
        [
            "Carmen Díaz Ortega",
            "Elena Gómez Ruiz",
            "Miguel Sánchez Vera"
        ]
    );
    let pedro = patient_id(&gw.app, "Pedro Ruiz Campos").await;
    assert_eq!(
        gw.call(
            Method::GET,
            &format!("/patient/{pedro}"),
            Some(&lopez),
            None
        )
        .await
        .0,
        404
    );

    // maria.cuidadora@fam001.demo: her linked patient, read-only.
    let maria = gw.login("maria.cuidadora@fam001.demo").await;
    assert_eq!(gw.patients(&maria).await, ["Juan Pérez Gómez"]);
    let juan = patient_id(&gw.app, "Juan Pérez Gómez").await;
    assert_eq!(
        gw.call(
            Method::GET,
            &format!("/patients/{juan}"),
            Some(&maria),
            None
        )
        .await
        .0,
        200
    );
    let (status, v) = gw
        .call(
            Method::PATCH,
            &format!("/patients/{juan}"),
            Some(&maria),
            Some(json!({"person_name": "Cambiado"})),
        )
        .await;
    assert_eq!(
        (status, v["error"]["id"].as_str()),
        (403, Some("HG-FORBIDDEN"))
    );

    // Without the key the gateway refuses before anything else.
    let resp = gw
        .app
        .client
        .get(gw.app.url(Component::Gateway, "/patients"))
        .bearer_auth(&ana)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}
