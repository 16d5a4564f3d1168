//! One-line fixtures for the rows most tests need: organizations, staff users with roles and
//! memberships, care teams and patients. The identity work adds tokens for these principals on top.

use sqlx::PgPool;
use uuid::Uuid;

/// Password of every fixture user (hashing it once per process keeps tests fast).
pub const FIXTURE_PASSWORD: &str = "fixture-password-1234";

fn fixture_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hg_domain::password::hash(FIXTURE_PASSWORD).expect("hash"))
}

/// An organization with `code` (upper-case, e.g. `TEST-ORG`).
pub async fn org(pool: &PgPool, code: &str) -> Uuid {
    sqlx::query_scalar("insert into organizations (code, name) values ($1, $2) returning id")
        .bind(code)
        .bind(format!("Organization {code}"))
        .fetch_one(pool)
        .await
        .expect("insert organization")
}

/// An active user with `email`, optionally holding a global role (`superadmin`, `ops`, `clinician`,
/// `caregiver`).
pub async fn user(pool: &PgPool, email: &str, global_role: Option<&str>) -> Uuid {
    let id: Uuid = sqlx::query_scalar(
        "insert into users (name, email, password_hash, status, email_verified_at)
         values ($1, $2, $3, 'active', now()) returning id",
    )
    .bind(email.split('@').next().unwrap_or(email))
    .bind(email)
    .bind(fixture_hash())
    .fetch_one(pool)
    .await
    .expect("insert user");
    if let Some(role) = global_role {
        sqlx::query(
            "insert into user_role (user_id, role_id) select $1, id from roles where name = $2",
        )
        .bind(id)
        .bind(role)
        .execute(pool)
        .await
        .expect("grant role");
    }
    id
}

/// A patient of `org` who signs in with `email` and [`FIXTURE_PASSWORD`] (address verified).
pub async fn patient_login(pool: &PgPool, org: Uuid, email: &str) -> Uuid {
    sqlx::query_scalar(
        "insert into patients (org_id, person_name, email, password_hash, email_verified, risk_level)
         values ($1, $2, $3, $4, true, 'low') returning id",
    )
    .bind(org)
    .bind(email.split('@').next().unwrap_or(email))
    .bind(email)
    .bind(fixture_hash())
    .fetch_one(pool)
    .await
    .expect("insert patient with a login")
}

/// Makes `user` a member of `org` with `org_role` (`org_admin`, `org_user`, `viewer`).
pub async fn membership(pool: &PgPool, org: Uuid, user: Uuid, org_role: &str) {
    sqlx::query("insert into user_org_membership (org_id, user_id, org_role) values ($1, $2, $3)")
        .bind(org)
        .bind(user)
        .bind(org_role)
        .execute(pool)
        .await
        .expect("insert membership");
}

/// A care team in `org` with `members` as doctors.
pub async fn care_team(pool: &PgPool, org: Uuid, name: &str, members: &[Uuid]) -> Uuid {
    let id: Uuid =
        sqlx::query_scalar("insert into care_teams (org_id, name) values ($1, $2) returning id")
            .bind(org)
            .bind(name)
            .fetch_one(pool)
            .await
            .expect("insert care team");
    for m in members {
        sqlx::query(
            "insert into care_team_member (team_id, org_id, user_id, role) values ($1, $2, $3, 'doctor')",
        )
        .bind(id)
        .bind(org)
        .bind(m)
        .execute(pool)
        .await
        .expect("insert team member");
    }
    id
}

/// A patient of `org`, in `team` when given.
pub async fn patient(pool: &PgPool, org: Uuid, name: &str, team: Option<Uuid>) -> Uuid {
    let id: Uuid = sqlx::query_scalar(
        "insert into patients (org_id, person_name, risk_level) values ($1, $2, 'low') returning id",
    )
    .bind(org)
    .bind(name)
    .fetch_one(pool)
    .await
    .expect("insert patient");
    if let Some(team) = team {
        sqlx::query(
            "insert into patient_care_team (patient_id, team_id, org_id) values ($1, $2, $3)",
        )
        .bind(id)
        .bind(team)
        .bind(org)
        .execute(pool)
        .await
        .expect("link patient to team");
    }
    id
}

/// An invitation to `org` for `email` with `org_role`, expiring in `ttl_hours`; returns the token
/// that would be e-mailed.
pub async fn invitation(
    pool: &PgPool,
    org: Uuid,
    email: &str,
    org_role: &str,
    ttl_hours: i64,
) -> String {
    let (token, digest) = hg_domain::identity::opaque_token();
    sqlx::query(
        "insert into org_invitations (org_id, email, org_role, token_hash, expires_at)
         values ($1, $2, $3, $4, now() + make_interval(hours => $5::int))",
    )
    .bind(org)
    .bind(email)
    .bind(org_role)
    .bind(digest)
    .bind(ttl_hours as i32)
    .execute(pool)
    .await
    .expect("insert invitation");
    token
}

/// An active caregiver link of `user` to `patient`.
pub async fn caregiver_link(pool: &PgPool, org: Uuid, patient: Uuid, user: Uuid, primary: bool) {
    sqlx::query(
        "insert into caregiver_patient (org_id, patient_id, user_id, relationship, is_primary) values ($1, $2, $3, 'child', $4)",
    )
    .bind(org)
    .bind(patient)
    .bind(user)
    .bind(primary)
    .execute(pool)
    .await
    .expect("insert caregiver link");
}
