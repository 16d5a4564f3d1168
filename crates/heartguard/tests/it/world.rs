//! The shared test world: two organizations with the principals every record test needs, and a
//! request builder. Each test gets its own (its own database, its own components).
//!
//! | principal | global role | organization role | links |
//! |---|---|---|---|
//! | `root` | superadmin | — | — |
//! | `admin_a` | — | org_admin of A | — |
//! | `doctor_a` | clinician | org_user of A | member of care team `team_a` |
//! | `other_doctor_a` | clinician | org_user of A | no team |
//! | `viewer_a` | — | viewer of A | — |
//! | `admin_b` | — | org_admin of B | — |
//! | `doctor_b` | clinician | org_user of B | — |
//! | `caregiver` | caregiver | — | no patient yet |
//!
//! Patients: `p1` "Ana Uno" (A, in `team_a`), `p2` "Beto Dos" (A, no team), `pb` "Carla Be" (B).

use std::ops::Deref;

use hg_platform::Component;
use hg_test_support::{TestApp, fixtures};
use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

use crate::support::call;

/// A signed-in staff user: their id and an access token (the token is what `&principal` gives
/// where a `&str` is expected).
pub struct Principal {
    pub id: Uuid,
    pub token: String,
}

impl Deref for Principal {
    type Target = str;
    fn deref(&self) -> &str {
        &self.token
    }
}

/// The token, for `bearer_auth`.
impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.token)
    }
}

pub struct World {
    pub app: TestApp,
    /// The component requests go to unless [`Request::on`] says otherwise.
    component: Component,
    pub org_a: Uuid,
    pub org_b: Uuid,
    pub team_a: Uuid,
    pub root: Principal,
    pub admin_a: Principal,
    pub doctor_a: Principal,
    pub other_doctor_a: Principal,
    pub viewer_a: Principal,
    pub admin_b: Principal,
    pub doctor_b: Principal,
    pub caregiver: Principal,
    pub p1: Uuid,
    pub p2: Uuid,
    pub pb: Uuid,
}

impl World {
    /// The world with `components` running; requests go to the first.
    pub async fn new(components: &[Component]) -> World {
        World::with_env(components, &[]).await
    }

    /// [`World::new`] with settings (`name`, `value`) on top of the test defaults.
    pub async fn with_env(components: &[Component], env: &[(&str, &str)]) -> World {
        let mut builder = TestApp::builder();
        for c in components {
            builder = builder.with(*c);
        }
        for (k, v) in env {
            builder = builder.env(k, v);
        }
        let app = builder.spawn().await;
        let pool = &app.db.pool;
        let org_a = fixtures::org(pool, "ORG-A").await;
        let org_b = fixtures::org(pool, "ORG-B").await;
        let staff = async |email: &str, global: Option<&str>, org: Option<(Uuid, &str)>| {
            let id = fixtures::user(pool, email, global).await;
            if let Some((org, role)) = org {
                fixtures::membership(pool, org, id, role).await;
            }
            id
        };
        let root = staff("root@example.org", Some("superadmin"), None).await;
        let admin_a = staff("admin.a@example.org", None, Some((org_a, "org_admin"))).await;
        let doctor_a = staff(
            "doctor.a@example.org",
            Some("clinician"),
            Some((org_a, "org_user")),
        )
        .await;
        let other_doctor_a = staff(
            "other.doctor@example.org",
            Some("clinician"),
            Some((org_a, "org_user")),
        )
        .await;
        let viewer_a = staff("viewer.a@example.org", None, Some((org_a, "viewer"))).await;
        let admin_b = staff("admin.b@example.org", None, Some((org_b, "org_admin"))).await;
        let doctor_b = staff(
            "doctor.b@example.org",
            Some("clinician"),
            Some((org_b, "org_user")),
        )
        .await;
        let caregiver = staff("carer@example.org", Some("caregiver"), None).await;
        let team_a = fixtures::care_team(pool, org_a, "Cardio", &[doctor_a]).await;
        let p1 = fixtures::patient(pool, org_a, "Ana Uno", Some(team_a)).await;
        let p2 = fixtures::patient(pool, org_a, "Beto Dos", None).await;
        let pb = fixtures::patient(pool, org_b, "Carla Be", None).await;
        let signed_in = async |id: Uuid| Principal {
            id,
            token: app.token_for(id).await,
        };
        World {
            root: signed_in(root).await,
            admin_a: signed_in(admin_a).await,
            doctor_a: signed_in(doctor_a).await,
            other_doctor_a: signed_in(other_doctor_a).await,
            viewer_a: signed_in(viewer_a).await,
            admin_b: signed_in(admin_b).await,
            doctor_b: signed_in(doctor_b).await,
            caregiver: signed_in(caregiver).await,
            component: components[0],
            org_a,
            org_b,
            team_a,
            p1,
            p2,
            pb,
            app,
        }
    }

    /// A request to build: `w.request(Method::PUT, path).token(&w.admin_a).json(body).send()`.
    pub fn request(&self, method: Method, path: &str) -> Request<'_> {
        Request {
            world: self,
            method,
            component: self.component,
            path: path.to_owned(),
            token: None,
            body: None,
        }
    }

    /// `method path` as `token`, with an optional JSON body: (status, body).
    pub async fn req(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let r = self.request(method, path).token(token);
        match body {
            Some(b) => r.json(b),
            None => r,
        }
        .send()
        .await
    }

    /// Asserts that every route answers an anonymous caller 401 `HG-UNAUTHENTICATED` (with a JSON
    /// body, so a body check cannot answer first).
    pub async fn assert_anonymous_refused(&self, routes: &[(Method, String)]) {
        for (method, path) in routes {
            let (status, body) = self
                .request(method.clone(), path)
                .json(serde_json::json!({}))
                .send()
                .await;
            assert_eq!(
                (status, crate::support::error_id(&body)),
                (401, "HG-UNAUTHENTICATED"),
                "{method} {path}"
            );
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.req(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.req(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.req(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (u16, Value) {
        self.req(Method::DELETE, path, token, None).await
    }
}

/// A request being built by [`World::request`].
pub struct Request<'w> {
    world: &'w World,
    method: Method,
    component: Component,
    path: String,
    token: Option<String>,
    body: Option<Value>,
}

impl Request<'_> {
    /// To another component than the world's first.
    pub fn on(mut self, c: Component) -> Self {
        self.component = c;
        self
    }

    /// As the holder of `token` (anonymous without).
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// (status, body — `Null` when empty).
    pub async fn send(self) -> (u16, Value) {
        call(
            &self.world.app,
            self.method,
            self.component,
            &self.path,
            self.token.as_deref(),
            self.body,
        )
        .await
    }
}
