//! Tokens and identity flows: token keys and lifetimes, passwords, lockout, registration, two-factor.

use super::*;

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
    pub(super) fn from_env(src: &EnvSource, errors: &mut ConfigError) -> Self {
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
    pub(super) fn from_env(src: &EnvSource, errors: &mut ConfigError) -> Self {
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
