//! Logs, seeding, the public URL, notifications, media and telemetry storage.

use super::*;

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
    pub(super) fn from_env(src: &EnvSource, env: RuntimeEnv, errors: &mut ConfigError) -> Self {
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
    pub(super) fn from_env(src: &EnvSource, env: RuntimeEnv, errors: &mut ConfigError) -> Self {
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
    pub(super) fn from_env(src: &EnvSource, errors: &mut ConfigError) -> Self {
        Self {
            instance_host: src.get("BACKEND_INSTANCE_HOST").map(str::to_owned),
            https_url: http_url(src, "BACKEND_HTTPS_URL", errors),
        }
    }
}

/// Notification channels. Reads `SMTP_URL` (`smtp://` or `smtps://`), `SMTP_CA_CERT`, `MAIL_SINK_DIR`
/// (a directory each e-mail is written to as a file; `heartguard up` defaults it to
/// `<data dir>/mail`), `MAIL_FROM` (default `HeartGuard <no-reply@heartguard.local>`),
/// `SMS_WEBHOOK_URL`, `SMS_WEBHOOK_FORMAT` (`json` or `twilio`), `SMS_FROM`, `VAPID_PUBLIC_KEY`,
/// `VAPID_PRIVATE_KEY`, `VAPID_SUBJECT`, `NOTIFY_RETRY_BASE_MS` and `NOTIFY_MAX_ATTEMPTS`.
#[derive(Clone, Debug)]
pub struct NotifyConfig {
    /// Directory e-mails are written to.
    pub mail_sink_dir: Option<PathBuf>,
    /// Sender of e-mails.
    pub mail_from: String,
    /// SMTP server, with credentials.
    pub smtp_url: Option<Secret>,
    /// CA file the SMTP server's certificate is checked against (else the system's roots).
    pub smtp_ca_cert: Option<PathBuf>,
    /// SMS provider webhook.
    pub sms_webhook_url: Option<url::Url>,
    /// The webhook's body: provider-agnostic JSON, or a Twilio-compatible form.
    pub sms_webhook_format: SmsFormat,
    /// The sender number or name SMS carry (`From`).
    pub sms_from: Option<String>,
    /// The first retry's delay; each further retry doubles it (with jitter).
    pub retry_base: std::time::Duration,
    /// Attempts per delivery before it is FAILED.
    pub max_attempts: u32,
    /// Web Push application server public key.
    pub vapid_public_key: Option<String>,
    /// Web Push private key.
    pub vapid_private_key: Option<Secret>,
    /// Web Push contact (`mailto:` or URL).
    pub vapid_subject: Option<String>,
}

impl NotifyConfig {
    pub(super) fn from_env(src: &EnvSource, errors: &mut ConfigError) -> Self {
        let smtp_url = src.get("SMTP_URL").map(|raw| {
            match url::Url::parse(raw) {
                Ok(u) if matches!(u.scheme(), "smtp" | "smtps") => {}
                _ => errors.push("SMTP_URL", "must be an smtp:// or smtps:// URL"),
            }
            Secret::new(raw)
        });
        let sms_webhook_format = match src.get("SMS_WEBHOOK_FORMAT") {
            None | Some("json") => SmsFormat::Json,
            Some("twilio") => SmsFormat::Twilio,
            Some(other) => {
                errors.push(
                    "SMS_WEBHOOK_FORMAT",
                    format!("`{other}` is not one of json, twilio"),
                );
                SmsFormat::Json
            }
        };
        Self {
            smtp_url,
            smtp_ca_cert: existing_file(src, "SMTP_CA_CERT", errors),
            sms_webhook_format,
            sms_from: src.get("SMS_FROM").map(str::to_owned),
            retry_base: std::time::Duration::from_millis(parse_num(
                src,
                "NOTIFY_RETRY_BASE_MS",
                5_000,
                (10, 3_600_000),
                errors,
            )),
            max_attempts: parse_num(src, "NOTIFY_MAX_ATTEMPTS", 6, (1, 20), errors),
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

/// `SMS_WEBHOOK_FORMAT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmsFormat {
    /// `{"to", "from", "body", "reference"}` as JSON.
    Json,
    /// `To`, `From`, `Body` as `application/x-www-form-urlencoded`, as Twilio's Messages API takes.
    Twilio,
}

/// Media storage. Reads `MEDIA_STORE_URL` (`file:///dir` or `s3://bucket/prefix`; default a `media`
/// folder in the data directory), `MEDIA_MAX_FILE_SIZE_MB` (default 5, 1–100) and, for S3-compatible
/// stores, `MEDIA_S3_ENDPOINT`, `MEDIA_S3_REGION`, `MEDIA_S3_ACCESS_KEY_ID` and
/// `MEDIA_S3_SECRET_ACCESS_KEY` (else the standard `AWS_*` variables of the process).
#[derive(Clone, Debug)]
pub struct MediaConfig {
    /// Where uploads are stored; `None` means the data directory.
    pub store_url: Option<url::Url>,
    /// Upload size limit.
    pub max_file_size_mb: u32,
    /// An S3-compatible service's URL (MinIO, Ceph, GCS interoperability); AWS when unset.
    pub s3_endpoint: Option<url::Url>,
    pub s3_region: Option<String>,
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<Secret>,
}

impl MediaConfig {
    pub(super) fn from_env(src: &EnvSource, errors: &mut ConfigError) -> Self {
        let store_url = src
            .get("MEDIA_STORE_URL")
            .and_then(|raw| match url::Url::parse(raw) {
                Ok(u) if matches!(u.scheme(), "file" | "s3") => Some(u),
                _ => {
                    errors.push("MEDIA_STORE_URL", "must be a file:// or s3:// URL");
                    None
                }
            });
        Self {
            store_url,
            max_file_size_mb: parse_num(src, "MEDIA_MAX_FILE_SIZE_MB", 5, (1, 100), errors),
            s3_endpoint: http_url(src, "MEDIA_S3_ENDPOINT", errors),
            s3_region: src.get("MEDIA_S3_REGION").map(str::to_owned),
            s3_access_key_id: src.get("MEDIA_S3_ACCESS_KEY_ID").map(str::to_owned),
            s3_secret_access_key: src.get("MEDIA_S3_SECRET_ACCESS_KEY").map(Secret::new),
        }
    }
}

/// Alert escalation (spec/05 "Alert lifecycle"): how long an unacknowledged alert waits before it
/// escalates, by level. Reads `ALERT_ESCALATE_CRITICAL_S` (default 120), `ALERT_ESCALATE_HIGH_S`
/// (300) and `ALERT_ESCALATE_MEDIUM_S` (900), each 1–86 400 seconds. Low alerts do not escalate.
/// `DEVICE_OFFLINE_AFTER` (seconds, default 300, 10–86 400): how long a device with an open stream may
/// be silent before it raises DEVICE_OFFLINE.
#[derive(Clone, Debug)]
pub struct AlertConfig {
    pub escalate_critical_s: i64,
    pub escalate_high_s: i64,
    pub escalate_medium_s: i64,
    pub device_offline_after_s: i64,
}

impl AlertConfig {
    pub(super) fn from_env(src: &EnvSource, errors: &mut ConfigError) -> Self {
        let seconds = |name, default, errors: &mut ConfigError| {
            parse_num(src, name, default, (1, 86_400), errors)
        };
        Self {
            escalate_critical_s: seconds("ALERT_ESCALATE_CRITICAL_S", 120, errors),
            escalate_high_s: seconds("ALERT_ESCALATE_HIGH_S", 300, errors),
            escalate_medium_s: seconds("ALERT_ESCALATE_MEDIUM_S", 900, errors),
            device_offline_after_s: parse_num(
                src,
                "DEVICE_OFFLINE_AFTER",
                300,
                (10, 86_400),
                errors,
            ),
        }
    }
}

/// Telemetry storage. Reads `TELEMETRY_RETENTION_DAYS` (default 365, 1–3650): sample partitions older
/// than that are dropped by the timeseries component's daily upkeep.
#[derive(Clone, Debug)]
pub struct TelemetryConfig {
    /// Days of samples kept.
    pub retention_days: i32,
    /// Batches stored at once by one timeseries process; more are answered 503 with `Retry-After`.
    pub ingest_concurrency: usize,
}

impl TelemetryConfig {
    pub(super) fn from_env(src: &EnvSource, errors: &mut ConfigError) -> Self {
        Self {
            retention_days: parse_num(src, "TELEMETRY_RETENTION_DAYS", 365, (1, 3650), errors),
            ingest_concurrency: parse_num(src, "TELEMETRY_INGEST_CONCURRENCY", 8, (1, 256), errors),
        }
    }
}
