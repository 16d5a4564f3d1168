//! `heartguard migrate`: apply pending migrations.

use std::path::Path;

use super::{Outcome, connect_db, finish, load};

/// Applies pending migrations to `DATABASE_URL`.
pub async fn run(env_file: Option<&Path>) -> Outcome {
    finish(
        async {
            let settings = load(env_file, &[])?;
            let pool = connect_db(&settings, "migrate").await?;
            hg_platform::db::migrate(&pool)
                .await
                .map_err(|e| Outcome::Failed(format!("migration failed: {e}")))?;
            let applied: i64 =
                sqlx::query_scalar("select count(*) from _sqlx_migrations where success")
                    .fetch_one(&pool)
                    .await
                    .map_err(|e| Outcome::Failed(e.to_string()))?;
            println!("database schema is current ({applied} migrations applied)");
            Ok(())
        }
        .await,
    )
}
