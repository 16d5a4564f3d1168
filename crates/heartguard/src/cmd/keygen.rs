//! `heartguard keygen`: a new Ed25519 key pair for access tokens — the private key (PKCS#8 PEM, mode
//! 600) stays with the auth component; the public key (SPKI PEM) goes to every other component —
//! and a VAPID key pair for Web Push (`vapid.env`, mode 600, for the notification component).

use std::path::Path;

use super::Outcome;

/// Writes `jwt-private.pem` and `jwt-public.pem` into `out_dir`.
pub fn run(out_dir: &Path, force: bool) -> Outcome {
    match write_pair(out_dir, force) {
        Ok(()) => {
            println!(
                "wrote {} (keep it secret: JWT_PRIVATE_KEY_FILE of the auth component)",
                out_dir.join("jwt-private.pem").display()
            );
            println!(
                "wrote {} (JWT_PUBLIC_KEY_FILE of every other component)",
                out_dir.join("jwt-public.pem").display()
            );
            println!(
                "wrote {} (VAPID_PRIVATE_KEY and VAPID_PUBLIC_KEY of the notification component; add VAPID_SUBJECT)",
                out_dir.join("vapid.env").display()
            );
            Outcome::Ok
        }
        Err(e) => Outcome::Failed(e),
    }
}

fn write_pair(out_dir: &Path, force: bool) -> Result<(), String> {
    let private = out_dir.join("jwt-private.pem");
    let public = out_dir.join("jwt-public.pem");
    let vapid = out_dir.join("vapid.env");
    for p in [&private, &public, &vapid] {
        if p.exists() && !force {
            return Err(format!(
                "{} exists; pass --force to replace it",
                p.display()
            ));
        }
    }
    std::fs::create_dir_all(out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let (private_pem, public_pem) = hg_platform::auth::generate_keypair()?;
    crate::cmd::up::write_private_file(&private, private_pem.as_bytes())?;
    std::fs::write(&public, public_pem.as_bytes())
        .map_err(|e| format!("{}: {e}", public.display()))?;
    let (vapid_private, vapid_public) = hg_services::notification::new_vapid_keys();
    crate::cmd::up::write_private_file(
        &vapid,
        format!("VAPID_PRIVATE_KEY={vapid_private}\nVAPID_PUBLIC_KEY={vapid_public}\n").as_bytes(),
    )?;
    Ok(())
}
