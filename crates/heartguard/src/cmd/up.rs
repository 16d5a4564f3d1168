//! `heartguard up`: the whole platform on one machine, in one process, with demo data.
//!
//! In development, what is not configured is provided: a private PostgreSQL cluster when
//! `DATABASE_URL` is unset, and generated secrets (`INTERNAL_API_KEY`, `ADMIN_PASSWORD`,
//! `DEMO_PASSWORD`, `TOTP_ENCRYPTION_KEY`) kept in `<data dir>/dev-secrets.env` (mode 600) and a token
//! key pair (`jwt-private.pem`, `jwt-public.pem`), so every run prints the same logins.
//! In production nothing is generated: the configuration must be complete.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use hg_domain::seed::demo::ADMIN_EMAIL;
use hg_platform::{Component, EnvSource, Platform};
use tokio_util::sync::CancellationToken;

use super::seed::{PasswordChoice, seed_all};
use super::{Outcome, load_from};
use crate::pgcluster::PrivateCluster;

/// Default port of the private cluster (`HEARTGUARD_PG_PORT`), away from a system PostgreSQL's 5432.
pub(crate) const DEFAULT_PG_PORT: u16 = 54329;

/// Writes `contents` to `path` readable by its owner only.
pub fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(contents)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Development secrets generated once per data directory.
struct DevSecrets {
    vars: Vec<(String, String)>,
}

impl DevSecrets {
    const NAMES: [&'static str; 4] = [
        "INTERNAL_API_KEY",
        "ADMIN_PASSWORD",
        "DEMO_PASSWORD",
        "TOTP_ENCRYPTION_KEY",
    ];

    fn load_or_create(data_dir: &Path) -> Result<Self, String> {
        let path = data_dir.join("dev-secrets.env");
        let mut vars: Vec<(String, String)> = match std::fs::read_to_string(&path) {
            Ok(text) => text
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect(),
            Err(_) => Vec::new(),
        };
        let mut changed = false;
        for name in Self::NAMES {
            if !vars.iter().any(|(k, _)| k == name) {
                let value = match name {
                    "INTERNAL_API_KEY" | "TOTP_ENCRYPTION_KEY" => {
                        hg_domain::secrets::random_hex(32)
                    }
                    _ => hg_domain::secrets::random_password(20),
                };
                vars.push((name.to_owned(), value));
                changed = true;
            }
        }
        if changed {
            std::fs::create_dir_all(data_dir)
                .map_err(|e| format!("{}: {e}", data_dir.display()))?;
            let text: String = vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
            write_private_file(&path, text.as_bytes())?;
        }
        Ok(Self { vars })
    }

    fn get(&self, name: &str) -> &str {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

/// The development token key pair of the data directory, created on first use; returns the paths.
fn dev_token_keys(data_dir: &Path) -> Result<(String, String), String> {
    let private = data_dir.join("jwt-private.pem");
    let public = data_dir.join("jwt-public.pem");
    if !private.is_file() || !public.is_file() {
        std::fs::create_dir_all(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
        let (private_pem, public_pem) = hg_platform::auth::generate_keypair()?;
        write_private_file(&private, private_pem.as_bytes())?;
        std::fs::write(&public, public_pem).map_err(|e| format!("{}: {e}", public.display()))?;
    }
    let abs = |p: &Path| std::path::absolute(p).map(|p| p.display().to_string());
    Ok((
        abs(&private).map_err(|e| e.to_string())?,
        abs(&public).map_err(|e| e.to_string())?,
    ))
}

/// Runs everything until Ctrl-C / SIGTERM.
pub async fn run(env_file: Option<&Path>, with_demo: bool, simulate: bool) -> Outcome {
    let started = Instant::now();
    let mut src = match EnvSource::load(env_file) {
        Ok(s) => s,
        Err(e) => return Outcome::Config(e),
    };
    let production = src
        .get("HEARTGUARD_ENV")
        .is_some_and(|v| v.eq_ignore_ascii_case("production") || v.eq_ignore_ascii_case("prod"));
    let data_dir =
        std::path::PathBuf::from(src.get("HEARTGUARD_DATA_DIR").unwrap_or(".heartguard"));
    let mut generated = Vec::new();
    if !production {
        let secrets = match DevSecrets::load_or_create(&data_dir) {
            Ok(s) => s,
            Err(e) => return Outcome::Failed(e),
        };
        for name in DevSecrets::NAMES {
            if src.get(name).is_none() {
                src.set(name, secrets.get(name));
                generated.push(name);
            }
        }
        let first_key = src
            .get("INTERNAL_API_KEY")
            .and_then(|k| k.split(',').next())
            .unwrap_or("")
            .trim()
            .to_owned();
        src.set_default("MICROSERVICES_API_KEY", first_key);
        // The development mailbox: account e-mails (with their links) land here as files.
        if src.get("SMTP_URL").is_none() {
            src.set_default("MAIL_SINK_DIR", data_dir.join("mail").display().to_string());
        }
        if src.get("JWT_PRIVATE_KEY_FILE").is_none() {
            match dev_token_keys(&data_dir) {
                Ok((private, public)) => {
                    src.set("JWT_PRIVATE_KEY_FILE", private);
                    src.set("JWT_PUBLIC_KEY_FILE", public);
                }
                Err(e) => return Outcome::Failed(e),
            }
        }
    }
    let mut cluster = None;
    if src.get("DATABASE_URL").is_none() && !production {
        let port = src
            .get("HEARTGUARD_PG_PORT")
            .and_then(|p| p.parse().ok())
            .unwrap_or(DEFAULT_PG_PORT);
        match PrivateCluster::ensure(&data_dir, port).await {
            Ok((c, url)) => {
                src.set("DATABASE_URL", url);
                cluster = Some(c);
            }
            Err(e) => return Outcome::Failed(e),
        }
    }
    let outcome = serve_everything(&src, with_demo, simulate, &generated, started).await;
    if let Some(c) = cluster {
        c.stop();
    }
    outcome
}

async fn serve_everything(
    src: &EnvSource,
    with_demo: bool,
    simulate: bool,
    generated: &[&str],
    started: Instant,
) -> Outcome {
    let settings = match load_from(src, &Component::ALL) {
        Ok(s) => s,
        Err(o) => return o,
    };
    let pool = match super::connect_db(&settings, "up").await {
        Ok(p) => p,
        Err(o) => return o,
    };
    if let Err(e) = hg_platform::db::migrate(&pool).await {
        return Outcome::Failed(format!("migration failed: {e}"));
    }
    let choice = |name: &str, value: Option<&hg_platform::config::Secret>| PasswordChoice {
        value: value
            .cloned()
            .unwrap_or_else(|| hg_platform::config::Secret::new("")),
        generated: generated.contains(&name),
    };
    let admin = choice("ADMIN_PASSWORD", settings.seed.admin_password.as_ref());
    let demo_pw = choice("DEMO_PASSWORD", settings.seed.demo_password.as_ref());
    let report = match seed_all(&pool, &settings, &admin, &demo_pw, with_demo).await {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(e),
    };
    pool.close().await;

    let shutdown = CancellationToken::new();
    hg_platform::shutdown::cancel_on_signal(shutdown.clone());
    let api_key_generated = generated.contains(&"INTERNAL_API_KEY");
    let api_key = settings
        .gateway
        .api_keys
        .first()
        .map(|k| k.expose().to_owned())
        .unwrap_or_default();
    let platform = match Platform::new(settings, "up", shutdown) {
        Ok(p) => p,
        Err(e) => return Outcome::Failed(e),
    };
    let running = match hg_services::runtime::start(&platform, &Component::ALL).await {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(e),
    };

    println!(
        "\nHeartGuard is up in {:.1} s — {} components:",
        started.elapsed().as_secs_f64(),
        running.addrs.len()
    );
    for (c, addr) in &running.addrs {
        let url = format!("http://{addr}");
        match c {
            Component::Gateway if api_key_generated => {
                println!("  {:<13} {url}   X-Internal-API-Key: {api_key}", c.name())
            }
            Component::Admin => match running.admin_metrics {
                Some(m) => println!(
                    "  {:<13} {url}   (admin panel; its metrics at http://{m}/metrics)",
                    c.name()
                ),
                None => println!("  {:<13} {url}   (admin panel)", c.name()),
            },
            _ => println!("  {:<13} {url}", c.name()),
        }
    }
    println!(
        "  PostgreSQL: {}; Redis: {}; RabbitMQ: {}",
        if platform
            .settings
            .database
            .as_ref()
            .is_some_and(|d| d.host == "127.0.0.1")
        {
            "local"
        } else {
            "configured"
        },
        platform.cache.kind(),
        platform.broker.kind()
    );
    if let Some(dir) = &platform.settings.notify.mail_sink_dir {
        println!(
            "  E-mails (password resets, invitations…) are written to {}/",
            dir.display()
        );
    }
    if let Some(report) = report {
        println!("\nDemo logins:");
        let existing: std::collections::BTreeSet<&String> = report.existing.iter().collect();
        for email in report.created.iter().chain(&report.existing) {
            let pw = if email == ADMIN_EMAIL {
                &admin
            } else {
                &demo_pw
            };
            // Seeding never changes an existing account's password: a password configured now
            // says nothing about one created by an earlier run (generated ones are kept with the
            // data, so those still match).
            let shown = if existing.contains(email) && !pw.generated {
                "(unchanged: the password it was first created with)".to_owned()
            } else {
                pw.shown()
            };
            println!("  {email:<30} {shown}");
        }
    }
    if simulate && let Some(addr) = running.addrs.get(&Component::Timeseries) {
        let options = super::simulate::Options {
            patients: 3,
            rate: 1.0,
            duration: None,
            episodes: super::simulate::Episodes::Random {
                every: std::time::Duration::from_secs(600),
            },
            seed: 1,
            url: format!("http://{addr}"),
            api_key: None,
        };
        let (pool, stop) = (platform.db.clone(), platform.shutdown.clone());
        tokio::spawn(async move {
            if let Err(e) = super::simulate::stream(&pool, options, stop, false).await {
                eprintln!("the demo simulation did not start: {e}");
            }
        });
        println!(
            "\nLive vitals: three demo patients stream simulated vitals (heartguard up --no-simulate to stop that)."
        );
    }
    println!("\nPress Ctrl-C to stop.");
    running.wait().await;
    println!("HeartGuard stopped.");
    Outcome::Ok
}
