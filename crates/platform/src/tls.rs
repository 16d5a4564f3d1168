//! One process-wide rustls crypto provider. Several crates bring rustls (sqlx, redis, lapin, reqwest);
//! without an installed default provider their first TLS connection panics.

/// Installs the `ring` provider as the process default; later calls are no-ops.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
