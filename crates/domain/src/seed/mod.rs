//! `heartguard seed`: catalogs, roles, permissions, default rules, the model registry's built-in model,
//! the service list and the settings row — idempotent, safe on every start. `seed --demo` adds the
//! demo installation of spec/02 ([`demo`]).
//!
//! Every insert is `on conflict do nothing`: running the seed again never changes a row an operator
//! may have edited (a label, a rule), and never changes a row count.

pub mod demo;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::catalog::{
    ALERT_TYPES, CATALOGS, DEFAULT_RULES, EVENT_TYPES, ORG_ROLE_PERMISSIONS, PERMISSIONS,
    Permission, ROLE_PERMISSIONS, ROLES,
};
use crate::password;
use hg_platform::Component;

/// The seed failed; nothing was written (each seed runs in one transaction).
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Hash(#[from] password::HashError),
    #[error("storing samples: {0}")]
    Samples(#[from] crate::records::RecordError),
}

/// Namespace of the deterministic ids the seed gives its rows (UUIDv5 of a readable name), so a second
/// run finds the rows of the first.
const SEED_NAMESPACE: Uuid = Uuid::from_u128(0x6a1f_2c44_9b1e_4f0a_8d53_2e7c_90b1_d4e8);

/// The deterministic id of a seeded row.
pub fn seed_id(name: &str) -> Uuid {
    Uuid::new_v5(&SEED_NAMESPACE, name.as_bytes())
}

/// The built-in model registered by the seed.
pub const AFIB_MODEL: (&str, &str) = ("afib-rr-irregularity", "1.0.0");

/// Loads the platform's reference data; see the module documentation.
pub async fn base(pool: &PgPool) -> Result<(), SeedError> {
    let mut tx = pool.begin().await?;
    catalogs(&mut tx).await?;
    roles_and_permissions(&mut tx).await?;
    default_rules(&mut tx).await?;
    // The built-in AF model (detection::af): its fitted parameters are what the engine scores with,
    // so a re-seed brings an existing row up to date.
    let m = crate::detection::af::MODEL;
    sqlx::query!(
        "insert into models (id, name, version, task, training_data_ref, hyperparams, threshold, status)
         values ($1, $2, $3, 'AFIB detection from RR-interval irregularity (COSEn, nRMSSD, TPR; 60 beats)',
                 'simulator (ECGSYN RR model) seeds 1-40; docs/detection.md', $4, $5, 'active')
         on conflict (name, version) do update
            set task = excluded.task, training_data_ref = excluded.training_data_ref,
                hyperparams = excluded.hyperparams, threshold = excluded.threshold, updated_at = now()",
        seed_id("model:afib-rr-irregularity:1.0.0"),
        AFIB_MODEL.0,
        AFIB_MODEL.1,
        serde_json::to_value(m).unwrap_or_default(),
        m.threshold as f32,
    )
    .execute(&mut *tx)
    .await?;
    for c in Component::ALL {
        sqlx::query!(
            "insert into services (code, name, url) values ($1, $2, $3) on conflict (code) do nothing",
            c.name(),
            format!("HeartGuard {}", c.name()),
            format!("http://127.0.0.1:{}", c.default_port()),
        )
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query!("insert into system_settings (id) values (1) on conflict (id) do nothing")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn catalogs(tx: &mut PgConnection) -> Result<(), SeedError> {
    for catalog in CATALOGS {
        let codes: Vec<&str> = catalog.entries.iter().map(|e| e.0).collect();
        let labels: Vec<&str> = catalog.entries.iter().map(|e| e.1).collect();
        let weights: Vec<Option<i32>> = catalog.entries.iter().map(|e| e.2).collect();
        // The table name comes from the constant catalog list, never from input.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "insert into {} (code, label, weight)
             select * from unnest($1::text[], $2::text[], $3::int[])
             on conflict (code) do nothing",
            catalog.table
        )))
        .bind(&codes)
        .bind(&labels)
        .bind(&weights)
        .execute(&mut *tx)
        .await?;
    }
    for (code, label, min, max) in ALERT_TYPES {
        sqlx::query!(
            "insert into alert_types (code, label, min_level, max_level) values ($1, $2, $3, $4)
             on conflict (code) do nothing",
            code,
            label,
            min,
            max,
        )
        .execute(&mut *tx)
        .await?;
    }
    for (code, label, level) in EVENT_TYPES {
        sqlx::query!(
            "insert into event_types (code, label, default_level) values ($1, $2, $3)
             on conflict (code) do nothing",
            code,
            label,
            level,
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

async fn roles_and_permissions(tx: &mut PgConnection) -> Result<(), SeedError> {
    for (role, description) in ROLES {
        sqlx::query!(
            "insert into roles (name, description) values ($1, $2) on conflict (name) do nothing",
            role.code(),
            description,
        )
        .execute(&mut *tx)
        .await?;
    }
    for (permission, description) in PERMISSIONS {
        sqlx::query!(
            "insert into permissions (code, description) values ($1, $2) on conflict (code) do nothing",
            permission.code(),
            description,
        )
        .execute(&mut *tx)
        .await?;
    }
    for (role, perms) in ROLE_PERMISSIONS {
        sqlx::query!(
            "insert into role_permission (role_id, permission_id)
             select r.id, p.id from roles r cross join permissions p
              where r.name = $1 and p.code = any($2)
             on conflict do nothing",
            role.code(),
            &codes(perms),
        )
        .execute(&mut *tx)
        .await?;
    }
    for (role, perms) in ORG_ROLE_PERMISSIONS {
        sqlx::query!(
            "insert into org_role_permission (org_role, permission_id)
             select $1, p.id from permissions p where p.code = any($2)
             on conflict do nothing",
            role.code(),
            &codes(perms),
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

fn codes(permissions: &[Permission]) -> Vec<String> {
    permissions.iter().map(|p| p.code().to_owned()).collect()
}

async fn default_rules(tx: &mut PgConnection) -> Result<(), SeedError> {
    for (alert_type, signal, condition, threshold, secs, level) in DEFAULT_RULES {
        let id = seed_id(&format!(
            "rule:{alert_type}:{signal}:{condition}:{threshold}"
        ));
        sqlx::query!(
            "insert into alert_rules (id, alert_type, signal_type, condition, threshold, duration_s,
                                      hysteresis, level, reason)
             values ($1, $2, $3, $4, $5, $6, $7, $8, 'platform default')
             on conflict (id) do nothing",
            id,
            alert_type,
            signal,
            condition,
            threshold,
            secs,
            if *signal == "SpO2" { 1.0 } else { 2.0 },
            level,
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Whether an account with this e-mail exists (case-insensitive).
pub async fn user_exists(conn: &mut PgConnection, email: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        "select exists(select 1 from users where lower(email) = lower($1)) as \"exists!\"",
        email,
    )
    .fetch_one(conn)
    .await
}

/// Creates an active, verified superadmin with `email` and `password` unless the e-mail exists;
/// returns whether it was created. Used by `seed` when `ADMIN_PASSWORD` is set, and by the demo.
pub async fn ensure_superadmin(
    conn: &mut PgConnection,
    email: &str,
    name: &str,
    password: &str,
) -> Result<bool, SeedError> {
    if user_exists(conn, email).await? {
        return Ok(false);
    }
    let hash = password::hash(password)?;
    let id: Uuid = sqlx::query_scalar!(
        "insert into users (id, name, email, password_hash, status, email_verified_at)
         values ($1, $2, $3, $4, 'active', now()) returning id",
        seed_id(&format!("user:{}", email.to_lowercase())),
        name,
        email,
        hash,
    )
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query!(
        "insert into user_role (user_id, role_id) select $1, id from roles where name = 'superadmin'
         on conflict do nothing",
        id,
    )
    .execute(&mut *conn)
    .await?;
    Ok(true)
}
