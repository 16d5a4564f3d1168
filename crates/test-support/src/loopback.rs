//! Real servers on loopback for the notification channels' tests — no mock of any protocol:
//!
//! * [`SmtpServer`] — Python's aiosmtpd (from PyPI, in a virtualenv under `target/pytools` made on
//!   first use) with STARTTLS or implicit TLS and AUTH, recording every message;
//! * [`S3Server`] — moto's server mode (PyPI, same virtualenv), an S3-compatible object store;
//! * [`HttpSink`] — an HTTP server recording every request (an SMS provider's webhook, a Web Push
//!   service), answering a programmed status for the first calls.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::tls::{TestCerts, free_port, scratch_dir};

/// What the test servers need from PyPI.
const PY_PACKAGES: &[&str] = &["aiosmtpd==1.4.6", "moto[server]==5.1.4"];

/// The Python of a virtualenv holding aiosmtpd and moto, made once per checkout
/// (`target/pytools/venv`).
pub fn pytools() -> PathBuf {
    static MADE: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut made = MADE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = made.as_ref() {
        return p.clone();
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/pytools");
    let python = root.join("venv/bin/python");
    let ready = |py: &PathBuf| {
        Command::new(py)
            .args(["-c", "import aiosmtpd, moto.server"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !python.exists() {
        // Made beside and moved into place, so concurrent test processes never see half a venv.
        let tmp = root.join(format!("venv-{}", uuid::Uuid::new_v4().simple()));
        let made = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&tmp)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            made,
            "python3 -m venv failed (scripts/test installs python3-venv)"
        );
        if std::fs::rename(&tmp, root.join("venv")).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
    }
    if !ready(&python) {
        // `python -m pip`: the venv's scripts name the directory it was made in.
        let installed = Command::new(&python)
            .args(["-m", "pip", "install", "-q"])
            .args(PY_PACKAGES)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            installed && ready(&python),
            "could not install {PY_PACKAGES:?} from PyPI into {} (network to PyPI is needed)",
            python.display()
        );
    }
    *made = Some(python.clone());
    python
}

/// How an SMTP server speaks TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded by STARTTLS (required before anything else).
    StartTls,
    /// TLS from the first byte (`smtps://`).
    Implicit,
}

/// One message the server accepted.
#[derive(Clone, Debug)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// The whole RFC 5322 message.
    pub data: String,
    /// Whether it came over TLS.
    pub tls: bool,
    pub authenticated: bool,
}

/// An aiosmtpd server on loopback.
pub struct SmtpServer {
    pub port: u16,
    pub user: String,
    pub password: String,
    pub certs: TestCerts,
    pub mode: SmtpTls,
    out: PathBuf,
    child: Child,
    root: PathBuf,
}

impl SmtpServer {
    /// Starts the server and waits until it accepts connections.
    pub fn start(mode: SmtpTls) -> Self {
        let python = pytools();
        let root = scratch_dir("smtp");
        let certs = TestCerts::generate(&root.join("certs"));
        let script = root.join("smtp_server.py");
        std::fs::write(&script, include_str!("smtp_server.py")).expect("write the server script");
        let out = root.join("received.jsonl");
        let port = free_port();
        let (user, password) = (
            "notifier".to_owned(),
            uuid::Uuid::new_v4().simple().to_string(),
        );
        let mut child = Command::new(python)
            .arg(&script)
            .arg(match mode {
                SmtpTls::StartTls => "starttls",
                SmtpTls::Implicit => "implicit",
            })
            .arg(port.to_string())
            .arg(&certs.server_cert)
            .arg(&certs.server_key)
            .arg(&out)
            .args([&user, &password])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the SMTP test server runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the SMTP test server says it is ready");
        assert_eq!(line.trim(), "ready", "the SMTP test server did not start");
        Self {
            port,
            user,
            password,
            certs,
            mode,
            out,
            child,
            root,
        }
    }

    /// `SMTP_URL` for this server (credentials included).
    pub fn url(&self) -> String {
        let scheme = match self.mode {
            SmtpTls::StartTls => "smtp",
            SmtpTls::Implicit => "smtps",
        };
        format!(
            "{scheme}://{}:{}@localhost:{}",
            self.user, self.password, self.port
        )
    }

    /// The messages received so far.
    pub fn received(&self) -> Vec<Received> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| Received {
                mail_from: v["mail_from"].as_str().unwrap_or("").to_owned(),
                rcpt_tos: v["rcpt_tos"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect(),
                data: v["data"].as_str().unwrap_or("").to_owned(),
                tls: v["tls"] == true,
                authenticated: v["authenticated"] == true,
            })
            .collect()
    }

    /// Waits up to `secs` for `n` messages.
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Received> {
        for _ in 0..secs * 20 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the SMTP server received {} of {n} messages",
            self.received().len()
        );
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// moto's S3-compatible server on loopback, with one bucket.
pub struct S3Server {
    pub port: u16,
    pub bucket: String,
    child: Child,
}

impl S3Server {
    /// Starts the server, waits for it and creates the bucket.
    pub async fn start() -> Self {
        let port = free_port();
        let child = Command::new(pytools())
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto's server runs");
        let bucket = format!(
            "hg-media-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let server = Self {
            port,
            bucket,
            child,
        };
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(r) = client
                .put(server.url(&format!("/{}", server.bucket)))
                .send()
                .await
                && r.status().is_success()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto's server did not start on {port}");
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The keys in the bucket (S3 ListObjectsV2).
    pub async fn keys(&self) -> Vec<String> {
        let xml = reqwest::get(self.url(&format!("/{}?list-type=2", self.bucket)))
            .await
            .expect("list")
            .text()
            .await
            .expect("list body");
        xml.split("<Key>")
            .skip(1)
            .filter_map(|k| k.split("</Key>").next().map(str::to_owned))
            .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request an [`HttpSink`] got.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: std::time::Instant,
}

impl Recorded {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP server on loopback that records every request and answers the programmed statuses in
/// turn (then `then`).
pub struct HttpSink {
    pub addr: std::net::SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpSink {
    /// Answers `first` (one status per request, in order), then `then` for every later request.
    pub async fn start(first: Vec<u16>, then: u16) -> Self {
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let script = Arc::new(Mutex::new(first.into_iter()));
        let seen = requests.clone();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let (seen, script) = (seen.clone(), script.clone());
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20)
                    .await
                    .unwrap_or_default();
                seen.lock().unwrap().push(Recorded {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_owned(),
                    headers: parts
                        .headers
                        .iter()
                        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned()))
                        .collect(),
                    body: body.to_vec(),
                    at: std::time::Instant::now(),
                });
                let status = script.lock().unwrap().next().unwrap_or(then);
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    format!("status {status}"),
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            requests,
            task,
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits up to `secs` for `n` requests.
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Recorded> {
        for _ in 0..secs * 20 {
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the HTTP sink received {} of {n} requests",
            self.requests().len()
        );
    }
}

impl Drop for HttpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}
