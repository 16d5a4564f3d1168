//! A fresh database per test, cloned from a migrated and base-seeded template, dropped when the test
//! ends (and, for tests that crashed, by the next run).
//!
//! The template is named after a digest of the migrations, so changing a migration builds a new one.
//! Building it is serialized across test processes with an advisory lock, and it is published by
//! renaming a finished build, so no test ever clones a half-migrated template.
//!
//! The server is `TEST_DATABASE_URL` (default `postgresql://postgres@127.0.0.1:5432/postgres`, the
//! trust-auth superuser of the machine's PostgreSQL).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use hg_platform::config::{DatabaseConfig, RuntimeEnv};
use sqlx::{Connection, Executor, PgConnection, PgPool};

/// The administrative connection URL for creating and dropping test databases.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn url_for(database: &str) -> String {
    let mut url = url::Url::parse(&admin_url()).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{database}"));
    url.to_string()
}

fn template_name() -> String {
    let mut digest: u64 = 0xcbf2_9ce4_8422_2325;
    for m in hg_platform::db::MIGRATOR.iter() {
        for b in m.checksum.iter().chain(m.description.as_bytes()) {
            digest ^= u64::from(*b);
            digest = digest.wrapping_mul(0x0100_0000_01b3);
        }
    }
    // The seed is part of the template too: its reference data and the built-in model's parameters.
    let seed = format!(
        "{:?}{:?}{:?}{:?}",
        hg_domain::catalog::PERMISSIONS,
        hg_domain::catalog::DEFAULT_RULES,
        hg_domain::catalog::ALERT_TYPES,
        hg_domain::detection::af::MODEL
    );
    for b in seed.bytes() {
        digest ^= u64::from(b);
        digest = digest.wrapping_mul(0x0100_0000_01b3);
    }
    format!("hg_tmpl_{digest:016x}")
}

static TEMPLATE_READY: AtomicBool = AtomicBool::new(false);
static COUNTER: AtomicU32 = AtomicU32::new(0);

async fn admin() -> PgConnection {
    PgConnection::connect(&admin_url())
        .await
        .unwrap_or_else(|e| panic!("test database server {}: {e}", admin_url()))
}

async fn exists(conn: &mut PgConnection, name: &str) -> bool {
    sqlx::query_scalar("select exists(select 1 from pg_database where datname = $1)")
        .bind(name)
        .fetch_one(conn)
        .await
        .expect("pg_database is readable")
}

async fn drop_database(conn: &mut PgConnection, name: &str) -> Result<(), sqlx::Error> {
    conn.execute(sqlx::AssertSqlSafe(format!(
        "drop database if exists \"{name}\" with (force)"
    )))
    .await
    .map(|_| ())
}

/// Drops databases left by test processes that no longer run.
async fn drop_leftovers(conn: &mut PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("select datname from pg_database where datname like 'hgtest\\_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    for name in names {
        let pid = name.split('_').nth(1).and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = drop_database(conn, &name).await;
        }
    }
}

async fn ensure_template() -> String {
    let name = template_name();
    if TEMPLATE_READY.load(Ordering::Acquire) {
        return name;
    }
    let mut conn = admin().await;
    sqlx::query("select pg_advisory_lock(72160001)")
        .execute(&mut conn)
        .await
        .expect("advisory lock");
    if !exists(&mut conn, &name).await {
        let building = format!("{name}_building");
        drop_database(&mut conn, &building)
            .await
            .expect("drop stale template build");
        conn.execute(sqlx::AssertSqlSafe(format!(
            "create database \"{building}\""
        )))
        .await
        .expect("create template database");
        {
            let pool = hg_platform::db::connect(&config_for(&building), "test-template")
                .await
                .expect("connect to the template");
            hg_platform::db::migrate(&pool)
                .await
                .expect("migrations apply to the template");
            hg_domain::seed::base(&pool)
                .await
                .expect("base seed loads into the template");
            pool.close().await;
        }
        conn.execute(sqlx::AssertSqlSafe(format!(
            "alter database \"{building}\" rename to \"{name}\""
        )))
        .await
        .expect("publish the template");
        // Templates of other migration sets are dead weight; drop those nobody uses now.
        let old: Vec<String> = sqlx::query_scalar(
            "select datname from pg_database where datname like 'hg\\_tmpl\\_%' and datname <> $1",
        )
        .bind(&name)
        .fetch_all(&mut conn)
        .await
        .unwrap_or_default();
        for o in old {
            let _ = conn
                .execute(sqlx::AssertSqlSafe(format!(
                    "drop database if exists \"{o}\""
                )))
                .await;
        }
    }
    drop_leftovers(&mut conn).await;
    sqlx::query("select pg_advisory_unlock(72160001)")
        .execute(&mut conn)
        .await
        .expect("advisory unlock");
    TEMPLATE_READY.store(true, Ordering::Release);
    name
}

fn config_for(database: &str) -> DatabaseConfig {
    DatabaseConfig::parse(&url_for(database), RuntimeEnv::Development, 10)
        .expect("test database URL is valid")
}

/// A database of its own for one test, dropped on drop.
pub struct TestDb {
    /// Its name (`hgtest_<pid>_<n>`).
    pub name: String,
    /// Its URL.
    pub url: String,
    /// A pool on it with the `heartguard` schema on the search path.
    pub pool: PgPool,
}

impl TestDb {
    /// Clones the template into a new database.
    pub async fn new() -> Self {
        let template = ensure_template().await;
        Self::create(&format!(" template \"{template}\"")).await
    }

    /// An empty database (no schema at all), for testing migrations and the seed from scratch.
    pub async fn empty() -> Self {
        // Running the template logic also clears leftovers of crashed runs.
        ensure_template().await;
        Self::create("").await
    }

    async fn create(clause: &str) -> Self {
        let name = format!(
            "hgtest_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = admin().await;
        drop_database(&mut conn, &name)
            .await
            .expect("drop a leftover of the same name");
        conn.execute(sqlx::AssertSqlSafe(format!(
            "create database \"{name}\"{clause}"
        )))
        .await
        .expect("create the test database");
        let url = url_for(&name);
        let pool = hg_platform::db::lazy_pool(&config_for(&name), "test");
        Self { name, url, pool }
    }

    /// The database configuration for components under test.
    pub fn config(&self) -> DatabaseConfig {
        config_for(&self.name)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        crate::block_on_cleanup(async move {
            if let Ok(mut conn) = PgConnection::connect(&admin_url()).await {
                let _ = drop_database(&mut conn, &name).await;
            }
        });
    }
}
