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

/// PostgreSQL connection. Reads `DATABASE_URL` (sslmode and sslrootcert honoured) and
/// `DATABASE_MAX_CONNECTIONS` (default 10).
#[derive(Clone, Debug)]
pub struct DatabaseConfig {
    /// The URL; it holds the password.
    pub url: Secret,
    /// Parsed options, ready for the pool.
    pub options: PgConnectOptions,
    /// The host, for messages (never the password).
    pub host: String,
    /// The TLS mode asked for.
    pub ssl_mode: PgSslMode,
    /// Pool size.
    pub max_connections: u32,
}

impl DatabaseConfig {
    fn from_env(src: &EnvSource, env: RuntimeEnv, errors: &mut ConfigError) -> Option<Self> {
        let raw = src.get("DATABASE_URL")?;
        let max_connections = parse_num(src, "DATABASE_MAX_CONNECTIONS", 10u32, (1, 500), errors);
        match Self::parse(raw, env, max_connections) {
            Ok(cfg) => Some(cfg),
            Err(msg) => {
                errors.push("DATABASE_URL", msg);
                None
            }
        }
    }

    /// Parses and checks a PostgreSQL URL.
    pub fn parse(raw: &str, env: RuntimeEnv, max_connections: u32) -> Result<Self, String> {
        let url = url::Url::parse(raw).map_err(|e| format!("not a valid URL ({e})"))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err("must start with postgresql:// or postgres://".into());
        }
        let options = PgConnectOptions::from_str(raw)
            .map_err(|e| format!("not a valid PostgreSQL URL ({e})"))?;
        let query_host = url
            .query_pairs()
            .find(|(k, _)| k == "host")
            .map(|(_, v)| v.into_owned());
        let host = query_host.unwrap_or_else(|| url.host_str().unwrap_or("").to_owned());
        let sslmode = url
            .query_pairs()
            .find(|(k, _)| k == "sslmode" || k == "ssl-mode")
            .map(|(_, v)| v.into_owned());
        let ssl_mode = match sslmode.as_deref() {
            None | Some("prefer") => PgSslMode::Prefer,
            Some("disable") => PgSslMode::Disable,
            Some("allow") => PgSslMode::Allow,
            Some("require") => PgSslMode::Require,
            Some("verify-ca") => PgSslMode::VerifyCa,
            Some("verify-full") => PgSslMode::VerifyFull,
            Some(other) => {
                return Err(format!(
                    "sslmode `{other}` is not one of disable, prefer, require, verify-ca, verify-full"
                ));
            }
        };
        if let Some((_, root)) = url.query_pairs().find(|(k, _)| k == "sslrootcert")
            && !Path::new(root.as_ref()).is_file()
        {
            return Err(format!("sslrootcert file {root} does not exist"));
        }
        if matches!(ssl_mode, PgSslMode::VerifyCa | PgSslMode::VerifyFull)
            && !url.query_pairs().any(|(k, _)| k == "sslrootcert")
        {
            return Err(
                "sslmode=verify-ca/verify-full needs sslrootcert=<CA file> to check the server"
                    .into(),
            );
        }
        if env.is_production()
            && !is_loopback_host(&host)
            && matches!(
                ssl_mode,
                PgSslMode::Disable | PgSslMode::Allow | PgSslMode::Prefer
            )
        {
            return Err(format!(
                "sslmode={} to the non-loopback host {host} may send patient data unencrypted; \
                 production needs sslmode=require or verify-full",
                sslmode.as_deref().unwrap_or("prefer (the default)")
            ));
        }
        if env.is_production() && url.password().is_some_and(looks_like_placeholder) {
            return Err("the password is a placeholder from an example file".into());
        }
        Ok(Self {
            url: Secret::new(raw),
            options,
            host,
            ssl_mode,
            max_connections,
        })
    }
}

/// Redis. Reads `REDIS_URL` (`redis://` or `rediss://`, password in the URL), `REDIS_CA_CERT` (CA file
/// for `rediss://`), `REDIS_TLS_INSECURE` (skip certificate checks; logged as a warning) and
/// `REDIS_KEY_PREFIX` (default `hg:`).
#[derive(Clone, Debug)]
pub struct RedisConfig {
    /// The URL; it may hold the password.
    pub url: Secret,
    /// Whether the URL asks for TLS.
    pub tls: bool,
    /// CA certificate file for TLS.
    pub ca_cert: Option<PathBuf>,
    /// Certificate checking explicitly disabled.
    pub insecure: bool,
    /// Prefix of every key this installation writes.
    pub key_prefix: String,
    /// Host, for messages.
    pub host: String,
}

impl RedisConfig {
    fn from_env(src: &EnvSource, env: RuntimeEnv, errors: &mut ConfigError) -> Option<Self> {
        let raw = src.get("REDIS_URL")?;
        let ca_cert = existing_file(src, "REDIS_CA_CERT", errors);
        let insecure = parse_bool(src, "REDIS_TLS_INSECURE", false, errors);
        let key_prefix = src.get("REDIS_KEY_PREFIX").unwrap_or("hg:").to_owned();
        let url = match url::Url::parse(raw) {
            Ok(u) if matches!(u.scheme(), "redis" | "rediss") => u,
            _ => {
                errors.push("REDIS_URL", "must be a redis:// or rediss:// URL");
                return None;
            }
        };
        let tls = url.scheme() == "rediss";
        let host = url.host_str().unwrap_or("").to_owned();
        if env.is_production() && !tls && !is_loopback_host(&host) {
            errors.push(
                "REDIS_URL",
                format!("redis:// to the non-loopback host {host} is unencrypted; production needs rediss://"),
            );
        }
        if env.is_production() && url.password().is_some_and(looks_like_placeholder) {
            errors.push(
                "REDIS_URL",
                "the password is a placeholder from an example file",
            );
        }
        Some(Self {
            url: Secret::new(raw),
            tls,
            ca_cert,
            insecure,
            key_prefix,
            host,
        })
    }
}

/// RabbitMQ. Reads `AMQP_URL` (alias `RABBITMQ_URL`), `AMQP_CA_CERT` (CA file for `amqps://`) and
/// `AMQP_EXCHANGE` (default `heartguard.events`).
#[derive(Clone, Debug)]
pub struct AmqpConfig {
    /// The URL; it holds the password.
    pub url: Secret,
    /// CA certificate file for `amqps://`.
    pub ca_cert: Option<PathBuf>,
    /// The topic exchange events go to.
    pub exchange: String,
    /// Host, for messages.
    pub host: String,
}

impl AmqpConfig {
    fn from_env(src: &EnvSource, env: RuntimeEnv, errors: &mut ConfigError) -> Option<Self> {
        let (var, raw) = match (src.get("AMQP_URL"), src.get("RABBITMQ_URL")) {
            (Some(v), _) => ("AMQP_URL", v),
            (None, Some(v)) => ("RABBITMQ_URL", v),
            (None, None) => return None,
        };
        let ca_cert = existing_file(src, "AMQP_CA_CERT", errors);
        let exchange = src
            .get("AMQP_EXCHANGE")
            .unwrap_or("heartguard.events")
            .to_owned();
        let url = match url::Url::parse(raw) {
            Ok(u) if matches!(u.scheme(), "amqp" | "amqps") => u,
            _ => {
                errors.push(var, "must be an amqp:// or amqps:// URL");
                return None;
            }
        };
        let host = url.host_str().unwrap_or("").to_owned();
        if env.is_production() && url.scheme() == "amqp" && !is_loopback_host(&host) {
            errors.push(
                var,
                format!("amqp:// to the non-loopback host {host} is unencrypted; production needs amqps://"),
            );
        }
        Some(Self {
            url: Secret::new(raw),
            ca_cert,
            exchange,
            host,
        })
    }
}

/// Listening addresses. Reads `BIND_HOST` (default `127.0.0.1`), `GATEWAY_BIND_HOST` and
/// `ADMIN_BIND_HOST` (default: `BIND_HOST`), and each component's port variable (`GATEWAY_PORT`,
/// `AUTH_PORT` … `AUDIT_PORT`, `ADMIN_PORT`).
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Address the services bind to.
    pub bind_host: IpAddr,
    /// Address the gateway binds to.
    pub gateway_bind_host: IpAddr,
    /// Address the admin panel binds to.
    pub admin_bind_host: IpAddr,
    ports: BTreeMap<Component, u16>,
}

impl HttpConfig {
    fn from_env(src: &EnvSource, errors: &mut ConfigError) -> Self {
        let ip = |name: &str, default: IpAddr, errors: &mut ConfigError| match src.get(name) {
            None => default,
            Some(raw) => raw.parse().unwrap_or_else(|_| {
                errors.push(name, format!("`{raw}` is not an IP address"));
                default
            }),
        };
        let bind_host = ip("BIND_HOST", IpAddr::from([127, 0, 0, 1]), errors);
        let gateway_bind_host = ip("GATEWAY_BIND_HOST", bind_host, errors);
        let admin_bind_host = ip("ADMIN_BIND_HOST", bind_host, errors);
        let ports = Component::ALL
            .into_iter()
            .map(|c| {
                (
                    c,
                    parse_num(src, c.port_var(), c.default_port(), (0, 65535), errors),
                )
            })
            .collect();
        Self {
            bind_host,
            gateway_bind_host,
            admin_bind_host,
            ports,
        }
    }

    /// The port a component listens on (0 = any free port).
    pub fn port(&self, c: Component) -> u16 {
        self.ports[&c]
    }

    /// Overrides a component's port (tests use 0).
    pub fn set_port(&mut self, c: Component, port: u16) {
        self.ports.insert(c, port);
    }

    /// The address a component binds to.
    pub fn bind_addr(&self, c: Component) -> std::net::SocketAddr {
        let host = match c {
            Component::Gateway => self.gateway_bind_host,
            Component::Admin => self.admin_bind_host,
            _ => self.bind_host,
        };
        std::net::SocketAddr::new(host, self.port(c))
    }
}

/// The gateway (machine 2's entry). Reads:
///
/// * `INTERNAL_API_KEY` — accepted keys, comma-separated for rotation, each at least 32 characters;
/// * `REQUIRE_API_KEY` (default true; false only when the gateway binds to loopback);
/// * `<SERVICE>_UPSTREAM` — `host:port` per service (default `127.0.0.1:<port>`);
/// * `GATEWAY_TIMEOUT_SECS` (default 10) and `GATEWAY_TELEMETRY_TIMEOUT_SECS` (default 30) — how long
///   an upstream may take to answer;
/// * `API_KEY_ABUSE_THRESHOLD` (default 20) — rejections a minute from one IP before it is blocked,
///   and `API_KEY_ABUSE_BLOCK_SECS` (default 600) — for how long;
/// * `GATEWAY_TLS_CERT` and `GATEWAY_TLS_KEY` — PEM files; when both are set the gateway serves HTTPS;
/// * `CORS_ALLOWED_ORIGINS` — comma-separated origins allowed to call from browsers (none by default);
/// * `GATEWAY_WORKERS` — threads serving the plain-HTTP gateway, each with its own socket and upstream
///   connections (default: the number of CPUs).
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Accepted keys (several during rotation).
    pub api_keys: Vec<Secret>,
    /// Enforcement switch; `false` only on a loopback gateway.
    pub require_api_key: bool,
    upstreams: BTreeMap<Component, String>,
    /// Upstream answer deadline for most routes.
    pub timeout: std::time::Duration,
    /// Upstream answer deadline for telemetry (large batches).
    pub telemetry_timeout: std::time::Duration,
    /// Rejections per minute from one IP that trigger a block.
    pub abuse_threshold: u32,
    /// How long an abusive IP stays blocked.
    pub abuse_block: std::time::Duration,
    /// Certificate and key for HTTPS.
    pub tls: Option<TlsFiles>,
    /// Browser origins allowed by CORS.
    pub cors_origins: Vec<String>,
    /// Worker threads of the plain-HTTP gateway.
    pub workers: usize,
}

/// A PEM certificate chain and its private key.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// Certificate chain file.
    pub cert: PathBuf,
    /// Private key file.
    pub key: PathBuf,
}

impl GatewayConfig {
    fn from_env(
        src: &EnvSource,
        env: RuntimeEnv,
        http: &HttpConfig,
        errors: &mut ConfigError,
    ) -> Self {
        let api_keys = api_keys(src, "INTERNAL_API_KEY", env, errors);
        let require_api_key = parse_bool(src, "REQUIRE_API_KEY", true, errors);
        if !require_api_key && !http.gateway_bind_host.is_loopback() {
            errors.push(
                "REQUIRE_API_KEY",
                format!(
                    "false is only allowed when the gateway listens on loopback, not {}",
                    http.gateway_bind_host
                ),
            );
        }
        let upstreams = Component::services()
            .map(|c| {
                let var = c
                    .upstream_var()
                    .expect("services have an upstream variable");
                let value = match src.get(var) {
                    Some(v) => {
                        let v = v.trim_start_matches("http://").trim_end_matches('/');
                        let ok = url::Url::parse(&format!("http://{v}"))
                            .is_ok_and(|u| u.host_str().is_some() && u.path() == "/");
                        if !ok {
                            errors.push(var, format!("`{v}` is not host:port"));
                        }
                        v.to_owned()
                    }
                    None => format!("127.0.0.1:{}", http.port(c)),
                };
                (c, value)
            })
            .collect();
        let secs = |name: &str, default: u64, errors: &mut ConfigError| {
            std::time::Duration::from_secs(parse_num(src, name, default, (1, 3600), errors))
        };
        let tls = match (
            existing_file(src, "GATEWAY_TLS_CERT", errors),
            existing_file(src, "GATEWAY_TLS_KEY", errors),
        ) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            (Some(_), None) => {
                errors.push(
                    "GATEWAY_TLS_KEY",
                    "is required when GATEWAY_TLS_CERT is set",
                );
                None
            }
            (None, Some(_)) => {
                errors.push(
                    "GATEWAY_TLS_CERT",
                    "is required when GATEWAY_TLS_KEY is set",
                );
                None
            }
        };
        let cors_origins = src
            .get("CORS_ALLOWED_ORIGINS")
            .map(|raw| {
                raw.split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_owned())
                    .filter(|o| !o.is_empty())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for o in &cors_origins {
            let ok = url::Url::parse(o).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https") && u.host_str().is_some() && u.path() == "/"
            });
            if !ok {
                errors.push(
                    "CORS_ALLOWED_ORIGINS",
                    format!("`{o}` is not an origin like https://app.example.org"),
                );
            }
        }
        Self {
            api_keys,
            require_api_key,
            upstreams,
            timeout: secs("GATEWAY_TIMEOUT_SECS", 10, errors),
            telemetry_timeout: secs("GATEWAY_TELEMETRY_TIMEOUT_SECS", 30, errors),
            abuse_threshold: parse_num(src, "API_KEY_ABUSE_THRESHOLD", 20, (1, 100_000), errors),
            abuse_block: secs("API_KEY_ABUSE_BLOCK_SECS", 600, errors),
            tls,
            cors_origins,
            workers: parse_num(
                src,
                "GATEWAY_WORKERS",
                std::thread::available_parallelism().map_or(2, |n| n.get()),
                (1, 256),
                errors,
            ),
        }
    }

    /// `host:port` the gateway forwards a service's requests to.
    pub fn upstream(&self, c: Component) -> Option<&str> {
        self.upstreams.get(&c).map(String::as_str)
    }
}

/// How every listener treats slow, idle and numerous clients (spec/04 "Rate limiting"). Reads:
///
/// * `HTTP_HEADER_TIMEOUT_SECS` (default 10) — from the first byte of a request, how long the client
///   has to send the whole request head; also how long a new connection may stay silent;
/// * `HTTP_BODY_TIMEOUT_SECS` (default 60) — from the end of the head, how long the whole request
///   body may take to arrive; a late body is answered 400 `HG-BODY-TIMEOUT`;
/// * `HTTP_IDLE_TIMEOUT_SECS` (default 60) — how long a kept-alive connection may wait between
///   requests;
/// * `HTTP_MAX_CONNECTIONS` (default 1024) — open connections per listener; beyond it a new
///   connection is answered 503 and closed at once.
#[derive(Clone, Debug)]
pub struct ConnectionConfig {
    /// Time to send a request head.
    pub header_timeout: std::time::Duration,
    /// Time to send a request body.
    pub body_timeout: std::time::Duration,
    /// Time a connection may sit between requests.
    pub idle_timeout: std::time::Duration,
    /// Open connections per listener.
    pub max_connections: usize,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self::from_env(&EnvSource::default(), &mut ConfigError::default())
    }
}

impl ConnectionConfig {
    fn from_env(src: &EnvSource, errors: &mut ConfigError) -> Self {
        let secs = |name: &str, default: u64, errors: &mut ConfigError| {
            std::time::Duration::from_secs(parse_num(src, name, default, (1, 3600), errors))
        };
        Self {
            header_timeout: secs("HTTP_HEADER_TIMEOUT_SECS", 10, errors),
            body_timeout: secs("HTTP_BODY_TIMEOUT_SECS", 60, errors),
            idle_timeout: secs("HTTP_IDLE_TIMEOUT_SECS", 60, errors),
            max_connections: parse_num(src, "HTTP_MAX_CONNECTIONS", 1024, (1, 1_000_000), errors),
        }
    }
}

/// Who may read `/metrics`. Reads:
///
/// * `METRICS_TOKEN` — when set, every `/metrics` answers only `Authorization: Bearer <token>`;
/// * `ADMIN_METRICS_ADDR` (default `127.0.0.1:9180`; `off` for none) — where the admin component
///   serves its `/metrics`: never on its public port, which nginx exposes to the Internet.
#[derive(Clone, Debug)]
pub struct MetricsConfig {
    /// Bearer token `/metrics` requires, when set.
    pub token: Option<Secret>,
    /// The admin component's metrics listener.
    pub admin_addr: Option<std::net::SocketAddr>,
}

impl MetricsConfig {
    fn from_env(src: &EnvSource, errors: &mut ConfigError) -> Self {
        let admin_addr = match src.get("ADMIN_METRICS_ADDR") {
            None => Some(std::net::SocketAddr::from(([127, 0, 0, 1], 9180))),
            Some(off) if off.eq_ignore_ascii_case("off") => None,
            Some(raw) => match raw.parse() {
                Ok(a) => Some(a),
                Err(_) => {
                    errors.push(
                        "ADMIN_METRICS_ADDR",
                        format!("`{raw}` is not an address (ip:port) or `off`"),
                    );
                    None
                }
            },
        };
        let token = src.get("METRICS_TOKEN").map(Secret::new);
        if let Some(t) = &token
            && t.expose().chars().count() < 16
        {
            errors.push("METRICS_TOKEN", "needs at least 16 characters");
        }
        Self { token, admin_addr }
    }
}

/// Request rate limits of the gateway and the admin component, and which peers may speak for a client.
/// Reads `RATE_LIMIT_PER_MINUTE` (default 1200; 0 turns limiting off), `RATE_LIMIT_BURST` (default
/// 200) and `TRUSTED_PROXIES` (comma-separated IP addresses or CIDR ranges whose `X-Forwarded-For` is
/// believed; default `127.0.0.1,::1`).
#[derive(Clone, Debug)]
pub struct ClientLimitsConfig {
    /// Sustained requests per minute per client; 0 = unlimited.
    pub per_minute: u32,
    /// Bucket size: requests a client may send at once.
    pub burst: u32,
    /// Proxies whose `X-Forwarded-For` names the real client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl ClientLimitsConfig {
    fn from_env(src: &EnvSource, errors: &mut ConfigError) -> Self {
        let trusted_proxies = src
            .get("TRUSTED_PROXIES")
            .unwrap_or("127.0.0.1,::1")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .filter_map(|p| {
                let parsed = p
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<IpAddr>().map(ipnet::IpNet::from));
                if parsed.is_err() {
                    errors.push(
                        "TRUSTED_PROXIES",
                        format!("`{p}` is not an IP address or CIDR range"),
                    );
                }
                parsed.ok()
            })
            .collect();
        Self {
            per_minute: parse_num(src, "RATE_LIMIT_PER_MINUTE", 1200, (0, 10_000_000), errors),
            burst: parse_num(src, "RATE_LIMIT_BURST", 200, (1, 1_000_000), errors),
            trusted_proxies,
        }
    }
}

fn api_keys(src: &EnvSource, name: &str, env: RuntimeEnv, errors: &mut ConfigError) -> Vec<Secret> {
    let Some(raw) = src.get(name) else {
        return Vec::new();
    };
    let mut keys = Vec::new();
    for (i, key) in raw
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .enumerate()
    {
        if key.chars().count() < MIN_API_KEY_LEN {
            errors.push(
                name,
                format!(
                    "key #{} is {} characters long; keys need at least {MIN_API_KEY_LEN} (generate one with `openssl rand -hex 32`)",
                    i + 1,
                    key.chars().count()
                ),
            );
        } else if env.is_production() && looks_like_placeholder(key) {
            errors.push(
                name,
                format!("key #{} is a placeholder from an example file", i + 1),
            );
        }
        keys.push(Secret::new(key));
    }
    keys
}

/// How the admin component (machine 1) reaches the gateway. Reads `MICROSERVICES_GATEWAY_URL` (default
/// `http://127.0.0.1:<GATEWAY_PORT>`), `MICROSERVICES_API_KEY` and, for an HTTPS gateway with its own
/// CA, `MICROSERVICES_GATEWAY_CA_CERT`.
#[derive(Clone, Debug)]
pub struct EdgeConfig {
    /// Base URL of the gateway.
    pub gateway_url: url::Url,
    /// The key sent as `X-Internal-API-Key`.
    pub api_key: Option<Secret>,
    /// CA that signed the gateway's certificate (system roots otherwise).
    pub gateway_ca_cert: Option<PathBuf>,
}

impl EdgeConfig {
    fn from_env(
        src: &EnvSource,
        env: RuntimeEnv,
        http: &HttpConfig,
        errors: &mut ConfigError,
    ) -> Self {
        let gateway_url = http_url(src, "MICROSERVICES_GATEWAY_URL", errors).unwrap_or_else(|| {
            url::Url::parse(&format!(
                "http://127.0.0.1:{}",
                http.port(Component::Gateway)
            ))
            .expect("a literal URL parses")
        });
        let api_key = api_keys(src, "MICROSERVICES_API_KEY", env, errors)
            .into_iter()
            .next();
        Self {
            gateway_url,
            api_key,
            gateway_ca_cert: existing_file(src, "MICROSERVICES_GATEWAY_CA_CERT", errors),
        }
    }
}

/// Token keys. Reads `JWT_PRIVATE_KEY_FILE` (Ed25519 PKCS#8 PEM; the auth component signs with it),
/// `JWT_PUBLIC_KEY_FILE` (SPKI PEM) or `JWKS_URL` (every other component verifies with the public key
/// only), `JWT_ISSUER` (default `heartguard`), `JWT_AUDIENCE` (default `heartguard-api`) and
/// `JWT_ACCESS_TTL_SECS` (access token lifetime, default 900, 60–3600).
#[derive(Clone, Debug)]
pub struct JwtConfig {
    /// Ed25519 private key (PKCS#8 PEM).
    pub private_key_file: Option<PathBuf>,
    /// Ed25519 public key (SPKI PEM).
    pub public_key_file: Option<PathBuf>,
    /// Where to fetch public keys instead of a file.
    pub jwks_url: Option<url::Url>,
    /// `iss` claim.
    pub issuer: String,
    /// `aud` claim.
    pub audience: String,
    /// Access token lifetime.
    pub access_ttl: std::time::Duration,
}

impl JwtConfig {
    fn from_env(src: &EnvSource, errors: &mut ConfigError) -> Self {
        Self {
            private_key_file: existing_file(src, "JWT_PRIVATE_KEY_FILE", errors),
            public_key_file: existing_file(src, "JWT_PUBLIC_KEY_FILE", errors),
            jwks_url: http_url(src, "JWKS_URL", errors),
            issuer: src.get("JWT_ISSUER").unwrap_or("heartguard").to_owned(),
            audience: src
                .get("JWT_AUDIENCE")
                .unwrap_or("heartguard-api")
                .to_owned(),
            access_ttl: std::time::Duration::from_secs(parse_num(
                src,
                "JWT_ACCESS_TTL_SECS",
                900,
                (60, 3600),
                errors,
            )),
        }
    }

    /// Whether this process can verify tokens.
    pub fn can_verify(&self) -> bool {
        self.private_key_file.is_some() || self.public_key_file.is_some() || self.jwks_url.is_some()
    }
}

/// Identity rules of the auth component. Reads:
///
/// * `ALLOW_STAFF_SIGNUP` (default false) — staff may register without an invitation;
/// * `REQUIRE_2FA_SUPERADMIN` (default false) — superadmins must use TOTP;
/// * `TOTP_ENCRYPTION_KEY` — 64 hex characters (32 bytes) encrypting TOTP secrets at rest;
/// * `LOGIN_RATE_PER_MINUTE` (default 20) — login and password-reset attempts per client address;
/// * `LOCKOUT_THRESHOLD` (default 5) and `LOCKOUT_MINUTES` (default 15) — failures before an account
///   locks, and the first lock's length (doubling with every further `LOCKOUT_THRESHOLD` failures, at
///   most a day);
/// * `REFRESH_TTL_DAYS` (default 7) and `REFRESH_MAX_DAYS` (default 30) — a refresh token's life, and
///   how long a session may be kept alive by refreshing;
/// * `PASSWORD_RESET_TTL_MINUTES` (default 60) and `EMAIL_VERIFICATION_TTL_HOURS` (default 48).
#[derive(Clone, Debug)]
pub struct AuthConfig {
    pub allow_staff_signup: bool,
    pub require_2fa_superadmin: bool,
    pub totp_key: Option<Secret>,
    pub login_rate_per_minute: u32,
    pub lockout_threshold: u32,
    pub lockout_minutes: u32,
    pub refresh_ttl_days: u32,
    pub refresh_max_days: u32,
    pub password_reset_ttl_minutes: u32,
    pub email_verification_ttl_hours: u32,
}

impl AuthConfig {
    fn from_env(src: &EnvSource, errors: &mut ConfigError) -> Self {
        let totp_key = src.get("TOTP_ENCRYPTION_KEY").map(|k| {
            if k.len() != 64 || !k.chars().all(|c| c.is_ascii_hexdigit()) {
                errors.push(
                    "TOTP_ENCRYPTION_KEY",
                    "must be 64 hexadecimal characters (generate with `openssl rand -hex 32`)",
                );
            }
            Secret::new(k)
        });
        let refresh_ttl_days = parse_num(src, "REFRESH_TTL_DAYS", 7, (1, 90), errors);
        let refresh_max_days = parse_num(src, "REFRESH_MAX_DAYS", 30, (1, 365), errors);
        if refresh_max_days < refresh_ttl_days {
            errors.push(
                "REFRESH_MAX_DAYS",
                "must not be shorter than REFRESH_TTL_DAYS",
            );
        }
        Self {
            allow_staff_signup: parse_bool(src, "ALLOW_STAFF_SIGNUP", false, errors),
            require_2fa_superadmin: parse_bool(src, "REQUIRE_2FA_SUPERADMIN", false, errors),
            totp_key,
            login_rate_per_minute: parse_num(
                src,
                "LOGIN_RATE_PER_MINUTE",
                20,
                (1, 100_000),
                errors,
            ),
            lockout_threshold: parse_num(src, "LOCKOUT_THRESHOLD", 5, (1, 100), errors),
            lockout_minutes: parse_num(src, "LOCKOUT_MINUTES", 15, (1, 1440), errors),
            refresh_ttl_days,
            refresh_max_days,
            password_reset_ttl_minutes: parse_num(
                src,
                "PASSWORD_RESET_TTL_MINUTES",
                60,
                (5, 1440),
                errors,
            ),
            email_verification_ttl_hours: parse_num(
                src,
                "EMAIL_VERIFICATION_TTL_HOURS",
                48,
                (1, 720),
                errors,
            ),
        }
    }
}

/// Log output. Reads `LOG_FORMAT` (`json` or `pretty`; default pretty in development, json in
/// production) and `LOG_LEVEL` (a tracing filter such as `info` or `info,sqlx=warn`; default `info`).
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// Machine-readable lines or human-readable ones.
    pub format: LogFormat,
    /// The filter directive.
    pub level: String,
}

/// `LOG_FORMAT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

impl LogConfig {
    fn from_env(src: &EnvSource, env: RuntimeEnv, errors: &mut ConfigError) -> Self {
        let format = match src
            .get("LOG_FORMAT")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None if env.is_production() => LogFormat::Json,
            None => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some("pretty" | "text") => LogFormat::Pretty,
            Some(other) => {
                errors.push(
                    "LOG_FORMAT",
                    format!("`{other}` is not one of json, pretty"),
                );
                LogFormat::Pretty
            }
        };
        let level = src.get("LOG_LEVEL").unwrap_or("info").to_owned();
        if tracing_subscriber::EnvFilter::try_new(&level).is_err() {
            errors.push(
                "LOG_LEVEL",
                format!("`{level}` is not a log filter (try info, debug or info,sqlx=warn)"),
            );
        }
        Self { format, level }
    }
}

/// Seed passwords. Reads `ADMIN_PASSWORD` (the superadmin's) and `DEMO_PASSWORD` (every other demo
/// account's); when unset, `seed` generates one and prints it.
#[derive(Clone, Debug)]
pub struct SeedConfig {
    /// Initial superadmin password.
    pub admin_password: Option<Secret>,
    /// Password of the other demo accounts.
    pub demo_password: Option<Secret>,
}

/// Shortest password the platform accepts (spec/04).
pub const MIN_PASSWORD_LEN: usize = 10;

impl SeedConfig {
    fn from_env(src: &EnvSource, env: RuntimeEnv, errors: &mut ConfigError) -> Self {
        let mut read = |name: &str| {
            let value = src.get(name)?;
            if value.chars().count() < MIN_PASSWORD_LEN {
                errors.push(
                    name,
                    format!("passwords need at least {MIN_PASSWORD_LEN} characters"),
                );
            } else if env.is_production() && looks_like_placeholder(value) {
                errors.push(name, "is a placeholder from an example file");
            }
            Some(Secret::new(value))
        };
        Self {
            admin_password: read("ADMIN_PASSWORD"),
            demo_password: read("DEMO_PASSWORD"),
        }
    }
}

/// Machine 1 as seen from machine 2. Reads `BACKEND_INSTANCE_HOST` and `BACKEND_HTTPS_URL` (public base
/// URL used in e-mailed links and as the default CORS origin).
#[derive(Clone, Debug)]
pub struct BackendConfig {
    /// Machine 1's address.
    pub instance_host: Option<String>,
    /// Public URL of the platform.
    pub https_url: Option<url::Url>,
}

impl BackendConfig {
    fn from_env(src: &EnvSource, errors: &mut ConfigError) -> Self {
        Self {
            instance_host: src.get("BACKEND_INSTANCE_HOST").map(str::to_owned),
            https_url: http_url(src, "BACKEND_HTTPS_URL", errors),
        }
    }
}

/// Notification channels. Reads `SMTP_URL` (`smtp://` or `smtps://`), `MAIL_SINK_DIR` (a directory
/// each e-mail is written to as a file; `heartguard up` defaults it to `<data dir>/mail`),
/// `MAIL_FROM` (default `HeartGuard <no-reply@heartguard.local>`), `SMS_WEBHOOK_URL`,
/// `VAPID_PUBLIC_KEY`, `VAPID_PRIVATE_KEY` and `VAPID_SUBJECT`.
#[derive(Clone, Debug)]
pub struct NotifyConfig {
    /// Directory e-mails are written to.
    pub mail_sink_dir: Option<PathBuf>,
    /// Sender of e-mails.
    pub mail_from: String,
    /// SMTP server, with credentials.
    pub smtp_url: Option<Secret>,
    /// SMS provider webhook.
    pub sms_webhook_url: Option<url::Url>,
    /// Web Push application server public key.
    pub vapid_public_key: Option<String>,
    /// Web Push private key.
    pub vapid_private_key: Option<Secret>,
    /// Web Push contact (`mailto:` or URL).
    pub vapid_subject: Option<String>,
}

impl NotifyConfig {
    fn from_env(src: &EnvSource, errors: &mut ConfigError) -> Self {
        let smtp_url = src.get("SMTP_URL").map(|raw| {
            match url::Url::parse(raw) {
                Ok(u) if matches!(u.scheme(), "smtp" | "smtps") => {}
                _ => errors.push("SMTP_URL", "must be an smtp:// or smtps:// URL"),
            }
            Secret::new(raw)
        });
        Self {
            smtp_url,
            mail_sink_dir: src.get("MAIL_SINK_DIR").map(PathBuf::from),
            mail_from: src
                .get("MAIL_FROM")
                .unwrap_or("HeartGuard <no-reply@heartguard.local>")
                .to_owned(),
            sms_webhook_url: http_url(src, "SMS_WEBHOOK_URL", errors),
            vapid_public_key: src.get("VAPID_PUBLIC_KEY").map(str::to_owned),
            vapid_private_key: src.get("VAPID_PRIVATE_KEY").map(Secret::new),
            vapid_subject: src.get("VAPID_SUBJECT").map(str::to_owned),
        }
    }
}

/// Media storage. Reads `MEDIA_STORE_URL` (`file:///dir`, `s3://bucket/prefix`, `gs://bucket/prefix`;
/// default a `media` folder in the data directory) and `MEDIA_MAX_FILE_SIZE_MB` (default 5, 1–100).
#[derive(Clone, Debug)]
pub struct MediaConfig {
    /// Where uploads are stored; `None` means the data directory.
    pub store_url: Option<url::Url>,
    /// Upload size limit.
    pub max_file_size_mb: u32,
}

impl MediaConfig {
    fn from_env(src: &EnvSource, errors: &mut ConfigError) -> Self {
        let store_url = src
            .get("MEDIA_STORE_URL")
            .and_then(|raw| match url::Url::parse(raw) {
                Ok(u) if matches!(u.scheme(), "file" | "s3" | "gs") => Some(u),
                _ => {
                    errors.push("MEDIA_STORE_URL", "must be a file://, s3:// or gs:// URL");
                    None
                }
            });
        Self {
            store_url,
            max_file_size_mb: parse_num(src, "MEDIA_MAX_FILE_SIZE_MB", 5, (1, 100), errors),
        }
    }
}

/// Telemetry storage. Reads `TELEMETRY_RETENTION_DAYS` (default 365, 1–3650): sample partitions older
/// than that are dropped by the timeseries component's daily upkeep.
#[derive(Clone, Debug)]
pub struct TelemetryConfig {
    /// Days of samples kept.
    pub retention_days: i32,
}

impl TelemetryConfig {
    fn from_env(src: &EnvSource, errors: &mut ConfigError) -> Self {
        Self {
            retention_days: parse_num(src, "TELEMETRY_RETENTION_DAYS", 365, (1, 3650), errors),
        }
    }
}

/// Everything the binary reads, validated together. Besides the concerns above it reads
/// `HEARTGUARD_ENV` and `HEARTGUARD_DATA_DIR` (default `.heartguard`: the private database cluster,
/// generated development secrets, local media).
#[derive(Clone, Debug)]
pub struct Settings {
    pub env: RuntimeEnv,
    pub data_dir: PathBuf,
    pub http: HttpConfig,
    pub database: Option<DatabaseConfig>,
    pub redis: Option<RedisConfig>,
    pub amqp: Option<AmqpConfig>,
    pub gateway: GatewayConfig,
    pub edge: EdgeConfig,
    pub jwt: JwtConfig,
    pub log: LogConfig,
    pub seed: SeedConfig,
    pub backend: BackendConfig,
    pub notify: NotifyConfig,
    pub media: MediaConfig,
    pub telemetry: TelemetryConfig,
    pub limits: ClientLimitsConfig,
    pub connections: ConnectionConfig,
    pub metrics: MetricsConfig,
    pub auth: AuthConfig,
}

impl Settings {
    /// Reads and checks every variable; all problems are reported together.
    pub fn from_env(src: &EnvSource) -> Result<Self, ConfigError> {
        let (settings, errors) = Self::build(src);
        errors.into_result(settings)
    }

    /// Reads and checks every variable and what `components` need (see [`Settings::require_for`]),
    /// reporting every problem of both kinds together.
    pub fn load(src: &EnvSource, components: &[Component]) -> Result<Self, ConfigError> {
        let (settings, mut errors) = Self::build(src);
        settings.requirements(components, &mut errors);
        errors.into_result(settings)
    }

    fn build(src: &EnvSource) -> (Self, ConfigError) {
        let mut errors = ConfigError::default();
        let env = RuntimeEnv::from_env(src, &mut errors);
        let http = HttpConfig::from_env(src, &mut errors);
        let settings = Settings {
            env,
            data_dir: PathBuf::from(src.get("HEARTGUARD_DATA_DIR").unwrap_or(".heartguard")),
            database: DatabaseConfig::from_env(src, env, &mut errors),
            redis: RedisConfig::from_env(src, env, &mut errors),
            amqp: AmqpConfig::from_env(src, env, &mut errors),
            gateway: GatewayConfig::from_env(src, env, &http, &mut errors),
            edge: EdgeConfig::from_env(src, env, &http, &mut errors),
            jwt: JwtConfig::from_env(src, &mut errors),
            log: LogConfig::from_env(src, env, &mut errors),
            seed: SeedConfig::from_env(src, env, &mut errors),
            backend: BackendConfig::from_env(src, &mut errors),
            notify: NotifyConfig::from_env(src, &mut errors),
            media: MediaConfig::from_env(src, &mut errors),
            telemetry: TelemetryConfig::from_env(src, &mut errors),
            limits: ClientLimitsConfig::from_env(src, &mut errors),
            connections: ConnectionConfig::from_env(src, &mut errors),
            metrics: MetricsConfig::from_env(src, &mut errors),
            auth: AuthConfig::from_env(src, &mut errors),
            http,
        };
        (settings, errors)
    }

    /// Checks what the given components need beyond well-formed values: a database, the gateway's key,
    /// the admin component's key to the gateway, and in production the shared services.
    pub fn require_for(&self, components: &[Component]) -> Result<(), ConfigError> {
        let mut errors = ConfigError::default();
        self.requirements(components, &mut errors);
        errors.into_result(())
    }

    fn requirements(&self, components: &[Component], errors: &mut ConfigError) {
        if self.database.is_none() {
            errors.push(
                "DATABASE_URL",
                "is required (postgresql://user:password@host:5432/heartguard?sslmode=require)",
            );
        }
        if components.contains(&Component::Gateway)
            && self.gateway.require_api_key
            && self.gateway.api_keys.is_empty()
        {
            errors.push(
                "INTERNAL_API_KEY",
                "is required while REQUIRE_API_KEY=true (generate one with `openssl rand -hex 32`)",
            );
        }
        if components.contains(&Component::Auth) && self.jwt.private_key_file.is_none() {
            errors.push(
                "JWT_PRIVATE_KEY_FILE",
                "is required by the auth component to sign tokens (create one with `heartguard keygen`)",
            );
        }
        if components.iter().any(|c| *c != Component::Gateway) && !self.jwt.can_verify() {
            errors.push(
                "JWT_PUBLIC_KEY_FILE",
                "is required to verify access tokens (or JWKS_URL; `heartguard keygen` writes the pair)",
            );
        }
        if self.env.is_production() {
            if components.contains(&Component::Auth) && self.auth.totp_key.is_none() {
                errors.push(
                    "TOTP_ENCRYPTION_KEY",
                    "is required in production to keep two-factor secrets encrypted",
                );
            }
            if components.contains(&Component::Admin) && self.edge.api_key.is_none() {
                errors.push(
                    "MICROSERVICES_API_KEY",
                    "is required in production so the admin component can reach the gateway",
                );
            }
            if self.redis.is_none() {
                errors.push(
                    "REDIS_URL",
                    "is required in production (sessions, rate limits, token deny-list)",
                );
            }
            if components.iter().any(|c| *c != Component::Admin) && self.amqp.is_none() {
                errors.push(
                    "AMQP_URL",
                    "is required in production for the services (domain events)",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_env(&EnvSource::from_pairs(pairs.iter().copied()))
    }

    fn variables(err: &ConfigError) -> Vec<&str> {
        err.problems.iter().map(|p| p.variable.as_str()).collect()
    }

    #[test]
    fn defaults_load_in_development() {
        let s = load(&[]).unwrap();
        assert_eq!(s.env, RuntimeEnv::Development);
        assert_eq!(s.http.port(Component::Auth), 5001);
        assert_eq!(s.http.port(Component::Admin), 8080);
        assert_eq!(s.gateway.upstream(Component::Audit), Some("127.0.0.1:5011"));
        assert!(s.gateway.require_api_key);
    }

    #[test]
    fn short_api_key_is_refused_naming_the_variable() {
        let err = load(&[
            ("HEARTGUARD_ENV", "production"),
            ("INTERNAL_API_KEY", "0123456789"),
        ])
        .unwrap_err();
        assert_eq!(variables(&err), vec!["INTERNAL_API_KEY"]);
        assert!(err.to_string().contains("at least 32"));
    }

    #[test]
    fn every_rotated_key_is_checked() {
        let good = "a".repeat(40);
        let err = load(&[("INTERNAL_API_KEY", &format!("{good}, short"))]).unwrap_err();
        assert!(err.problems[0].message.contains("key #2"));
        let s = load(&[("INTERNAL_API_KEY", &format!("{good},{}", "b".repeat(32)))]).unwrap();
        assert_eq!(s.gateway.api_keys.len(), 2);
    }

    #[test]
    fn placeholder_key_is_refused_in_production_only() {
        let key = "change-me-change-me-change-me-change-me";
        assert!(load(&[("INTERNAL_API_KEY", key)]).is_ok());
        let err = load(&[("HEARTGUARD_ENV", "production"), ("INTERNAL_API_KEY", key)]).unwrap_err();
        assert_eq!(variables(&err), vec!["INTERNAL_API_KEY"]);
    }

    #[test]
    fn production_refuses_plaintext_database_to_remote_host() {
        let err = load(&[
            ("HEARTGUARD_ENV", "production"),
            (
                "DATABASE_URL",
                "postgresql://app:s3cret@db.internal:5432/heartguard?sslmode=disable",
            ),
        ])
        .unwrap_err();
        assert_eq!(variables(&err), vec!["DATABASE_URL"]);
        assert!(err.to_string().contains("sslmode=disable"));
        assert!(
            !err.to_string().contains("s3cret"),
            "password leaked: {err}"
        );
    }

    #[test]
    fn production_accepts_plaintext_database_on_loopback_and_tls_remotely() {
        load(&[
            ("HEARTGUARD_ENV", "production"),
            (
                "DATABASE_URL",
                "postgresql://app@127.0.0.1:5432/heartguard?sslmode=disable",
            ),
        ])
        .unwrap();
        load(&[
            ("HEARTGUARD_ENV", "production"),
            (
                "DATABASE_URL",
                "postgresql://app@db.internal:5432/heartguard?sslmode=require",
            ),
        ])
        .unwrap();
    }

    #[test]
    fn verify_full_without_a_ca_file_is_refused() {
        let err = load(&[(
            "DATABASE_URL",
            "postgresql://app@db:5432/hg?sslmode=verify-full",
        )])
        .unwrap_err();
        assert!(err.to_string().contains("sslrootcert"));
    }

    #[test]
    fn all_problems_are_reported_together() {
        let err = load(&[
            ("HEARTGUARD_ENV", "staging"),
            ("AUTH_PORT", "seventy"),
            ("REDIS_URL", "http://x"),
            ("LOG_FORMAT", "xml"),
        ])
        .unwrap_err();
        assert_eq!(
            variables(&err),
            vec!["HEARTGUARD_ENV", "AUTH_PORT", "REDIS_URL", "LOG_FORMAT"]
        );
        assert_eq!(err.to_string().lines().count(), 4);
    }

    #[test]
    fn disabling_the_api_key_needs_a_loopback_gateway() {
        assert!(load(&[("REQUIRE_API_KEY", "false")]).is_ok());
        let err = load(&[
            ("REQUIRE_API_KEY", "false"),
            ("GATEWAY_BIND_HOST", "0.0.0.0"),
        ])
        .unwrap_err();
        assert_eq!(variables(&err), vec!["REQUIRE_API_KEY"]);
    }

    #[test]
    fn gateway_needs_a_key_when_enforcing() {
        let s = load(&[("DATABASE_URL", "postgresql://127.0.0.1/hg")]).unwrap();
        let err = s.require_for(&[Component::Gateway]).unwrap_err();
        assert_eq!(variables(&err), vec!["INTERNAL_API_KEY"]);
        // The auth component needs its signing key instead.
        let err = s.require_for(&[Component::Auth]).unwrap_err();
        assert_eq!(
            variables(&err),
            vec!["JWT_PRIVATE_KEY_FILE", "JWT_PUBLIC_KEY_FILE"]
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let s = load(&[("INTERNAL_API_KEY", &"k".repeat(40))]).unwrap();
        assert!(!format!("{s:?}").contains(&"k".repeat(40)));
    }

    #[test]
    fn process_environment_overrides_the_env_file() {
        let dir = std::env::temp_dir().join(format!("hg-envfile-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("test.env");
        std::fs::write(&file, "HG_TEST_ONLY_IN_FILE=from-file\nPATH=from-file\n").unwrap();
        let src = EnvSource::load(Some(&file)).unwrap();
        assert_eq!(src.get("HG_TEST_ONLY_IN_FILE"), Some("from-file"));
        assert_ne!(src.get("PATH"), Some("from-file"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
