//! `heartguard check`: the deployment guide's connectivity verification in one command. One ✓/✗ line
//! per check with its reason; exit code 1 on any ✗.

use std::path::Path;
use std::time::Duration;

use hg_platform::{Component, Settings};
use sqlx::Connection;

use super::{Outcome, load};

/// One check's result.
struct Line {
    ok: bool,
    what: String,
    detail: String,
}

impl Line {
    fn ok(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            ok: true,
            what: what.into(),
            detail: detail.into(),
        }
    }

    fn fail(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            ok: false,
            what: what.into(),
            detail: detail.into(),
        }
    }

    fn print(&self) {
        let mark = if self.ok { "✓" } else { "✗" };
        if self.detail.is_empty() {
            println!("{mark} {}", self.what);
        } else {
            println!("{mark} {} — {}", self.what, self.detail);
        }
    }
}

/// Runs every check and prints the lines.
pub async fn run(env_file: Option<&Path>) -> Outcome {
    let settings = match load(env_file, &[]) {
        Ok(s) => s,
        Err(o) => return o,
    };
    let mut lines = vec![Line::ok("configuration is valid", "")];
    lines.extend(postgres(&settings).await);
    lines.push(redis(&settings).await);
    lines.push(rabbitmq(&settings).await);
    lines.extend(components(&settings).await);
    let failed = lines.iter().filter(|l| !l.ok).count();
    for l in &lines {
        l.print();
    }
    if failed == 0 {
        println!("all {} checks passed", lines.len());
        Outcome::Ok
    } else {
        Outcome::Failed(format!("{failed} of {} checks failed", lines.len()))
    }
}

async fn postgres(settings: &Settings) -> Vec<Line> {
    let Some(cfg) = &settings.database else {
        return vec![Line::fail("PostgreSQL", "DATABASE_URL is not set")];
    };
    let what = format!("PostgreSQL reachable at {}", cfg.host);
    let mut conn = match tokio::time::timeout(
        Duration::from_secs(5),
        sqlx::PgConnection::connect_with(&cfg.options),
    )
    .await
    {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return vec![Line::fail(what, hg_platform::db::describe(&e, &cfg.host))],
        Err(_) => return vec![Line::fail(what, "no answer within 5 s")],
    };
    let mut lines = vec![Line::ok(what, "")];
    match hg_platform::db::session_encrypted(&mut conn).await {
        Ok(true) => lines.push(Line::ok("PostgreSQL session encrypted (pg_stat_ssl)", "")),
        Ok(false) if !settings.env.is_production() && cfg.host.starts_with("127.") => {
            lines.push(Line::ok(
                "PostgreSQL session not encrypted",
                "allowed on loopback in development; production needs sslmode=require",
            ))
        }
        Ok(false) => lines.push(Line::fail(
            "PostgreSQL session encrypted (pg_stat_ssl)",
            "the session is in clear text: set sslmode=require or verify-full",
        )),
        Err(e) => lines.push(Line::fail("PostgreSQL session encrypted", e.to_string())),
    }
    let applied: Result<i64, _> =
        sqlx::query_scalar("select count(*) from heartguard._sqlx_migrations where success")
            .fetch_one(&mut conn)
            .await;
    let expected = hg_platform::db::MIGRATOR.iter().count() as i64;
    lines.push(match applied {
        Ok(n) if n >= expected => Line::ok("database schema is current", format!("{n} migrations")),
        Ok(n) => Line::fail(
            "database schema is current",
            format!("{n} of {expected} migrations applied: run `heartguard migrate`"),
        ),
        Err(_) => Line::fail(
            "database schema is current",
            "not migrated: run `heartguard migrate`",
        ),
    });
    lines
}

async fn redis(settings: &Settings) -> Line {
    match &settings.redis {
        None if settings.env.is_production() => Line::fail("Redis", "REDIS_URL is not set"),
        None => Line::ok(
            "Redis not configured",
            "in-process cache (single-process mode only)",
        ),
        Some(cfg) => {
            let what = format!(
                "Redis PING at {}{}",
                cfg.host,
                if cfg.tls { " over TLS" } else { "" }
            );
            match hg_platform::cache::redis_connect(cfg).await {
                Ok(_) => Line::ok(what, ""),
                Err(e) => Line::fail(what, e),
            }
        }
    }
}

async fn rabbitmq(settings: &Settings) -> Line {
    match &settings.amqp {
        None if settings.env.is_production() => Line::fail("RabbitMQ", "AMQP_URL is not set"),
        None => Line::ok(
            "RabbitMQ not configured",
            "in-process event bus (single-process mode only)",
        ),
        Some(cfg) => {
            let what = format!("RabbitMQ reachable at {}", cfg.host);
            match hg_platform::events::amqp_connect(cfg).await {
                Ok(conn) => {
                    let _ = conn.close(200, "check done".into()).await;
                    Line::ok(what, "")
                }
                Err(e) => Line::fail(what, e),
            }
        }
    }
}

/// The guide's negative and positive test: a proxied `/auth/health` is refused without the key and
/// accepted with it — and a wrong key is named plainly.
async fn gateway_key(settings: &Settings, client: &reqwest::Client, gateway: &str) -> Vec<Line> {
    let url = format!("{gateway}/auth/health");
    let mut lines = Vec::new();
    let without = format!("gateway refuses {url} without X-Internal-API-Key");
    lines.push(match client.get(&url).send().await {
        Ok(r) if r.status() == 401 || r.status() == 403 => Line::ok(without, format!("HTTP {}", r.status())),
        Ok(r) => Line::fail(
            without,
            format!("HTTP {}: the gateway lets requests through without the key (REQUIRE_API_KEY=false?)", r.status()),
        ),
        Err(e) => Line::fail(without, e.to_string()),
    });
    let key = settings
        .edge
        .api_key
        .as_ref()
        .or(settings.gateway.api_keys.first());
    let with = format!("gateway accepts {url} with the key");
    let Some(key) = key else {
        lines.push(Line::fail(
            with,
            "no key configured: set MICROSERVICES_API_KEY",
        ));
        return lines;
    };
    lines.push(
        match client
            .get(&url)
            .header("x-internal-api-key", key.expose())
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => Line::ok(with, ""),
            Ok(r) if r.status() == 403 => Line::fail(
                with,
                "HTTP 403: MICROSERVICES_API_KEY does not match any of the gateway's INTERNAL_API_KEY",
            ),
            Ok(r) => Line::fail(with, format!("HTTP {}", r.status())),
            Err(e) => Line::fail(with, e.to_string()),
        },
    );
    lines
}

async fn components(settings: &Settings) -> Vec<Line> {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
    {
        Ok(c) => c,
        Err(e) => return vec![Line::fail("HTTP client", e.to_string())],
    };
    let mut lines = Vec::new();
    let gateway = settings.edge.gateway_url.as_str().trim_end_matches('/');
    let url = format!("{gateway}/health");
    lines.push(match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => Line::ok(format!("gateway answers {url}"), ""),
        Ok(r) => Line::fail(
            format!("gateway answers {url}"),
            format!("HTTP {}", r.status()),
        ),
        Err(e) => Line::fail(format!("gateway answers {url}"), e.to_string()),
    });
    lines.extend(gateway_key(settings, &client, gateway).await);
    for c in Component::ALL {
        let base = match settings.gateway.upstream(c) {
            Some(up) => format!("http://{up}"),
            None if c == Component::Gateway => gateway.to_owned(),
            None => format!("http://127.0.0.1:{}", settings.http.port(c)),
        };
        let url = format!("{base}/ready");
        let what = format!("{} ready ({url})", c.name());
        let mut req = client.get(&url);
        // The gateway's own /ready is behind the key like everything but /health.
        if let Some(key) = settings
            .edge
            .api_key
            .as_ref()
            .or(settings.gateway.api_keys.first())
        {
            req = req.header("x-internal-api-key", key.expose());
        }
        lines.push(match req.send().await {
            Ok(r) if r.status().is_success() => Line::ok(what, ""),
            Ok(r) => {
                let status = r.status();
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                let msg = body["error"]["message"].as_str().unwrap_or("").to_owned();
                Line::fail(what, format!("HTTP {status} {msg}"))
            }
            Err(e) => Line::fail(what, format!("unreachable: {e}")),
        });
    }
    lines
}
