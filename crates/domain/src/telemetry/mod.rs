//! Telemetry storage upkeep (spec/02 "Samples"): the sample tables are range-partitioned by day;
//! partitions are created ahead of time and dropped past `TELEMETRY_RETENTION_DAYS`. The SQL functions
//! that do it live in the migrations (`ensure_sample_partitions`, `drop_sample_partitions_before`).

use hg_platform::db::DbError;
use sqlx::PgPool;

/// Creates the time partitions of the sample tables from `days_back` days ago to `days_ahead` days
/// ahead (idempotent).
pub async fn ensure_sample_partitions(
    pool: &PgPool,
    days_back: i32,
    days_ahead: i32,
) -> Result<(), DbError> {
    // A function returning void: nothing for the query macros to type, so checked by the tests.
    sqlx::query("select heartguard.ensure_sample_partitions(current_date - $1::int, current_date + $2::int)")
        .bind(days_back)
        .bind(days_ahead)
    .execute(pool)
    .await?;
    Ok(())
}

/// Drops the sample partitions older than `retention_days`; returns how many went.
pub async fn drop_sample_partitions(pool: &PgPool, retention_days: i32) -> Result<i32, DbError> {
    Ok(sqlx::query_scalar!(
        "select drop_sample_partitions_before(current_date - $1::int) as \"dropped!\"",
        retention_days,
    )
    .fetch_one(pool)
    .await?)
}

/// Forgets the `Idempotency-Key`s of batches accepted more than a day ago.
pub async fn forget_idempotency_keys(pool: &PgPool) -> Result<u64, DbError> {
    Ok(
        sqlx::query!("delete from ingest_batches where created_at < now() - interval '1 day'")
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

pub mod codec;
pub mod ingest;
pub mod query;
pub mod signals;
pub mod validate;
pub mod wire;
