//! `heartguard audit verify`: recompute the audit log's hash chain (hg_domain::audit::chain) and
//! name the first row where it does not hold.

use std::path::Path;

use chrono::{DateTime, Utc};
use hg_domain::audit::chain;

use super::{Outcome, connect_db, finish, load};

/// Verifies the chain over `from <= ts < to`; exits 1 naming the first broken row.
pub async fn verify(
    env_file: Option<&Path>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Outcome {
    finish(
        async {
            let settings = load(env_file, &[])?;
            let pool = connect_db(&settings, "audit verify").await?;
            let mut conn = pool
                .acquire()
                .await
                .map_err(|e| Outcome::Failed(e.to_string()))?;
            let report = chain::verify(&mut conn, from, to)
                .await
                .map_err(|e| Outcome::Failed(format!("could not read audit_logs: {e}")))?;
            let range = match (report.first_seq, report.last_seq) {
                (Some(a), Some(b)) => format!("seq {a}–{b}"),
                _ => "no rows in range".to_owned(),
            };
            match report.broken {
                None => {
                    println!("✓ audit chain verified: {} rows ({range})", report.checked);
                    Ok(())
                }
                Some(b) => Err(Outcome::Failed(format!(
                    "audit chain broken at seq {} (id {}, {}): {}",
                    b.seq,
                    b.id,
                    b.ts.to_rfc3339(),
                    b.reason
                ))),
            }
        }
        .await,
    )
}
