//! Running the machine's PostgreSQL server binaries (`initdb`, `pg_ctl`) for private clusters: the
//! one of `heartguard up` without `DATABASE_URL`, and the throw-away TLS clusters of the tests.
//!
//! Both programs refuse to run as root; as root they run as the `postgres` system user via `runuser`,
//! and the cluster's files must belong to that user.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The machine's PostgreSQL server binaries.
#[derive(Clone, Debug)]
pub struct PgBinaries {
    bin: PathBuf,
    as_postgres_user: bool,
}

impl PgBinaries {
    /// Finds `initdb` and `pg_ctl`: `pg_config --bindir`, or the newest `/usr/lib/postgresql/<n>/bin`.
    pub fn find() -> Result<Self, String> {
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
        let bin = candidates
            .into_iter()
            .find(|p| p.join("initdb").is_file() && p.join("pg_ctl").is_file())
            .ok_or_else(|| {
                "no PostgreSQL server binaries found (initdb, pg_ctl). Install them with:\n    \
                 sudo apt-get install -y postgresql\nor set DATABASE_URL to an existing database."
                    .to_owned()
            })?;
        let as_postgres_user = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        Ok(Self {
            bin,
            as_postgres_user,
        })
    }

    /// A command for `program` (e.g. `pg_ctl`), run as `postgres` when we are root.
    pub fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    /// Gives `path` (recursively) to the user the binaries run as; a no-op when that is us.
    pub fn hand_over(&self, path: &Path) -> Result<(), String> {
        if self.as_postgres_user {
            run(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(path),
                "chown",
            )?;
        }
        Ok(())
    }

    /// Whether the cluster in `dir` is running (`pg_ctl status`).
    pub fn is_running(&self, dir: &Path) -> bool {
        self.command("pg_ctl")
            .arg("-D")
            .arg(dir)
            .arg("status")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    /// `initdb` with `args` after the data directory.
    pub fn initdb(&self, dir: &Path, args: &[&str]) -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        self.hand_over(dir)?;
        run(
            self.command("initdb").arg("-D").arg(dir).args(args),
            "initdb",
        )
    }

    /// Starts the cluster in `dir` with server `options` (`-p 5433 -c ssl=on …`), logging to `log`,
    /// and waits until it accepts connections (up to two minutes: a start takes about a second, but
    /// far longer on a machine busy with disk writes, and giving up early helps nobody).
    pub fn start(&self, dir: &Path, log: &Path, options: &str) -> Result<(), String> {
        if !log.exists() {
            std::fs::write(log, b"").map_err(|e| format!("{}: {e}", log.display()))?;
        }
        self.hand_over(log)?;
        run(
            self.command("pg_ctl")
                .arg("-D")
                .arg(dir)
                .arg("-l")
                .arg(log)
                .args(["-w", "-t", "120", "-o", options, "start"]),
            "pg_ctl start",
        )
        .map_err(|e| format!("{e} (see {})", log.display()))
    }

    /// Stops the cluster in `dir` (`fast`: sessions are disconnected, nothing is lost).
    pub fn stop(&self, dir: &Path, mode: &str) -> Result<(), String> {
        run(
            self.command("pg_ctl")
                .arg("-D")
                .arg(dir)
                .args(["-m", mode, "-w", "stop"]),
            "pg_ctl stop",
        )
    }
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: cannot run: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {} {}",
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        ))
    }
}
