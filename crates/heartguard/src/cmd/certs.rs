//! `heartguard certs`: a development CA and server certificates for PostgreSQL, Redis, RabbitMQ, the
//! gateway and nginx, keys with mode 600. For trying TLS end to end; production uses real ones.

use std::path::Path;

use hg_platform::certs::DevCa;

use super::Outcome;
use super::up::write_private_file;

/// Services that get a server certificate.
const SERVICES: [&str; 5] = ["postgresql", "redis", "rabbitmq", "gateway", "nginx"];

/// Writes `ca.pem`, `ca-key.pem` and `<service>.pem` / `<service>-key.pem` for each service into
/// `out_dir`, valid for `hosts`.
pub fn run(out_dir: &Path, hosts: &[String], force: bool) -> Outcome {
    match write_all(out_dir, hosts, force) {
        Ok(files) => {
            for f in files {
                println!("wrote {f}");
            }
            println!(
                "clients trust {}: sslrootcert=…, REDIS_CA_CERT, AMQP_CA_CERT",
                out_dir.join("ca.pem").display()
            );
            Outcome::Ok
        }
        Err(e) => Outcome::Failed(e),
    }
}

fn write_all(out_dir: &Path, hosts: &[String], force: bool) -> Result<Vec<String>, String> {
    let ca_path = out_dir.join("ca.pem");
    if ca_path.exists() && !force {
        return Err(format!(
            "{} exists; pass --force to replace the certificates",
            ca_path.display()
        ));
    }
    std::fs::create_dir_all(out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let ca = DevCa::generate("HeartGuard development CA")?;
    let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
    let mut written = Vec::new();
    let mut write = |name: String, contents: &str, private: bool| -> Result<(), String> {
        let path = out_dir.join(&name);
        if private {
            write_private_file(&path, contents.as_bytes())?;
        } else {
            std::fs::write(&path, contents).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        written.push(path.display().to_string());
        Ok(())
    };
    write("ca.pem".into(), ca.cert_pem(), false)?;
    write("ca-key.pem".into(), ca.key_pem(), true)?;
    for service in SERVICES {
        let pem = ca.issue_server(&hosts)?;
        write(format!("{service}.pem"), &pem.cert, false)?;
        write(format!("{service}-key.pem"), &pem.key, true)?;
    }
    Ok(written)
}
