//! The binary as operators run it: `heartguard up` brings every component up from nothing (its own
//! PostgreSQL cluster, migrations, demo data) and stops cleanly on SIGTERM; `heartguard serve` logs
//! structured lines without bodies or secrets.

use std::io::Read;
use std::process::Stdio;

use hg_platform::Component;
use hg_test_support::services::{TestBroker, TestRedis, amqp_url, redis_url};
use hg_test_support::tls::free_port;
use hg_test_support::{TEST_API_KEY, TestDb, test_token_keys};

use crate::support::{heartguard, sigterm, terminate, wait_for_200};

#[tokio::test]
async fn up_provisions_its_own_database_starts_all_thirteen_components_and_stops_on_sigterm() {
    let _one_up_at_a_time = crate::support::up_lock().await;
    let data_dir = std::env::temp_dir().join(format!("hg-up-{}", uuid::Uuid::new_v4().simple()));
    let redis = TestRedis::new();
    let broker = TestBroker::new();
    let mut cmd = heartguard();
    cmd.arg("up")
        .env("HEARTGUARD_DATA_DIR", &data_dir)
        .env("HEARTGUARD_PG_PORT", free_port().to_string())
        .env("REDIS_URL", redis_url())
        .env("REDIS_KEY_PREFIX", &redis.prefix)
        .env("AMQP_URL", amqp_url())
        .env("AMQP_EXCHANGE", &broker.exchange)
        .env("INTERNAL_API_KEY", TEST_API_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut ports = Vec::new();
    for c in Component::ALL {
        let port = free_port();
        cmd.env(c.port_var(), port.to_string());
        ports.push((c, port));
    }
    let metrics_port = free_port();
    cmd.env("ADMIN_METRICS_ADDR", format!("127.0.0.1:{metrics_port}"));
    let mut child = cmd.spawn().expect("heartguard up starts");
    let client = crate::support::client();
    for (c, port) in &ports {
        let url = format!("http://127.0.0.1:{port}/health");
        // Provisioning a cluster, migrating and seeding take a while on a busy machine; a process
        // that gave up is reported with what it printed rather than waited for.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
        while !wait_for_200(&client, &url, 1).await {
            let exited = child.try_wait().expect("the child's status");
            if exited.is_some() || std::time::Instant::now() > deadline {
                let output = output_of(child);
                let pg_log = std::fs::read_to_string(data_dir.join("postgres.log"));
                let _ = std::fs::remove_dir_all(&data_dir);
                panic!(
                    "{c} never answered {url} (exit: {exited:?})\n{}\n--- postgres.log ---\n{}",
                    output,
                    pg_log.unwrap_or_default()
                );
            }
        }
        let body: serde_json::Value = client.get(&url).send().await.unwrap().json().await.unwrap();
        assert_eq!(body["service"], c.name());
    }
    for (c, port) in &ports {
        let ready = client
            .get(format!("http://127.0.0.1:{port}/ready"))
            .header("x-internal-api-key", TEST_API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), 200, "{c} not ready");
    }
    // The admin panel's port is public: its metrics are on their own, loopback address.
    let admin_port = ports
        .iter()
        .find(|(c, _)| *c == Component::Admin)
        .unwrap()
        .1;
    let public = client
        .get(format!("http://127.0.0.1:{admin_port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
    let private = client
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(private.status(), 200);
    assert!(
        private
            .text()
            .await
            .unwrap()
            .contains("http_requests_total")
    );

    sigterm(child.id());
    let status = child.wait().expect("heartguard up exits");
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(status.success(), "exit {status:?}; output:\n{out}");
    assert!(out.contains("13 components"), "{out}");
    assert!(
        out.contains("admin@heartguard.com") && out.contains("dra.lopez@clin001.demo"),
        "{out}"
    );
    assert!(out.contains("HeartGuard stopped."), "{out}");

    // The private cluster was stopped with the process, and its secrets are owner-only.
    let pid_file = data_dir.join("postgres").join("postmaster.pid");
    assert!(
        !pid_file.exists(),
        "the private PostgreSQL cluster is still running"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(data_dir.join("dev-secrets.env"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    std::fs::remove_dir_all(&data_dir).unwrap();
}

/// Everything a child wrote, after stopping it if it still runs.
fn output_of(mut child: std::process::Child) -> String {
    if child.try_wait().ok().flatten().is_none() {
        sigterm(child.id());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while child.try_wait().ok().flatten().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut out = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    out.push_str("\n--- stderr ---\n");
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut out);
    }
    out
}

#[tokio::test]
async fn serve_logs_json_lines_without_bodies_or_secrets_and_drains_on_sigterm() {
    let db = TestDb::new().await;
    let port = free_port();
    let (private_key, public_key) = test_token_keys();
    let child = heartguard()
        .args(["serve", "auth"])
        .env("DATABASE_URL", &db.url)
        .env("JWT_PRIVATE_KEY_FILE", private_key)
        .env("JWT_PUBLIC_KEY_FILE", public_key)
        .env("AUTH_PORT", port.to_string())
        .env("LOG_FORMAT", "json")
        .env("LOG_LEVEL", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("heartguard serve starts");
    let client = crate::support::client();
    let base = format!("http://127.0.0.1:{port}");
    assert!(wait_for_200(&client, &format!("{base}/health"), 60).await);
    let resp = client
        .post(format!("{base}/auth/login?token=QUERY-SECRET-MARKER"))
        .header("authorization", "Bearer HEADER-SECRET-MARKER")
        .header("x-request-id", "log-test-request-1")
        .json(&serde_json::json!({"email": "a@b.c", "password": "BODY-SECRET-MARKER"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "an unknown account");

    let (status, logs) = terminate(child);
    assert!(status.success(), "serve did not exit cleanly: {status:?}");
    for line in logs.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
    }
    assert!(
        logs.contains("log-test-request-1"),
        "the request was not logged:\n{logs}"
    );
    assert!(logs.contains("SIGTERM"), "{logs}");
    for secret in [
        "QUERY-SECRET-MARKER",
        "HEADER-SECRET-MARKER",
        "BODY-SECRET-MARKER",
    ] {
        assert!(
            !logs.contains(secret),
            "{secret} leaked into the logs:\n{logs}"
        );
    }
}
