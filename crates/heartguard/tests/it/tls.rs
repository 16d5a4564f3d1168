//! Transport security for real: a throw-away PostgreSQL cluster with `ssl=on` and a TLS-only Redis
//! with a password, each with certificates made by the test.

use hg_platform::cache::{Cache, RedisCache, redis_connect};
use hg_platform::config::{DatabaseConfig, EnvSource, RuntimeEnv, Settings};
use hg_platform::db;
use hg_test_support::tls::{TlsPostgres, TlsRedis};

fn database(url: &str) -> DatabaseConfig {
    DatabaseConfig::parse(url, RuntimeEnv::Production, 2).expect("valid URL")
}

#[tokio::test]
async fn postgres_tls_modes_encrypt_verify_and_fail_clearly_with_the_wrong_ca() {
    hg_platform::tls::install_crypto_provider();
    let pg = tokio::task::spawn_blocking(TlsPostgres::start)
        .await
        .unwrap();

    // require: encrypted, certificate not checked.
    let pool = db::connect(
        &database(&pg.url("127.0.0.1", "sslmode=require")),
        "tls-test",
    )
    .await
    .expect("sslmode=require connects");
    let mut conn = pool.acquire().await.unwrap();
    assert!(
        db::session_encrypted(&mut conn).await.unwrap(),
        "pg_stat_ssl says not encrypted"
    );
    drop(conn);
    pool.close().await;

    // verify-full with the right CA and a name in the certificate.
    let url = pg.url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", pg.certs.ca.display()),
    );
    let pool = db::connect(&database(&url), "tls-test")
        .await
        .expect("verify-full with the right CA connects");
    let mut conn = pool.acquire().await.unwrap();
    assert!(db::session_encrypted(&mut conn).await.unwrap());
    drop(conn);
    pool.close().await;

    // verify-full with a CA that did not sign the server: refused, with a reason an operator can use.
    let url = pg.url(
        "localhost",
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            pg.certs.wrong_ca.display()
        ),
    );
    let err = match db::connect(&database(&url), "tls-test").await {
        Ok(_) => panic!("verify-full with the wrong CA connected"),
        Err(e) => e,
    };
    assert!(err.contains("TLS handshake failed"), "{err}");
    assert!(err.contains("not signed by the CA in sslrootcert"), "{err}");

    // disable: the check sees clear text, so it can fail.
    let cfg = DatabaseConfig::parse(
        &pg.url("127.0.0.1", "sslmode=disable"),
        RuntimeEnv::Development,
        2,
    )
    .unwrap();
    let pool = db::connect(&cfg, "tls-test").await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    assert!(!db::session_encrypted(&mut conn).await.unwrap());
}

fn redis_config(pairs: &[(&str, &str)]) -> hg_platform::config::RedisConfig {
    Settings::from_env(&EnvSource::from_pairs(pairs.iter().copied()))
        .expect("valid settings")
        .redis
        .expect("REDIS_URL set")
}

#[tokio::test]
async fn redis_over_tls_with_a_ca_file_and_password_works_and_refuses_what_it_should() {
    hg_platform::tls::install_crypto_provider();
    let server = tokio::task::spawn_blocking(TlsRedis::start).await.unwrap();
    let ca = server.certs.ca.display().to_string();
    let url = server.url();

    let cfg = redis_config(&[
        ("REDIS_URL", &url),
        ("REDIS_CA_CERT", &ca),
        ("REDIS_KEY_PREFIX", "tls-test:"),
    ]);
    assert!(cfg.tls);
    redis_connect(&cfg)
        .await
        .expect("PING over TLS with the right CA and password");
    let cache = RedisCache::new(cfg);
    cache.set("k", b"v", None).await.unwrap();
    assert_eq!(cache.get("k").await.unwrap(), Some(b"v".to_vec()));

    let wrong_ca = server.certs.wrong_ca.display().to_string();
    let err = redis_connect(&redis_config(&[
        ("REDIS_URL", &url),
        ("REDIS_CA_CERT", &wrong_ca),
    ]))
    .await
    .expect_err("a CA that did not sign the server must be refused");
    assert!(err.contains("localhost"), "{err}");

    let wrong_password = url.replace(&server.password, "not-the-password");
    let err = redis_connect(&redis_config(&[
        ("REDIS_URL", &wrong_password),
        ("REDIS_CA_CERT", &ca),
    ]))
    .await
    .expect_err("a wrong password must be refused");
    assert!(
        err.to_lowercase().contains("auth") || err.contains("WRONGPASS"),
        "{err}"
    );

    let plain = format!("redis://:{}@localhost:{}/0", server.password, server.port);
    assert!(
        redis_connect(&redis_config(&[("REDIS_URL", &plain)]))
            .await
            .is_err(),
        "plain text to the TLS port must fail"
    );

    // Explicitly insecure: connects without checking, as documented.
    redis_connect(&redis_config(&[
        ("REDIS_URL", &url),
        ("REDIS_TLS_INSECURE", "true"),
    ]))
    .await
    .expect("REDIS_TLS_INSECURE=true skips the check");
}
