//! `heartguard seed [--demo]`: reference data, and optionally the demo installation.

use std::path::Path;

use hg_domain::seed::{self, demo};
use hg_platform::Settings;
use hg_platform::config::Secret;

use super::{Outcome, connect_db, finish, load};

/// Where a demo password came from, which decides whether it may be printed.
pub struct PasswordChoice {
    /// The password.
    pub value: Secret,
    /// Generated now or by `up` for its data directory (printed), rather than given by the operator
    /// (never echoed).
    pub generated: bool,
}

impl PasswordChoice {
    /// The configured password, or a freshly generated one.
    pub fn configured_or_generated(configured: Option<&Secret>) -> Self {
        match configured {
            Some(v) => Self {
                value: v.clone(),
                generated: false,
            },
            None => Self {
                value: Secret::new(hg_domain::secrets::random_password(20)),
                generated: true,
            },
        }
    }

    /// How to show this password to the operator.
    pub fn shown(&self) -> String {
        if self.generated {
            self.value.expose().to_owned()
        } else {
            "(the one you configured)".to_owned()
        }
    }
}

/// Loads the reference data and, with `demo`, the demo installation; returns the demo report.
pub async fn seed_all(
    pool: &sqlx::PgPool,
    settings: &Settings,
    admin: &PasswordChoice,
    demo_password: &PasswordChoice,
    with_demo: bool,
) -> Result<Option<demo::DemoReport>, String> {
    let pending = hg_platform::db::MIGRATOR.iter().count() as i64
        - sqlx::query_scalar::<_, i64>("select count(*) from _sqlx_migrations where success")
            .fetch_one(pool)
            .await
            .unwrap_or(0);
    if pending > 0 {
        return Err("the schema is not current: run `heartguard migrate` first".into());
    }
    seed::base(pool)
        .await
        .map_err(|e| format!("seed failed: {e}"))?;
    if !with_demo {
        if let Some(pw) = &settings.seed.admin_password {
            let mut conn = pool.acquire().await.map_err(|e| e.to_string())?;
            if seed::ensure_superadmin(
                &mut conn,
                demo::ADMIN_EMAIL,
                "Administrador HeartGuard",
                pw.expose(),
            )
            .await
            .map_err(|e| format!("seed failed: {e}"))?
            {
                println!("created superadmin {}", demo::ADMIN_EMAIL);
            }
        }
        return Ok(None);
    }
    let passwords = demo::DemoPasswords {
        admin: admin.value.expose().to_owned(),
        demo: demo_password.value.expose().to_owned(),
    };
    demo::demo(pool, &passwords)
        .await
        .map(Some)
        .map_err(|e| format!("demo seed failed: {e}"))
}

/// Runs the seed and prints what it did.
pub async fn run(env_file: Option<&Path>, with_demo: bool) -> Outcome {
    finish(
        async {
            let settings = load(env_file, &[])?;
            let pool = connect_db(&settings, "seed").await?;
            let admin =
                PasswordChoice::configured_or_generated(settings.seed.admin_password.as_ref());
            let demo_pw =
                PasswordChoice::configured_or_generated(settings.seed.demo_password.as_ref());
            let report = seed_all(&pool, &settings, &admin, &demo_pw, with_demo)
                .await
                .map_err(Outcome::Failed)?;
            println!("catalogs, roles, permissions and defaults are loaded");
            if let Some(report) = report {
                for email in &report.created {
                    let pw = if email == demo::ADMIN_EMAIL {
                        &admin
                    } else {
                        &demo_pw
                    };
                    println!("  created {email:<32} password: {}", pw.shown());
                }
                if !report.existing.is_empty() {
                    println!(
                        "  {} demo accounts already existed and keep their passwords",
                        report.existing.len()
                    );
                }
            }
            Ok(())
        }
        .await,
    )
}
