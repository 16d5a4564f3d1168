//! The scope matrix of spec/04: every demo principal, signed in through the auth component with the
//! demo data of spec/02, sees exactly the organizations, patients and devices the specification gives
//! it — through the same query predicates the services use — and holds the permissions its roles give.

use hg_domain::catalog::Permission as P;
use std::collections::BTreeSet;
use std::sync::Arc;

use hg_domain::access::{self, Permissions, Scope};
use hg_domain::seed::demo::{DemoPasswords, demo};
use hg_platform::Component;
use hg_platform::auth::Principal;
use hg_test_support::TestApp;
use serde_json::json;

const DEMO_PASSWORD: &str = "demo-password-1234";

const ALL_PATIENTS: [&str; 10] = [
    "Juan Pérez Gómez",
    "Rosa Martínez Luna",
    "Luis Hernández Soto",
    "Elena Gómez Ruiz",
    "Miguel Sánchez Vera",
    "Carmen Díaz Ortega",
    "Pedro Ruiz Campos",
    "Paciente de Prueba 1",
    "Paciente de Prueba 2",
    "Paciente de Prueba 3",
];

struct Expected {
    email: &'static str,
    patient_login: bool,
    orgs: &'static [&'static str],
    patients: &'static [&'static str],
}

const MATRIX: &[Expected] = &[
    Expected {
        email: "admin@heartguard.com",
        patient_login: false,
        orgs: &["CLIN-001", "FAM-001", "OPS-001"],
        patients: &ALL_PATIENTS,
    },
    Expected {
        email: "ops@heartguard.com",
        patient_login: false,
        orgs: &["CLIN-001", "FAM-001", "OPS-001"],
        patients: &[],
    },
    Expected {
        email: "ana.admin@fam001.demo",
        patient_login: false,
        orgs: &["FAM-001"],
        patients: &[
            "Juan Pérez Gómez",
            "Rosa Martínez Luna",
            "Luis Hernández Soto",
        ],
    },
    Expected {
        email: "carlos.admin@clin001.demo",
        patient_login: false,
        orgs: &["CLIN-001"],
        patients: &[
            "Elena Gómez Ruiz",
            "Miguel Sánchez Vera",
            "Carmen Díaz Ortega",
            "Pedro Ruiz Campos",
        ],
    },
    // A clinician sees the patients of her care team (Cardiología), not the clinic's other patients.
    Expected {
        email: "dra.lopez@clin001.demo",
        patient_login: false,
        orgs: &["CLIN-001"],
        patients: &[
            "Elena Gómez Ruiz",
            "Miguel Sánchez Vera",
            "Carmen Díaz Ortega",
        ],
    },
    // A caregiver belongs to no organization and sees only the patient she is linked to.
    Expected {
        email: "maria.cuidadora@fam001.demo",
        patient_login: false,
        orgs: &[],
        patients: &["Juan Pérez Gómez"],
    },
    // A patient sees themself (and the name of their own organization).
    Expected {
        email: "paciente1@fam001.demo",
        patient_login: true,
        orgs: &["FAM-001"],
        patients: &["Juan Pérez Gómez"],
    },
];

async fn principal(app: &TestApp, e: &Expected) -> Principal {
    let path = if e.patient_login {
        "/auth/patient/login"
    } else {
        "/auth/login"
    };
    let password = if e.email == "admin@heartguard.com" {
        "admin-password-1234"
    } else {
        DEMO_PASSWORD
    };
    let resp = app
        .client
        .post(app.url(Component::Auth, path))
        .json(&json!({"email": e.email, "password": password}))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = resp.json().await.unwrap();
    let token = body["data"]["tokens"]["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{} could not log in: {body}", e.email));
    let claims = app.platform.tokens.as_ref().unwrap().verify(token).unwrap();
    Principal {
        claims: Arc::new(claims),
    }
}

async fn names(app: &TestApp, sql: &str, ids: BTreeSet<uuid::Uuid>) -> BTreeSet<String> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(ids.into_iter().collect::<Vec<_>>())
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn each_demo_principal_sees_exactly_what_spec_04_grants() {
    let app = TestApp::builder()
        .with(Component::Auth)
        .with(Component::User)
        .spawn()
        .await;
    demo(
        &app.db.pool,
        &DemoPasswords {
            admin: "admin-password-1234".into(),
            demo: DEMO_PASSWORD.into(),
        },
    )
    .await
    .unwrap();
    let permissions = Permissions::new();
    for e in MATRIX {
        let p = principal(&app, e).await;
        let scope = Scope::of(&p);
        let mut conn = app.db.pool.acquire().await.unwrap();
        let orgs = access::visible_organizations(&mut conn, &scope)
            .await
            .unwrap();
        let patients = access::visible_patients(&mut conn, &scope).await.unwrap();
        let devices = access::visible_devices(&mut conn, &scope).await.unwrap();
        drop(conn);
        assert_eq!(
            names(
                &app,
                "select code from organizations where id = any($1)",
                orgs
            )
            .await,
            set(e.orgs),
            "organizations of {}",
            e.email
        );
        assert_eq!(
            names(
                &app,
                "select person_name from patients where id = any($1)",
                patients
            )
            .await,
            set(e.patients),
            "patients of {}",
            e.email
        );
        // Devices follow patients: exactly the devices of the visible patients.
        assert_eq!(
            names(
                &app,
                "select p.person_name from devices d join patients p on p.id = d.owner_patient_id where d.id = any($1)",
                devices
            )
            .await,
            set(e.patients),
            "devices of {}",
            e.email
        );
    }

    // Single-row checks use the same predicate: another team's or organization's patient is invisible.
    let lopez = principal(&app, &MATRIX[4]).await;
    let mut conn = app.db.pool.acquire().await.unwrap();
    let pedro: uuid::Uuid =
        sqlx::query_scalar("select id from patients where person_name = 'Pedro Ruiz Campos'")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    let juan: uuid::Uuid =
        sqlx::query_scalar("select id from patients where person_name = 'Juan Pérez Gómez'")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert!(
        !access::can_see_patient(&mut conn, &Scope::of(&lopez), pedro)
            .await
            .unwrap()
    );
    assert!(
        !access::can_see_patient(&mut conn, &Scope::of(&lopez), juan)
            .await
            .unwrap()
    );
    let maria = principal(&app, &MATRIX[5]).await;
    assert!(
        access::can_see_patient(&mut conn, &Scope::of(&maria), juan)
            .await
            .unwrap()
    );
    drop(conn);

    // Permissions come from role_permission and org_role_permission.
    let (fam, clin) = (
        org_id(&app, "FAM-001").await,
        org_id(&app, "CLIN-001").await,
    );
    let superadmin = granted(&app, &permissions, 0).await;
    assert!(
        superadmin.allows(P::OrgsManage, None) && superadmin.allows(P::PatientsManage, Some(clin))
    );
    let ops = granted(&app, &permissions, 1).await;
    assert!(ops.allows(P::AuditRead, None) && ops.allows(P::ServicesRead, None));
    assert!(
        !ops.allows(P::PatientsRead, Some(fam)),
        "ops must see no patient data"
    );
    let ana = granted(&app, &permissions, 2).await;
    assert!(ana.allows(P::PatientsManage, Some(fam)) && ana.allows(P::MembersManage, Some(fam)));
    assert!(!ana.allows(P::PatientsManage, Some(clin)));
    let lopez = granted(&app, &permissions, 4).await;
    assert!(
        lopez.allows(P::AlertsManage, Some(clin)) && !lopez.allows(P::MembersManage, Some(clin))
    );
    let maria = granted(&app, &permissions, 5).await;
    assert!(maria.allows(P::AlertsAck, None) && !maria.allows(P::PatientsManage, None));
    let patient = granted(&app, &permissions, 6).await;
    assert!(
        !patient.allows(P::PatientsManage, Some(fam))
            && !patient.allows(P::AlertsManage, Some(fam))
    );
}

async fn org_id(app: &TestApp, code: &str) -> uuid::Uuid {
    sqlx::query_scalar("select id from organizations where code = $1")
        .bind(code)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

async fn granted(app: &TestApp, permissions: &Permissions, i: usize) -> access::Granted {
    let p = principal(app, &MATRIX[i]).await;
    permissions.of(&app.db.pool, &p).await.unwrap()
}

#[tokio::test]
async fn an_anonymous_caller_sees_nothing() {
    let app = TestApp::builder()
        .with(Component::Auth)
        .with(Component::User)
        .spawn()
        .await;
    for (c, path) in [
        (Component::Auth, "/auth/me"),
        (Component::User, "/users/me"),
    ] {
        let resp = app.client.get(app.url(c, path)).send().await.unwrap();
        assert_eq!(resp.status(), 401, "{path}");
    }
    let mut conn = app.db.pool.acquire().await.unwrap();
    let nobody = Scope::default();
    hg_test_support::fixtures::org(&app.db.pool, "SOME-ORG").await;
    assert!(
        access::visible_organizations(&mut conn, &nobody)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        access::visible_patients(&mut conn, &nobody)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        access::visible_devices(&mut conn, &nobody)
            .await
            .unwrap()
            .is_empty()
    );
}
