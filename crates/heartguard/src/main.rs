//! The `heartguard` binary: one command line for running, migrating, seeding and checking the platform.
//! Each subcommand lives in `cmd/`; this file only parses arguments and maps outcomes to exit codes.

mod cmd;
mod pgcluster;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

// mimalloc: measurably faster than glibc malloc for the many small, short-lived allocations of
// request handling (see docs/benchmarks.md, gateway overhead).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use hg_platform::Component;

/// HeartGuard — remote cardiac monitoring platform.
///
/// Configuration comes from environment variables (see docs/configuration.md), optionally read from
/// an env file given with --env-file; variables exported in the environment win over the file.
#[derive(Parser)]
#[command(name = "heartguard", version, propagate_version = true)]
struct Cli {
    /// Read configuration variables from this file (KEY=value lines).
    #[arg(long, global = true, value_name = "FILE")]
    env_file: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole platform on this machine, in one process, with demo data.
    ///
    /// Migrates the database, seeds catalogs and the demo installation, starts all 13 components on
    /// their ports and prints every URL and the demo logins. Without DATABASE_URL it provisions a
    /// private PostgreSQL cluster under HEARTGUARD_DATA_DIR (default .heartguard) from the system's
    /// PostgreSQL binaries. Redis and RabbitMQ are used when REDIS_URL / AMQP_URL are set, in-process
    /// stand-ins otherwise. Stops cleanly on Ctrl-C or SIGTERM.
    Up {
        /// Seed only catalogs, roles and permissions, not the demo organizations and accounts.
        #[arg(long)]
        no_demo: bool,
        /// Do not stream simulated vitals for three demo patients (on by default with demo data).
        #[arg(long)]
        no_simulate: bool,
    },
    /// Run the named components (the distributed deployment: one or several per process).
    ///
    /// Components: gateway, auth, organization, user, patient, device, timeseries, inference, alert,
    /// notification, media, audit, admin. Each listens on its port (GATEWAY_PORT=5000 …
    /// AUDIT_PORT=5011, ADMIN_PORT=8080) and answers /health, /ready and /metrics.
    Serve {
        /// Components to run.
        #[arg(required = true, value_name = "COMPONENT")]
        components: Vec<Component>,
    },
    /// Apply pending database migrations (a no-op when the schema is current).
    Migrate,
    /// Load catalogs, roles, permissions and defaults (idempotent); with --demo, the demo installation.
    ///
    /// With ADMIN_PASSWORD set, also creates the superadmin admin@heartguard.com when missing. The demo
    /// accounts use ADMIN_PASSWORD and DEMO_PASSWORD, or generated passwords printed at the end.
    Seed {
        /// Also load the demo organizations, accounts, patients, devices, vitals and alerts.
        #[arg(long)]
        demo: bool,
    },
    /// Verify connectivity as the deployment guide asks: database (and its TLS), Redis, RabbitMQ,
    /// the gateway and every component's readiness. Prints one ✓/✗ line per check; exits 1 on any ✗.
    Check,
    /// Create a development CA and server certificates for PostgreSQL, Redis, RabbitMQ, the gateway and nginx.
    Certs {
        /// Directory to write the certificates into.
        #[arg(long, default_value = "certs", value_name = "DIR")]
        out_dir: PathBuf,
        /// Host names and IP addresses the server certificates are valid for.
        #[arg(long, value_delimiter = ',', default_value = "localhost,127.0.0.1")]
        hosts: Vec<String>,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Print the merged OpenAPI document the gateway serves at /openapi.json (for tools and docs).
    Openapi,
    /// Stream synthetic vitals for devices through the real ingest API (demos, tests, load).
    ///
    /// Uses the database (DATABASE_URL) to pick devices with open streams — the seeded ones first,
    /// then simulated patients in organization SIM-001 — and to give each a fresh credential; then
    /// every device sends HR, SpO2, RR intervals (HRV) and BP as JSON and its ECG (an ECGSYN
    /// dynamical model) in the binary waveform format. Episodes are written as ground-truth labels.
    Simulate {
        /// How many devices (patients) to simulate.
        #[arg(long, default_value_t = 10)]
        patients: usize,
        /// Batches a second each device sends (each carries what was measured since the last).
        #[arg(long, default_value_t = 1.0)]
        rate: f64,
        /// Stop after this long (90s, 5m, 2h); default: until Ctrl-C.
        #[arg(long, value_parser = cmd::simulate::parse_duration)]
        duration: Option<std::time::Duration>,
        /// random, none, or a schedule for every device: tachy@30s+60s,af@2m+3m (episodes: tachy,
        /// brady, desat, af, silent).
        #[arg(long, default_value = "random")]
        episodes: String,
        /// With --episodes random: about one episode per device this often.
        #[arg(long, default_value = "10m", value_parser = cmd::simulate::parse_duration)]
        episode_every: std::time::Duration,
        /// Makes a run reproducible.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The timeseries component, or the gateway (then give --api-key).
        #[arg(long, default_value = "http://127.0.0.1:5006")]
        url: String,
        /// Sent as X-Internal-API-Key, for going through the gateway.
        #[arg(long, env = "SIMULATE_API_KEY")]
        api_key: Option<String>,
    },
    /// Score the AF model on a recording file, offline: RR intervals (ms), or an ECG (mV) through the
    /// QRS detector; prints each 60-beat window's score and a summary (docs/detection.md).
    DetectAf {
        /// The file: numbers separated by whitespace, commas or newlines.
        file: PathBuf,
        /// The file is an ECG sampled at this rate (Hz) instead of RR intervals.
        #[arg(long, value_name = "HZ")]
        ecg_rate: Option<f64>,
    },
    /// The audit log: `heartguard audit verify [--from T] [--to T]` recomputes the hash chain and
    /// names the first altered, removed or inserted row (exit 1), docs/audit.md.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Write a new Ed25519 key pair for signing access tokens (jwt-private.pem, jwt-public.pem) and a
    /// VAPID key pair for Web Push (vapid.env).
    Keygen {
        /// Directory to write the two files into.
        #[arg(long, default_value = ".", value_name = "DIR")]
        out_dir: PathBuf,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain over the rows of a time range (default: all of it).
    Verify {
        /// First row at or after this time (RFC 3339).
        #[arg(long)]
        from: Option<chrono::DateTime<chrono::Utc>>,
        /// Last row before this time (RFC 3339).
        #[arg(long)]
        to: Option<chrono::DateTime<chrono::Utc>>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    hg_platform::tls::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let env_file = cli.env_file.as_deref();
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Up {
                no_demo,
                no_simulate,
            } => cmd::up::run(env_file, !no_demo, !no_demo && !no_simulate).await,
            Command::Serve { components } => cmd::serve::run(env_file, &components).await,
            Command::Migrate => cmd::migrate::run(env_file).await,
            Command::Seed { demo } => cmd::seed::run(env_file, demo).await,
            Command::Check => cmd::check::run(env_file).await,
            Command::Certs {
                out_dir,
                hosts,
                force,
            } => cmd::certs::run(&out_dir, &hosts, force),
            Command::Keygen { out_dir, force } => cmd::keygen::run(&out_dir, force),
            Command::Openapi => cmd::openapi::run(),
            Command::Audit {
                command: AuditCommand::Verify { from, to },
            } => cmd::audit::verify(env_file, from, to).await,
            Command::DetectAf { file, ecg_rate } => cmd::detect::run(
                &file,
                match ecg_rate {
                    Some(rate_hz) => cmd::detect::Input::Ecg { rate_hz },
                    None => cmd::detect::Input::RrMs,
                },
            ),
            Command::Simulate {
                patients,
                rate,
                duration,
                episodes,
                episode_every,
                seed,
                url,
                api_key,
            } => match cmd::simulate::parse_episodes(&episodes, episode_every) {
                Ok(episodes) => {
                    let options = cmd::simulate::Options {
                        patients,
                        rate,
                        duration,
                        episodes,
                        seed,
                        url,
                        api_key,
                    };
                    cmd::simulate::run(env_file, options).await
                }
                Err(e) => cmd::Outcome::Failed(e),
            },
        }
    });
    // Don't wait for stray background tasks (a relay mid-retry) once the command is done.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    outcome.exit_code()
}
