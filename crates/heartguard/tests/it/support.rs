//! Helpers for running the compiled binary in tests.

use std::process::{Command, Output};

/// The `heartguard` binary cargo built for these tests.
pub fn heartguard() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_heartguard"));
    // Only what a test sets explicitly may configure the binary.
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LOG_LEVEL", "warn");
    cmd
}

/// Runs the binary with `args` and `env` and returns its output.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = heartguard();
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the heartguard binary runs")
}

/// As [`run`], without blocking the test's runtime (for checks against servers the test itself runs).
pub async fn run_async(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = tokio::process::Command::from(heartguard());
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().await.expect("the heartguard binary runs")
}

/// Standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Standard output as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An HTTP client (with the process's TLS provider installed first, as the binary does).
pub fn client() -> reqwest::Client {
    hg_platform::tls::install_crypto_provider();
    reqwest::Client::new()
}

/// Polls `url` until it answers 200 or `secs` pass.
pub async fn wait_for_200(client: &reqwest::Client, url: &str, secs: u64) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if let Ok(r) = client.get(url).send().await
            && r.status() == 200
        {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

/// Stops a child with SIGTERM and returns its exit status and everything it wrote to standard error
/// (the child must have been spawned with `stderr(Stdio::piped())`).
pub fn terminate(mut child: std::process::Child) -> (std::process::ExitStatus, String) {
    use std::io::Read;
    sigterm(child.id());
    let status = child.wait().expect("the child exits");
    let mut logs = String::new();
    if let Some(mut err) = child.stderr.take() {
        err.read_to_string(&mut logs).expect("stderr is text");
    }
    (status, logs)
}

/// Sends SIGTERM to a child process.
pub fn sigterm(pid: u32) {
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
}

/// A JSON request to a component of a test app: (status, body — `Null` when empty).
pub async fn call(
    app: &hg_test_support::TestApp,
    method: reqwest::Method,
    c: hg_platform::Component,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut req = app.client.request(method, app.url(c, path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// The `error.id` of an envelope.
pub fn error_id(body: &serde_json::Value) -> &str {
    body["error"]["id"].as_str().unwrap_or("")
}

/// Whether `body` names `field` in `error.details.fields`.
pub fn names_field(body: &serde_json::Value, field: &str) -> bool {
    body["error"]["details"]["fields"][field].is_string()
}

/// The `field` of every item of a list answer's `data`, as text.
pub fn pluck<'a>(list: &'a serde_json::Value, field: &str) -> Vec<&'a str> {
    list["data"]
        .as_array()
        .expect("a list answer")
        .iter()
        .map(|item| item[field].as_str().expect("a text field"))
        .collect()
}

/// Held by the tests that run `heartguard up`: each picks a dozen free ports and starts a cluster, so
/// two at once could pick the same port between choosing and binding it.
pub async fn up_lock() -> tokio::sync::MutexGuard<'static, ()> {
    static UP: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    UP.lock().await
}
