//! The private PostgreSQL cluster of `heartguard up` when no `DATABASE_URL` is given: created once with
//! the system's PostgreSQL binaries under the data directory, started for the session on loopback with
//! a generated password (scram-sha-256), and stopped on exit.

use std::path::{Path, PathBuf};

use hg_platform::localpg::PgBinaries;

/// A cluster this process may have started.
pub struct PrivateCluster {
    dir: PathBuf,
    bin: PgBinaries,
    started_here: bool,
}

const SUPERUSER: &str = "heartguard";
const DATABASE: &str = "heartguard";

impl PrivateCluster {
    /// Creates (first time) and starts the cluster under `data_dir/postgres` on `port`, and returns it
    /// with the `DATABASE_URL` of its `heartguard` database.
    pub async fn ensure(data_dir: &Path, port: u16) -> Result<(Self, String), String> {
        let data_dir = std::path::absolute(data_dir).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
        let mut cluster = PrivateCluster {
            dir: data_dir.join("postgres"),
            bin: PgBinaries::find()?,
            started_here: false,
        };
        let password_file = data_dir.join("postgres.password");
        let password = match std::fs::read_to_string(&password_file) {
            Ok(p) => p.trim().to_owned(),
            Err(_) => {
                let p = hg_domain::secrets::random_password(24);
                crate::cmd::up::write_private_file(&password_file, p.as_bytes())?;
                p
            }
        };
        if !cluster.dir.join("PG_VERSION").is_file() {
            println!(
                "creating a private PostgreSQL cluster in {} (first run only)",
                cluster.dir.display()
            );
            let pwfile = data_dir.join(".initdb-password");
            crate::cmd::up::write_private_file(&pwfile, password.as_bytes())?;
            cluster.bin.hand_over(&pwfile)?;
            let result = cluster.bin.initdb(
                &cluster.dir,
                &[
                    "-U",
                    SUPERUSER,
                    "--auth=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    &format!("--pwfile={}", pwfile.display()),
                ],
            );
            let _ = std::fs::remove_file(&pwfile);
            result?;
        }
        if !cluster.bin.is_running(&cluster.dir) {
            let options = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1",
                cluster.dir.display()
            );
            cluster
                .bin
                .start(&cluster.dir, &data_dir.join("postgres.log"), &options)
                .map_err(|e| format!("{e}\nis port {port} free? set HEARTGUARD_PG_PORT"))?;
            cluster.started_here = true;
        }
        cluster.ensure_database(port, &password).await?;
        let url = format!(
            "postgresql://{SUPERUSER}:{password}@127.0.0.1:{port}/{DATABASE}?sslmode=disable"
        );
        Ok((cluster, url))
    }

    async fn ensure_database(&self, port: u16, password: &str) -> Result<(), String> {
        let url = format!(
            "postgresql://{SUPERUSER}:{password}@127.0.0.1:{port}/postgres?sslmode=disable"
        );
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .map_err(|e| format!("private cluster: {e}"))?;
        let exists: bool =
            sqlx::query_scalar("select exists(select 1 from pg_database where datname = $1)")
                .bind(DATABASE)
                .fetch_one(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
        if !exists {
            sqlx::query(sqlx::AssertSqlSafe(format!("create database {DATABASE}")))
                .execute(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Stops the cluster if this process started it.
    pub fn stop(&self) {
        if self.started_here
            && let Err(e) = self.bin.stop(&self.dir, "fast")
        {
            eprintln!("stopping the private PostgreSQL cluster: {e}");
        }
    }
}
