//! Everything together: read and checked at once, every problem reported.

use super::*;

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
    pub alerts: AlertConfig,
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

    pub(super) fn build(src: &EnvSource) -> (Self, ConfigError) {
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
            alerts: AlertConfig::from_env(src, &mut errors),
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

    pub(super) fn requirements(&self, components: &[Component], errors: &mut ConfigError) {
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
    fn the_gateway_url_defaults_to_where_this_machine_s_gateway_listens() {
        let url = |pairs: &[(&str, &str)]| load(pairs).unwrap().edge.gateway_url.to_string();
        assert_eq!(url(&[]), "http://127.0.0.1:5000/");
        assert_eq!(
            url(&[("GATEWAY_BIND_HOST", "10.0.0.2"), ("GATEWAY_PORT", "5100")]),
            "http://10.0.0.2:5100/"
        );
        assert_eq!(url(&[("BIND_HOST", "0.0.0.0")]), "http://127.0.0.1:5000/");
        assert_eq!(
            url(&[
                ("GATEWAY_BIND_HOST", "10.0.0.2"),
                ("MICROSERVICES_GATEWAY_URL", "http://gw.internal:5000")
            ]),
            "http://gw.internal:5000/"
        );
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
