//! Configuration from the environment (and an optional env file), validated once at startup.
//!
//! Every concern has a small struct with a `from_env` that lists the variables it reads. Loading never
//! stops at the first mistake: all problems are collected and reported one line each, naming the
//! variable, so an operator fixes a broken env file in one go. `HEARTGUARD_ENV=production` turns on the
//! strict checks of spec/04 "Secrets and configuration hygiene".

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgSslMode};

use crate::component::Component;

/// A value that must never be printed: `Debug` and `Display` show `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where variables come from: an env file (optional) overlaid by the process environment, so an
/// exported variable always wins over the file, as with dotenv.
#[derive(Clone, Debug, Default)]
pub struct EnvSource {
    vars: BTreeMap<String, String>,
}

impl EnvSource {
    /// Reads `env_file` (when given) and then the process environment.
    pub fn load(env_file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut vars = BTreeMap::new();
        if let Some(path) = env_file {
            let iter = dotenvy::from_path_iter(path).map_err(|e| {
                ConfigError::single("--env-file", format!("cannot read {}: {e}", path.display()))
            })?;
            for item in iter {
                let (k, v) = item.map_err(|e| {
                    ConfigError::single("--env-file", format!("{}: {e}", path.display()))
                })?;
                vars.insert(k, v);
            }
        }
        vars.extend(std::env::vars());
        Ok(Self { vars })
    }

    /// A source holding exactly these pairs (tests, and `heartguard up` filling in what it provisions).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Sets a variable unless it is already set.
    pub fn set_default(&mut self, name: &str, value: impl Into<String>) {
        if self.get(name).is_none() {
            self.vars.insert(name.to_owned(), value.into());
        }
    }

    /// Sets a variable, replacing any value.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.vars.insert(name.to_owned(), value.into());
    }

    /// The trimmed value, or `None` when unset or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }
}

/// One thing wrong with the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The variable (or command-line option) at fault.
    pub variable: String,
    /// What is wrong and, where possible, what to do.
    pub message: String,
}

/// Every problem found while loading; displayed one per line.
#[derive(Debug, Default, thiserror::Error)]
pub struct ConfigError {
    /// The problems, in the order they were found.
    pub problems: Vec<Problem>,
}

impl ConfigError {
    fn single(variable: &str, message: impl Into<String>) -> Self {
        Self {
            problems: vec![Problem {
                variable: variable.to_owned(),
                message: message.into(),
            }],
        }
    }

    fn push(&mut self, variable: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            variable: variable.to_owned(),
            message: message.into(),
        });
    }

    fn into_result<T>(self, value: T) -> Result<T, ConfigError> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "configuration error: {}: {}", p.variable, p.message)?;
        }
        Ok(())
    }
}

/// `HEARTGUARD_ENV`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeEnv {
    Development,
    Production,
}

impl RuntimeEnv {
    /// Reads `HEARTGUARD_ENV` (`development`, the default, or `production`).
    fn from_env(src: &EnvSource, errors: &mut ConfigError) -> Self {
        match src
            .get("HEARTGUARD_ENV")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("development") | Some("dev") => RuntimeEnv::Development,
            Some("production") | Some("prod") => RuntimeEnv::Production,
            Some(other) => {
                errors.push(
                    "HEARTGUARD_ENV",
                    format!("`{other}` is not one of development, production"),
                );
                RuntimeEnv::Development
            }
        }
    }

    /// True in production, where secrets and transport security are enforced.
    pub fn is_production(self) -> bool {
        self == RuntimeEnv::Production
    }
}

/// Minimum length of an internal API key (spec/04).
pub const MIN_API_KEY_LEN: usize = 32;

/// Values that are obviously copied from an example file.
fn looks_like_placeholder(value: &str) -> bool {
    let v = value.to_ascii_lowercase();
    [
        "change-me",
        "changeme",
        "change_me",
        "placeholder",
        "example",
        "your-",
        "your_",
        "xxxx",
        "<",
        "replace",
    ]
    .iter()
    .any(|p| v.contains(p))
}

fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.is_empty()
        || h.eq_ignore_ascii_case("localhost")
        || h.starts_with('/')
        || h.parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

fn parse_bool(src: &EnvSource, name: &str, default: bool, errors: &mut ConfigError) -> bool {
    match src.get(name).map(str::to_ascii_lowercase).as_deref() {
        None => default,
        Some("true" | "1" | "yes" | "on") => true,
        Some("false" | "0" | "no" | "off") => false,
        Some(other) => {
            errors.push(name, format!("`{other}` is not a boolean (true/false)"));
            default
        }
    }
}

fn parse_num<T: FromStr + Copy + PartialOrd + fmt::Display>(
    src: &EnvSource,
    name: &str,
    default: T,
    range: (T, T),
    errors: &mut ConfigError,
) -> T {
    match src.get(name) {
        None => default,
        Some(raw) => match raw.parse::<T>() {
            Ok(v) if v >= range.0 && v <= range.1 => v,
            _ => {
                errors.push(
                    name,
                    format!(
                        "`{raw}` is not a number between {} and {}",
                        range.0, range.1
                    ),
                );
                default
            }
        },
    }
}

fn existing_file(src: &EnvSource, name: &str, errors: &mut ConfigError) -> Option<PathBuf> {
    let path = PathBuf::from(src.get(name)?);
    if !path.is_file() {
        errors.push(name, format!("file {} does not exist", path.display()));
    }
    Some(path)
}

fn http_url(src: &EnvSource, name: &str, errors: &mut ConfigError) -> Option<url::Url> {
    let raw = src.get(name)?;
    match url::Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Some(u),
        _ => {
            errors.push(name, "must be an http:// or https:// URL with a host");
            None
        }
    }
}

mod identity;
mod listeners;
mod operations;
mod settings;
mod stores;

pub use identity::*;
pub use listeners::*;
pub use operations::*;
pub use settings::*;
pub use stores::*;
