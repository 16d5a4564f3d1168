//! Password hashing: argon2id with the parameters of spec/04 (19 MiB, two passes, one lane).

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

/// Memory cost in KiB (19 MiB, the OWASP minimum for argon2id).
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Number of passes.
pub const ITERATIONS: u32 = 2;
/// Degree of parallelism.
pub const LANES: u32 = 1;

fn hasher() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(MEMORY_KIB, ITERATIONS, LANES, None).expect("constant parameters are valid"),
    )
}

/// Hashing failed; only possible when the system's random source fails.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Hashes `password` into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) with a fresh salt.
pub fn hash(password: &str) -> Result<String, HashError> {
    hasher()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches the argon2 PHC string `phc`; a malformed hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// The outcome of checking a password against a stored hash of any supported kind.
#[derive(Debug, PartialEq, Eq)]
pub enum Check {
    /// Wrong password (or an unreadable hash).
    Mismatch,
    /// Right password, hash current.
    Match,
    /// Right password, but the hash is bcrypt (imported data) or argon2 with other parameters: store
    /// a fresh hash.
    MatchNeedsRehash,
}

/// Checks `password` against an argon2 or bcrypt hash.
pub fn check(password: &str, stored: &str) -> Check {
    if stored.starts_with("$2a$") || stored.starts_with("$2b$") || stored.starts_with("$2y$") {
        return match bcrypt::verify(password, stored) {
            Ok(true) => Check::MatchNeedsRehash,
            _ => Check::Mismatch,
        };
    }
    if !verify(password, stored) {
        return Check::Mismatch;
    }
    let current = format!("$argon2id$v=19$m={MEMORY_KIB},t={ITERATIONS},p={LANES}$");
    if stored.starts_with(&current) {
        Check::Match
    } else {
        Check::MatchNeedsRehash
    }
}

/// Spends the time a real check takes, for logins of unknown accounts, so response times do not tell
/// which e-mail addresses exist.
pub fn check_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("not a real password").unwrap_or_default());
    let _ = verify(password, dummy);
}

/// [`hash`] on the blocking pool: argon2 takes tens of milliseconds of CPU, which must not stall the
/// async runtime serving other requests.
pub async fn hash_blocking(password: &str) -> Result<String, HashError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|e| HashError(e.to_string()))?
}

/// [`check`] on the blocking pool.
pub async fn check_blocking(password: &str, stored: &str) -> Check {
    let (password, stored) = (password.to_owned(), stored.to_owned());
    tokio::task::spawn_blocking(move || check(&password, &stored))
        .await
        .unwrap_or(Check::Mismatch)
}

/// [`check_nothing`] on the blocking pool.
pub async fn check_nothing_blocking(password: &str) {
    let password = password.to_owned();
    let _ = tokio::task::spawn_blocking(move || check_nothing(&password)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_the_spec_parameters_and_verify() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery", &h));
        assert!(!verify("wrong horse battery", &h));
        assert!(!verify("anything", "not-a-hash"));
    }

    #[test]
    fn bcrypt_and_old_argon2_hashes_verify_and_ask_for_a_rehash() {
        let legacy = bcrypt::hash("imported password", 4).unwrap();
        assert_eq!(check("imported password", &legacy), Check::MatchNeedsRehash);
        assert_eq!(check("wrong password", &legacy), Check::Mismatch);
        let current = hash("current password").unwrap();
        assert_eq!(check("current password", &current), Check::Match);
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8192, 1, 1, None).unwrap(),
        )
        .hash_password(b"old params")
        .unwrap()
        .to_string();
        assert_eq!(check("old params", &weak), Check::MatchNeedsRehash);
    }

    #[test]
    fn equal_passwords_get_different_salts() {
        assert_ne!(
            hash("same password").unwrap(),
            hash("same password").unwrap()
        );
    }
}
