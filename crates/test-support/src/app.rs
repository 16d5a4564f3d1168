//! `TestApp`: components spawned on port 0 against a fresh database, with Redis and RabbitMQ namespaced
//! for the test when asked for (in-process stand-ins otherwise), and an HTTP client.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use hg_platform::{Component, EnvSource, Platform, Settings};
use hg_services::runtime::Running;
use tokio_util::sync::CancellationToken;

use crate::db::TestDb;
use crate::services::{TestBroker, TestRedis, amqp_url, redis_url};

/// The internal API key configured in test apps (long enough for the startup check).
pub const TEST_API_KEY: &str = "test-internal-api-key-0123456789abcdef";

/// The TOTP encryption key configured in test apps.
pub const TEST_TOTP_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// A token key pair shared by every test of this process (paths of the private and public PEM files).
pub fn test_token_keys() -> (String, String) {
    static KEYS: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("hg-test-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("key directory");
        let (private, public) = hg_platform::auth::generate_keypair().expect("key pair");
        let (pk, pb) = (dir.join("jwt-private.pem"), dir.join("jwt-public.pem"));
        std::fs::write(&pk, private).expect("write key");
        std::fs::write(&pb, public).expect("write key");
        (pk.display().to_string(), pb.display().to_string())
    })
    .clone()
}

/// Running components and everything they use; stopped and cleaned up on drop.
pub struct TestApp {
    /// The platform handles the components use.
    pub platform: Platform,
    /// Where each component listens.
    pub addrs: BTreeMap<Component, SocketAddr>,
    /// Where the admin component serves `/metrics`, when it runs.
    pub admin_metrics: Option<SocketAddr>,
    /// An HTTP client.
    pub client: reqwest::Client,
    running: Option<Running>,
    /// Redis namespace, when the app uses the real Redis.
    pub redis: Option<TestRedis>,
    /// RabbitMQ exchange, when the app uses the real RabbitMQ.
    pub broker: Option<TestBroker>,
    /// The directory account e-mails are written to (`MAIL_SINK_DIR`; the data directory, with local
    /// photos, is its `data` folder), removed on drop; they are
    /// sent when the app runs the notification component.
    pub mailbox: std::path::PathBuf,
    /// The test's own database (dropped last).
    pub db: TestDb,
}

/// Chooses components, backing services and extra variables.
#[derive(Default)]
pub struct TestAppBuilder {
    components: Vec<Component>,
    redis: bool,
    rabbitmq: bool,
    env: Vec<(String, String)>,
}

impl TestAppBuilder {
    /// Runs `c` too.
    pub fn with(mut self, c: Component) -> Self {
        self.components.push(c);
        self
    }

    /// Uses the machine's Redis under a per-test key prefix.
    pub fn with_redis(mut self) -> Self {
        self.redis = true;
        self
    }

    /// Uses the machine's RabbitMQ with a per-test exchange.
    pub fn with_rabbitmq(mut self) -> Self {
        self.rabbitmq = true;
        self
    }

    /// Sets a configuration variable.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Creates the database and starts the components.
    pub async fn spawn(self) -> TestApp {
        hg_platform::tls::install_crypto_provider();
        let db = TestDb::new().await;
        let redis = self.redis.then(TestRedis::new);
        let broker = self.rabbitmq.then(TestBroker::new);
        let (private_key, public_key) = test_token_keys();
        let mailbox =
            std::env::temp_dir().join(format!("hg-test-mail-{}", uuid::Uuid::new_v4().simple()));
        // Photos and anything else a component keeps in its data directory, removed with the mailbox.
        let data_dir = mailbox.join("data");
        let mut src = EnvSource::from_pairs([
            ("HEARTGUARD_DATA_DIR", data_dir.display().to_string()),
            ("DATABASE_URL", db.url.clone()),
            ("JWT_PRIVATE_KEY_FILE", private_key),
            ("JWT_PUBLIC_KEY_FILE", public_key),
            ("TOTP_ENCRYPTION_KEY", TEST_TOTP_KEY.to_owned()),
            ("INTERNAL_API_KEY", TEST_API_KEY.to_owned()),
            ("MICROSERVICES_API_KEY", TEST_API_KEY.to_owned()),
            ("LOG_LEVEL", "warn".to_owned()),
            ("ADMIN_METRICS_ADDR", "127.0.0.1:0".to_owned()),
            ("MAIL_SINK_DIR", mailbox.display().to_string()),
        ]);
        for c in Component::ALL {
            src.set(c.port_var(), "0");
        }
        if let Some(r) = &redis {
            src.set("REDIS_URL", redis_url());
            src.set("REDIS_KEY_PREFIX", r.prefix.clone());
        }
        if let Some(b) = &broker {
            src.set("AMQP_URL", amqp_url());
            src.set("AMQP_EXCHANGE", b.exchange.clone());
        }
        for (k, v) in &self.env {
            src.set(k, v.clone());
        }
        let settings = Settings::from_env(&src).expect("test configuration is valid");
        let platform =
            Platform::new(settings, "test", CancellationToken::new()).expect("the platform starts");
        let running = hg_services::runtime::start(&platform, &self.components)
            .await
            .expect("components start");
        TestApp {
            addrs: running.addrs.clone(),
            admin_metrics: running.admin_metrics,
            platform,
            client: reqwest::Client::new(),
            running: Some(running),
            redis,
            broker,
            mailbox,
            db,
        }
    }
}

impl TestApp {
    /// A builder with no components yet.
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    /// `http://<addr of c><path>`.
    pub fn url(&self, c: Component, path: &str) -> String {
        let addr = self
            .addrs
            .get(&c)
            .unwrap_or_else(|| panic!("{c} is not running in this test app"));
        format!("http://{addr}{path}")
    }

    /// An access token for staff user `user` with their current roles and memberships, minted directly
    /// (no login round trip): the principal builder of the tests.
    pub async fn token_for(&self, user: uuid::Uuid) -> String {
        let mut conn = self.db.pool.acquire().await.expect("connection");
        let roles = hg_domain::identity::accounts::global_roles(&mut conn, user)
            .await
            .expect("roles");
        let orgs = hg_domain::identity::accounts::memberships(&mut conn, user)
            .await
            .expect("memberships")
            .into_iter()
            .map(|m| (m.id, m.role_code))
            .collect();
        let keys = self.platform.tokens.as_ref().expect("token keys");
        keys.issue(hg_platform::auth::NewToken {
            sub: user,
            typ: hg_platform::auth::PrincipalKind::User,
            roles,
            orgs,
            fid: None,
            amr: vec!["pwd".into()],
        })
        .expect("token")
        .0
    }

    /// Signs in through the auth component and returns the login answer's `data`.
    pub async fn login(&self, email: &str, password: &str) -> serde_json::Value {
        let resp = self
            .client
            .post(self.url(Component::Auth, "/auth/login"))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .expect("login request");
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.expect("login answer");
        assert_eq!(status, 200, "login of {email} failed: {body}");
        body["data"].clone()
    }

    /// The e-mails sent so far, oldest first, each as its header and its decoded text body (see
    /// [`readable`]).
    pub fn mails(&self) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(&self.mailbox) else {
            return Vec::new();
        };
        let mut files: Vec<_> = dir
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        // File names are UUIDv7s: their order is the order of sending.
        files.sort();
        files
            .into_iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .map(|m| readable(&m))
            .collect()
    }

    /// Waits (up to 10 s) for the `n`-th e-mail (counting from 1) to `to`, and returns it.
    pub async fn nth_mail_to(&self, to: &str, n: usize) -> String {
        let header = format!("to: {}\r\n", to.to_lowercase());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let found: Vec<String> = self
                .mails()
                .into_iter()
                .filter(|m| m.to_lowercase().contains(&header))
                .collect();
            if found.len() >= n {
                return found[n - 1].clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no e-mail #{n} to {to} within 10 s (is the notification component running?); mailbox: {:?}",
                self.mails()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Waits for the first e-mail to `to`.
    pub async fn mail_to(&self, to: &str) -> String {
        self.nth_mail_to(to, 1).await
    }

    /// Stops the components and waits for in-flight requests to finish.
    pub async fn stop(mut self) {
        self.platform.shutdown.cancel();
        if let Some(r) = self.running.take() {
            r.wait().await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.platform.shutdown.cancel();
        let _ = std::fs::remove_dir_all(&self.mailbox);
    }
}

/// An e-mail as a reader sees it: its header as sent, then its text body decoded from whatever
/// transfer encoding it travelled in (quoted-printable, base64). The header is rewritten to say so
/// (plain 8-bit text), so reading a readable message again changes nothing.
pub fn readable(raw: &str) -> String {
    let head = raw.split("\r\n\r\n").next().unwrap_or("");
    let Some(text) = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
    else {
        return raw.to_owned();
    };
    let mut lines: Vec<&str> = Vec::new();
    let mut skipping = false;
    for line in head.split("\r\n") {
        let lower = line.to_ascii_lowercase();
        let continuation = line.starts_with(' ') || line.starts_with('\t');
        if continuation && skipping {
            continue;
        }
        skipping =
            lower.starts_with("content-type:") || lower.starts_with("content-transfer-encoding:");
        if !skipping {
            lines.push(line);
        }
    }
    format!(
        "{}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}",
        lines.join("\r\n")
    )
}

/// The one-time token of the link in an e-mail (`…?token=<token>`), raw or [`readable`].
pub fn token_in(mail: &str) -> String {
    let mail = &readable(mail);
    let start = mail
        .find("token=")
        .unwrap_or_else(|| panic!("no link with a token in this e-mail:\n{mail}"))
        + "token=".len();
    mail[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reading_a_readable_e_mail_again_changes_nothing() {
        // "=3D" is a quoted-printable "=": decoding twice would eat the token's first two digits.
        let raw = "From: a@example.org\r\nTo: b@example.org\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nhttp://x/reset?token=3D32UvB7jf\r\n";
        let once = super::readable(raw);
        assert!(once.contains("token=32UvB7jf"), "{once}");
        assert_eq!(super::readable(&once), once);
        assert_eq!(super::token_in(raw), "32UvB7jf");
        assert_eq!(super::token_in(&once), "32UvB7jf");
    }
}
