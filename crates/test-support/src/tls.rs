//! Throw-away TLS servers for the transport-security tests: a PostgreSQL cluster with `ssl=on` and a
//! `redis-server` listening only on a TLS port with a password, each with certificates from a fresh
//! development CA, on free ports, removed on drop.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hg_platform::certs::DevCa;
use hg_platform::localpg::PgBinaries;

/// A free TCP port on loopback (released before use; fine for tests). A port is handed out once per
/// test process: the kernel may offer a port again as soon as it is released, and two tests running
/// at once must not both be told to listen on it.
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
}

pub(crate) fn scratch_dir(kind: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hg-{kind}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

fn write_key(path: &Path, pem: &str) {
    std::fs::write(path, pem).expect("write key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
    }
}

/// Certificates for a TLS test: the CA that signed the server, and an unrelated CA.
pub struct TestCerts {
    /// Directory holding everything.
    pub dir: PathBuf,
    /// The CA that signed the server certificate.
    pub ca: PathBuf,
    /// A CA that did not: connecting with it must fail.
    pub wrong_ca: PathBuf,
    /// Server certificate (valid for localhost and 127.0.0.1).
    pub server_cert: PathBuf,
    /// Server key (mode 600).
    pub server_key: PathBuf,
}

impl TestCerts {
    pub fn generate(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("certificate directory");
        let ca = DevCa::generate("HeartGuard test CA").expect("CA");
        let other = DevCa::generate("Unrelated test CA").expect("CA");
        let server = ca
            .issue_server(&["localhost", "127.0.0.1"])
            .expect("server certificate");
        let certs = Self {
            dir: dir.to_owned(),
            ca: dir.join("ca.pem"),
            wrong_ca: dir.join("wrong-ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server-key.pem"),
        };
        std::fs::write(&certs.ca, ca.cert_pem()).expect("write CA");
        std::fs::write(&certs.wrong_ca, other.cert_pem()).expect("write CA");
        std::fs::write(&certs.server_cert, &server.cert).expect("write certificate");
        write_key(&certs.server_key, &server.key);
        certs
    }
}

/// A PostgreSQL cluster with `ssl=on` and trust authentication on 127.0.0.1.
pub struct TlsPostgres {
    /// Its port.
    pub port: u16,
    /// Its certificates.
    pub certs: TestCerts,
    bin: PgBinaries,
    data: PathBuf,
    root: PathBuf,
}

impl TlsPostgres {
    /// Creates and starts the cluster (a few seconds).
    pub fn start() -> Self {
        let bin = PgBinaries::find().expect("PostgreSQL server binaries");
        let root = scratch_dir("pgtls");
        let certs = TestCerts::generate(&root.join("certs"));
        let data = root.join("data");
        // Traversable by the postgres user when we are root.
        Command::new("chmod").arg("755").arg(&root).status().ok();
        bin.initdb(&data, &["-U", "postgres", "--auth=trust", "--locale=C"])
            .expect("initdb");
        bin.hand_over(&certs.dir).expect("certificates to postgres");
        let port = free_port();
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            data.display(),
            certs.server_cert.display(),
            certs.server_key.display()
        );
        bin.start(&data, &root.join("postgres.log"), &options)
            .expect("start the TLS cluster");
        Self {
            port,
            certs,
            bin,
            data,
            root,
        }
    }

    /// A URL to its `postgres` database with extra query parameters (`sslmode=require`, …).
    pub fn url(&self, host: &str, params: &str) -> String {
        format!(
            "postgresql://postgres@{host}:{}/postgres?{params}",
            self.port
        )
    }
}

impl Drop for TlsPostgres {
    fn drop(&mut self) {
        let _ = self.bin.stop(&self.data, "immediate");
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A `redis-server` reachable only over TLS (no plain port), with a password.
pub struct TlsRedis {
    /// The TLS port.
    pub port: u16,
    /// The `requirepass` password.
    pub password: String,
    /// Its certificates.
    pub certs: TestCerts,
    child: Child,
    root: PathBuf,
}

impl TlsRedis {
    /// Starts the server and waits until it accepts connections.
    pub fn start() -> Self {
        let root = scratch_dir("redistls");
        let certs = TestCerts::generate(&root.join("certs"));
        let port = free_port();
        let password = uuid::Uuid::new_v4().simple().to_string();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string()])
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--tls-cert-file")
            .arg(&certs.server_cert)
            .arg("--tls-key-file")
            .arg(&certs.server_key)
            .arg("--tls-ca-cert-file")
            .arg(&certs.ca)
            .args(["--tls-auth-clients", "no", "--requirepass", &password])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            port,
            password,
            certs,
            child,
            root,
        }
    }

    /// `rediss://:<password>@localhost:<port>/0`.
    pub fn url(&self) -> String {
        format!("rediss://:{}@localhost:{}/0", self.password, self.port)
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
