//! One module per subcommand, and what they share: loading configuration and reporting outcomes.

pub mod audit;
pub mod certs;
pub mod check;
pub mod detect;
pub mod keygen;
pub mod migrate;
pub mod openapi;
pub mod seed;
pub mod serve;
pub mod simulate;
pub mod up;

use std::path::Path;
use std::process::ExitCode;

use hg_platform::config::ConfigError;
use hg_platform::{Component, EnvSource, Settings};

/// How a command ended.
pub enum Outcome {
    /// Done.
    Ok,
    /// The configuration is wrong: exit code 2, one line per problem.
    Config(ConfigError),
    /// Something failed at run time: exit code 1 with the message.
    Failed(String),
}

impl Outcome {
    /// Prints what needs printing and returns the process exit code.
    pub fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Ok => ExitCode::SUCCESS,
            Outcome::Config(err) => {
                eprintln!("{err}");
                ExitCode::from(2)
            }
            Outcome::Failed(msg) => {
                eprintln!("error: {msg}");
                ExitCode::FAILURE
            }
        }
    }
}

impl From<ConfigError> for Outcome {
    fn from(err: ConfigError) -> Self {
        Outcome::Config(err)
    }
}

/// Reads the environment (and env file), validates it, checks what `components` need, and starts
/// logging.
pub fn load(env_file: Option<&Path>, components: &[Component]) -> Result<Settings, Outcome> {
    let src = EnvSource::load(env_file)?;
    load_from(&src, components)
}

/// As [`load`], from an already assembled source.
pub fn load_from(src: &EnvSource, components: &[Component]) -> Result<Settings, Outcome> {
    let settings = Settings::load(src, components)?;
    hg_platform::telemetry::init_logging(&settings.log);
    Ok(settings)
}

/// Connects to the configured database now, or fails with a readable reason.
pub async fn connect_db(settings: &Settings, application: &str) -> Result<sqlx::PgPool, Outcome> {
    let cfg = settings
        .database
        .as_ref()
        .ok_or_else(|| Outcome::Failed("DATABASE_URL is not set".into()))?;
    hg_platform::db::connect(cfg, application)
        .await
        .map_err(Outcome::Failed)
}

/// Runs `f` and turns an `Err(outcome)` into that outcome.
pub fn finish(result: Result<(), Outcome>) -> Outcome {
    result.err().unwrap_or(Outcome::Ok)
}
