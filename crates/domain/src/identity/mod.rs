//! Identity: who may sign in and how (spec/04 "Principals and tokens"). Staff and patient login with
//! lockout and per-address limits, sessions (access token + rotating refresh token with reuse
//! detection), logout, password change and reset, e-mail verification, invitations, TOTP.
//!
//! E-mails are not sent from here: each flow writes an outbox event (`auth.password_reset_requested`,
//! `auth.email_verification_requested`, …) carrying what the notifier needs. Every change writes its
//! audit entry in the same transaction.

pub mod accounts;
pub mod errors;
pub mod login;
pub mod mail;
pub mod policy;
pub mod recovery;
pub mod sessions;
pub mod signup;
pub mod throttle;
pub mod totp;

use sha2::{Digest, Sha256};

pub use errors::AuthError;

/// What the identity flows need, and nothing else of the platform: the database, the cache
/// (deny-lists, attempt limits), the token keys, the identity settings and where the links of
/// e-mails point. The auth component builds it once; the notification component's account-mail
/// consumer too.
#[derive(Clone)]
pub struct Identity {
    /// PostgreSQL.
    pub db: sqlx::PgPool,
    /// Redis or the in-process cache.
    pub cache: std::sync::Arc<dyn hg_platform::cache::Cache>,
    /// Token keys (signing needs the private key).
    pub tokens: Option<std::sync::Arc<hg_platform::auth::TokenKeys>>,
    /// Lifetimes, limits, lockout, registration and two-factor settings.
    pub settings: hg_platform::config::AuthConfig,
    /// The public base URL links in e-mails point to (`BACKEND_HTTPS_URL`, else the local admin
    /// component).
    pub public_base: String,
}

impl Identity {
    /// The identity context of `platform`.
    pub fn of(platform: &hg_platform::Platform) -> Self {
        let public_base = platform
            .settings
            .backend
            .https_url
            .as_ref()
            .map(|u| u.as_str().trim_end_matches('/').to_owned())
            .unwrap_or_else(|| {
                format!(
                    "http://127.0.0.1:{}",
                    platform.settings.http.port(hg_platform::Component::Admin)
                )
            });
        Self {
            db: platform.db.clone(),
            cache: platform.cache.clone(),
            tokens: platform.tokens.clone(),
            settings: platform.settings.auth.clone(),
            public_base,
        }
    }
}

pub use hg_platform::audit::RequestMeta;

/// A new opaque secret (256 random bits, base64url) and the SHA-256 digest that is stored instead.
pub fn opaque_token() -> (String, Vec<u8>) {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let digest = token_digest(&token);
    (token, digest)
}

/// The stored form of an opaque token.
pub fn token_digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Normalizes an e-mail address for lookups and storage (trimmed; case is kept, comparisons are
/// case-insensitive in the database).
pub fn normalize_email(raw: &str) -> Result<String, String> {
    let email = raw.trim();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email.to_owned())
    } else {
        Err("is not an e-mail address".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opaque_tokens_are_random_and_stored_as_digests() {
        let (a, da) = opaque_token();
        let (b, _) = opaque_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_digest(&a), da);
        assert_eq!(da.len(), 32);
    }

    #[test]
    fn emails_are_checked() {
        assert_eq!(
            normalize_email("  Ana@Example.org ").unwrap(),
            "Ana@Example.org"
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@x.org",
            "ana@localhost",
            "an a@x.org",
            "ana@x.org.",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }
}
