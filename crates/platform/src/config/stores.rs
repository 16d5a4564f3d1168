//! Where the data lives: PostgreSQL, Redis and RabbitMQ.

use super::*;

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
    pub(super) fn from_env(
        src: &EnvSource,
        env: RuntimeEnv,
        errors: &mut ConfigError,
    ) -> Option<Self> {
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
    pub(super) fn from_env(
        src: &EnvSource,
        env: RuntimeEnv,
        errors: &mut ConfigError,
    ) -> Option<Self> {
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
    pub(super) fn from_env(
        src: &EnvSource,
        env: RuntimeEnv,
        errors: &mut ConfigError,
    ) -> Option<Self> {
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
