//! PostgreSQL: the pool (TLS through rustls, honouring `sslmode` and `sslrootcert`), the embedded
//! migrations, and the mapping of driver errors to what callers act on.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Executor, PgConnection};

use crate::config::DatabaseConfig;

/// The schema every table lives in (spec/02).
pub const SCHEMA: &str = "heartguard";

/// The migrations under `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// What a repository caller needs to know about a failed query.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No row where exactly one was expected.
    #[error("no such row")]
    NotFound,
    /// The database cannot be reached right now (pool timeout, connection refused or closed).
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A named unique constraint was violated.
    #[error("unique constraint {constraint} violated")]
    UniqueViolation { constraint: String },
    /// A named foreign key was violated.
    #[error("foreign key {constraint} violated")]
    ForeignKeyViolation { constraint: String },
    /// A named check constraint was violated.
    #[error("check constraint {constraint} violated")]
    CheckViolation { constraint: String },
    /// The database refused a value the client sent (SQLSTATE class 22: a NUL byte in text, a number
    /// out of range, an impossible date…) — a safety net behind input validation.
    #[error("invalid value: {0}")]
    InvalidInput(String),
    /// Anything else: a bug or an unexpected state; logged, answered 500.
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
}

impl From<sqlx::Error> for DbError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => DbError::NotFound,
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => DbError::Unavailable(err),
            sqlx::Error::Database(db) => {
                let constraint = db.constraint().unwrap_or("unnamed").to_owned();
                match db.code().as_deref() {
                    Some("23505") => DbError::UniqueViolation { constraint },
                    Some("23503") => DbError::ForeignKeyViolation { constraint },
                    Some("23514") | Some("23502") => DbError::CheckViolation { constraint },
                    // admin_shutdown, cannot_connect_now, too_many_connections
                    Some("57P01" | "57P03" | "53300") => DbError::Unavailable(err),
                    Some(code) if code.starts_with("22") => {
                        DbError::InvalidInput(db.message().to_owned())
                    }
                    _ => DbError::Other(err),
                }
            }
            _ => DbError::Other(err),
        }
    }
}

/// Connection options with the schema on the search path and the component's name visible in
/// `pg_stat_activity`.
fn options(cfg: &DatabaseConfig, application: &str) -> sqlx::postgres::PgConnectOptions {
    cfg.options
        .clone()
        .application_name(&format!("heartguard-{application}"))
        .options([("search_path", format!("{SCHEMA},public"))])
}

/// A pool that connects on first use, so a component starts (and reports not-ready) while the database
/// is down, and recovers by itself when it returns.
pub fn lazy_pool(cfg: &DatabaseConfig, application: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(cfg.max_connections)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(3))
        .idle_timeout(Duration::from_secs(300))
        .connect_lazy_with(options(cfg, application))
}

/// Connects now, failing with a message an operator can act on (see [`describe`]).
pub async fn connect(cfg: &DatabaseConfig, application: &str) -> Result<PgPool, String> {
    PgPoolOptions::new()
        .max_connections(cfg.max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options(cfg, application))
        .await
        .map_err(|e| describe(&e, &cfg.host))
}

/// A readable explanation of a connection error, naming the host and, for TLS problems, what to
/// check. Never includes the password.
pub fn describe(err: &sqlx::Error, host: &str) -> String {
    let text = match err {
        sqlx::Error::Database(db) => db.message().to_owned(),
        other => other.to_string(),
    };
    // Certificate failures surface as TLS or I/O errors depending on where the handshake failed.
    let tls_hint = if text.contains("UnknownIssuer") || text.contains("invalid peer certificate") {
        Some(" — the server's certificate is not signed by the CA in sslrootcert")
    } else if text.contains("NotValidForName") {
        Some(" — the server's certificate does not name this host (verify-full checks it)")
    } else if matches!(err, sqlx::Error::Tls(_)) {
        Some("")
    } else {
        None
    };
    if let Some(hint) = tls_hint {
        return format!("PostgreSQL at {host}: TLS handshake failed: {text}{hint}");
    }
    match err {
        sqlx::Error::Io(_) => format!("PostgreSQL at {host} is unreachable: {text}"),
        sqlx::Error::PoolTimedOut => {
            format!("PostgreSQL at {host} did not answer in time (is it running?)")
        }
        sqlx::Error::Database(_) => format!("PostgreSQL at {host} refused: {text}"),
        _ => format!("PostgreSQL at {host}: {text}"),
    }
}

/// Creates the schema (the migrations' bookkeeping table lives in it) and applies pending migrations;
/// a no-op when everything is applied. Concurrent callers are serialized by the migrator's lock.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    pool.execute(sqlx::AssertSqlSafe(format!(
        "create schema if not exists {SCHEMA}"
    )))
    .await?;
    MIGRATOR.run(pool).await
}

/// `SELECT 1` within `timeout`.
pub async fn ping(pool: &PgPool, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, sqlx::query("select 1").execute(pool)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

/// Whether this connection's session is encrypted, from `pg_stat_ssl`.
pub async fn session_encrypted(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!("select ssl as \"ssl!\" from pg_stat_ssl where pid = pg_backend_pid()")
        .fetch_one(conn)
        .await
}
