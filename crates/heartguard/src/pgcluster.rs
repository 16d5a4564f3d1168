//! The private PostgreSQL cluster of `heartguard up` when no `DATABASE_URL` is given: created once with
//! the system's PostgreSQL binaries under the data directory, started for the session on loopback with
//! a generated password (scram-sha-256), and stopped on exit.
//!
//! `initdb` and `postgres` refuse to run as root; when we are root, the cluster directory is handed to
//! the `postgres` system user and the binaries run as that user through `runuser`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A cluster this process may have started.
pub struct PrivateCluster {
    dir: PathBuf,
    bin: PathBuf,
    run_as_postgres: bool,
    started_here: bool,
}

const SUPERUSER: &str = "heartguard";
const DATABASE: &str = "heartguard";

/// The directory holding `initdb`, `pg_ctl` and `postgres`: `pg_config --bindir`, or the newest
/// `/usr/lib/postgresql/<version>/bin`.
pub fn find_binaries() -> Result<PathBuf, String> {
    let mut candidates = Vec::new();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<(u32, PathBuf)> = entries
            .flatten()
            .filter_map(|e| {
                let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                Some((v, e.path().join("bin")))
            })
            .collect();
        versions.sort_by_key(|v| std::cmp::Reverse(v.0));
        candidates.extend(versions.into_iter().map(|(_, p)| p));
    }
    candidates
        .into_iter()
        .find(|p| p.join("initdb").is_file() && p.join("pg_ctl").is_file())
        .ok_or_else(|| {
            "no PostgreSQL server binaries found (initdb, pg_ctl). Install them with:\n    \
             sudo apt-get install -y postgresql\nor set DATABASE_URL to an existing database."
                .to_owned()
        })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl PrivateCluster {
    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        if self.run_as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn run(&self, mut cmd: Command, what: &str) -> Result<(), String> {
        let out = cmd
            .output()
            .map_err(|e| format!("{what}: cannot run: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{what} failed: {}{}",
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            ))
        }
    }

    fn chown_to_postgres(&self, path: &Path) -> Result<(), String> {
        if self.run_as_postgres {
            self.run(
                {
                    let mut c = Command::new("chown");
                    c.args(["-R", "postgres:postgres"]).arg(path);
                    c
                },
                "chown",
            )?;
        }
        Ok(())
    }

    /// Creates (first time) and starts the cluster under `data_dir/postgres` on `port`, and returns it
    /// with the `DATABASE_URL` of its `heartguard` database.
    pub async fn ensure(data_dir: &Path, port: u16) -> Result<(Self, String), String> {
        let data_dir = std::path::absolute(data_dir).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
        let mut cluster = PrivateCluster {
            dir: data_dir.join("postgres"),
            bin: find_binaries()?,
            run_as_postgres: is_root(),
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
            cluster.init(&data_dir, &password)?;
        }
        if !cluster.is_running() {
            cluster.start(&data_dir, port)?;
            cluster.started_here = true;
        }
        let url = format!("postgresql://{SUPERUSER}:{password}@127.0.0.1:{port}/{DATABASE}?sslmode=disable");
        cluster.ensure_database(port, &password).await?;
        Ok((cluster, url))
    }

    fn init(&self, data_dir: &Path, password: &str) -> Result<(), String> {
        println!("creating a private PostgreSQL cluster in {} (first run only)", self.dir.display());
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        let pwfile = data_dir.join(".initdb-password");
        crate::cmd::up::write_private_file(&pwfile, password.as_bytes())?;
        self.chown_to_postgres(&self.dir)?;
        self.chown_to_postgres(&pwfile)?;
        let mut cmd = self.command("initdb");
        cmd.arg("-D")
            .arg(&self.dir)
            .args(["-U", SUPERUSER, "--auth=scram-sha-256", "-E", "UTF8", "--locale=C"])
            .arg(format!("--pwfile={}", pwfile.display()));
        let result = self.run(cmd, "initdb");
        let _ = std::fs::remove_file(&pwfile);
        result
    }

    fn is_running(&self) -> bool {
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D").arg(&self.dir).arg("status");
        cmd.output().map(|o| o.status.success()).unwrap_or(false)
    }

    fn start(&self, data_dir: &Path, port: u16) -> Result<(), String> {
        let log = data_dir.join("postgres.log");
        if !log.exists() {
            std::fs::write(&log, b"").map_err(|e| format!("{}: {e}", log.display()))?;
        }
        self.chown_to_postgres(&log)?;
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D")
            .arg(&self.dir)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "30", "-o"])
            .arg(format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1",
                self.dir.display()
            ))
            .arg("start");
        self.run(cmd, "starting the private PostgreSQL cluster")
            .map_err(|e| format!("{e}\n(see {}; is port {port} free? set HEARTGUARD_PG_PORT)", log.display()))
    }

    async fn ensure_database(&self, port: u16, password: &str) -> Result<(), String> {
        let url = format!("postgresql://{SUPERUSER}:{password}@127.0.0.1:{port}/postgres?sslmode=disable");
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
        if !self.started_here {
            return;
        }
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D").arg(&self.dir).args(["-m", "fast", "-w", "stop"]);
        if let Err(e) = self.run(cmd, "stopping the private PostgreSQL cluster") {
            eprintln!("{e}");
        }
    }
}
