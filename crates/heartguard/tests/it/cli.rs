//! The command line: help, configuration errors at startup, migrate, seed, keygen, certs.

use std::collections::BTreeMap;

use hg_test_support::TestDb;

use crate::support::{run, stderr, stdout};

#[test]
fn help_explains_every_subcommand() {
    let out = run(&["--help"], &[]);
    assert!(out.status.success());
    let text = stdout(&out);
    for cmd in ["up", "serve", "migrate", "seed", "check", "keygen", "certs"] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(cmd)),
            "`{cmd}` missing from help:\n{text}"
        );
    }
    let serve = stdout(&run(&["serve", "--help"], &[]));
    assert!(
        serve.contains("notification") && serve.contains("AUDIT_PORT=5011"),
        "{serve}"
    );
}

#[test]
fn production_with_a_short_api_key_exits_naming_the_variable() {
    let out = run(
        &["serve", "gateway"],
        &[
            ("HEARTGUARD_ENV", "production"),
            ("INTERNAL_API_KEY", "0123456789"),
            ("DATABASE_URL", "postgresql://app@127.0.0.1:1/hg"),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("INTERNAL_API_KEY"), "{err}");
    assert!(!err.contains("0123456789"), "the key was echoed: {err}");
}

#[test]
fn production_with_plaintext_to_a_remote_database_exits_naming_the_variable() {
    let out = run(
        &["serve", "auth"],
        &[
            ("HEARTGUARD_ENV", "production"),
            (
                "DATABASE_URL",
                "postgresql://app:pw-secret@db.example.org:5432/hg?sslmode=disable",
            ),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("DATABASE_URL") && err.contains("sslmode=disable"),
        "{err}"
    );
    assert!(!err.contains("pw-secret"), "the password was echoed: {err}");
}

#[test]
fn every_configuration_problem_is_reported_on_its_own_line() {
    let out = run(
        &["migrate"],
        &[
            ("AUTH_PORT", "many"),
            ("LOG_FORMAT", "yaml"),
            ("REDIS_URL", "ftp://x"),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 4, "{err}"); // + DATABASE_URL missing
    for var in ["AUTH_PORT", "LOG_FORMAT", "REDIS_URL", "DATABASE_URL"] {
        assert!(err.contains(var), "{var} not named: {err}");
    }
}

#[test]
fn unknown_components_are_refused() {
    let out = run(&["serve", "billing"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown component"));
}

#[test]
fn env_file_is_read_and_exported_variables_win() {
    let dir = std::env::temp_dir().join(format!("hg-envfile-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("machine2.env");
    std::fs::write(&file, "HEARTGUARD_ENV=production\nINTERNAL_API_KEY=short\n").unwrap();
    let out = run(
        &["--env-file", file.to_str().unwrap(), "serve", "gateway"],
        &[("DATABASE_URL", "postgresql://app@127.0.0.1:1/hg")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("INTERNAL_API_KEY"));
    let out = run(
        &["--env-file", file.to_str().unwrap(), "serve", "gateway"],
        &[
            ("DATABASE_URL", "postgresql://app@127.0.0.1:1/hg"),
            ("INTERNAL_API_KEY", "k"),
        ],
    );
    assert!(
        stderr(&out).contains("is 1 characters long"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

fn uuid_like() -> String {
    format!("{}-{}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Every table of spec/02 (sample tables counted once, partitions aside).
const SPEC_TABLES: &[&str] = &[
    "user_statuses",
    "sexes",
    "signal_types",
    "device_types",
    "alert_channels",
    "alert_levels",
    "alert_statuses",
    "alert_types",
    "event_types",
    "platforms",
    "service_statuses",
    "delivery_statuses",
    "risk_levels",
    "team_member_roles",
    "org_roles",
    "caregiver_relationship_types",
    "roles",
    "permissions",
    "role_permission",
    "users",
    "user_role",
    "refresh_tokens",
    "auth_tokens",
    "organizations",
    "user_org_membership",
    "org_invitations",
    "patients",
    "care_teams",
    "care_team_member",
    "patient_care_team",
    "caregiver_patient",
    "patient_locations",
    "devices",
    "signal_streams",
    "vital_samples",
    "waveform_blocks",
    "timeseries_binding",
    "timeseries_binding_tag",
    "models",
    "inferences",
    "ground_truth_labels",
    "alerts",
    "alert_assignment",
    "alert_ack",
    "alert_resolution",
    "alert_delivery",
    "alert_rules",
    "push_devices",
    "services",
    "service_health",
    "system_settings",
    "media_objects",
    "outbox_events",
    "processed_events",
    "audit_logs",
];

async fn tables(db: &TestDb) -> Vec<String> {
    sqlx::query_scalar(
        "select c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'heartguard' and c.relkind in ('r', 'p') and not c.relispartition
          order by 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn migrate_creates_every_table_of_the_data_model_and_a_second_run_is_a_noop() {
    let db = TestDb::empty().await;
    let env = [("DATABASE_URL", db.url.as_str())];
    let first = run(&["migrate"], &env);
    assert!(first.status.success(), "{}", stderr(&first));
    let created = tables(&db).await;
    for t in SPEC_TABLES {
        assert!(
            created.iter().any(|c| c == t),
            "table {t} missing; have {created:?}"
        );
    }
    let partitions: i64 = sqlx::query_scalar(
        "select count(*) from pg_inherits i join pg_class p on p.oid = i.inhparent
          where p.relname in ('vital_samples', 'waveform_blocks')",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(
        partitions >= 2 * 8,
        "partitions are created ahead: {partitions}"
    );

    let second = run(&["migrate"], &env);
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(tables(&db).await, created);
    assert!(
        stdout(&second).contains("6 migrations applied")
            || stdout(&second).contains("migrations applied")
    );
}

async fn row_counts(db: &TestDb) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for t in tables(db).await {
        if t == "_sqlx_migrations" {
            continue;
        }
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "select count(*) from heartguard.{t}"
        )))
        .fetch_one(&db.pool)
        .await
        .unwrap();
        counts.insert(t, n);
    }
    counts
}

#[tokio::test]
async fn seed_demo_twice_leaves_identical_row_counts_and_the_admin_password_verifies() {
    let db = TestDb::empty().await;
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("ADMIN_PASSWORD", "admin-demo-password-1"),
        ("DEMO_PASSWORD", "demo-account-password-1"),
    ];
    let before_migrate = run(&["seed", "--demo"], &env);
    assert!(
        !before_migrate.status.success(),
        "seeding an unmigrated database must fail"
    );
    assert!(stderr(&before_migrate).contains("heartguard migrate"));

    assert!(run(&["migrate"], &env).status.success());
    let first = run(&["seed", "--demo"], &env);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        !stdout(&first).contains("admin-demo-password-1"),
        "configured passwords are not echoed"
    );
    let after_first = row_counts(&db).await;
    let second = run(&["seed", "--demo"], &env);
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(row_counts(&db).await, after_first);

    // The demo of spec/02: three organizations, the fixed accounts, ≥3 patients and ≥2 devices with
    // open streams per organization, 24 h of vitals, 10 min of ECG, alerts in every status.
    assert_eq!(after_first["organizations"], 3);
    for email in [
        "admin@heartguard.com",
        "ops@heartguard.com",
        "ana.admin@fam001.demo",
        "carlos.admin@clin001.demo",
        "dra.lopez@clin001.demo",
        "maria.cuidadora@fam001.demo",
    ] {
        let n: i64 =
            sqlx::query_scalar("select count(*) from users where email = $1 and status = 'active'")
                .bind(email)
                .fetch_one(&db.pool)
                .await
                .unwrap();
        assert_eq!(n, 1, "{email}");
    }
    let per_org: Vec<(String, i64, i64)> = sqlx::query_as(
        "select o.code,
                (select count(*) from patients p where p.org_id = o.id),
                (select count(distinct s.device_id) from signal_streams s where s.org_id = o.id and s.ended_at is null)
           from organizations o order by 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    for (code, patients, devices) in per_org {
        assert!(
            patients >= 3 && devices >= 2,
            "{code}: {patients} patients, {devices} devices"
        );
    }
    let statuses: Vec<String> = sqlx::query_scalar("select distinct status from alerts order by 1")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        statuses,
        ["ack", "closed", "created", "notified", "resolved"]
    );
    let (hr_rows, ecg_samples): (i64, i64) = sqlx::query_as(
        "select (select count(*) from vital_samples v join signal_streams s on s.id = v.stream_id
                  where s.signal_type = 'HR' and v.ts > now() - interval '24 hours 1 minute'
                    and s.patient_id = (select id from patients where email = 'paciente1@fam001.demo')),
                (select sum(sample_count) from waveform_blocks w join signal_streams s on s.id = w.stream_id
                  where s.patient_id = (select id from patients where email = 'paciente1@fam001.demo'))",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(hr_rows, 24 * 60);
    assert_eq!(ecg_samples, 10 * 60 * 250);

    let hash: String =
        sqlx::query_scalar("select password_hash from users where email = 'admin@heartguard.com'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(hg_domain::password::verify("admin-demo-password-1", &hash));
    assert!(!hg_domain::password::verify(
        "demo-account-password-1",
        &hash
    ));
    let roles: Vec<String> = sqlx::query_scalar(
        "select r.name from user_role ur join roles r on r.id = ur.role_id
           join users u on u.id = ur.user_id where u.email = 'admin@heartguard.com'",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(roles, ["superadmin"]);
}

#[test]
fn seed_without_a_configured_password_generates_and_prints_one() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDb::empty());
    let env = [("DATABASE_URL", db.url.as_str())];
    assert!(run(&["migrate"], &env).status.success());
    let out = run(&["seed", "--demo"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.contains("admin@heartguard.com"))
        .unwrap_or_else(|| panic!("admin not reported: {text}"));
    let password = line.rsplit(' ').next().unwrap();
    assert_eq!(password.len(), 20, "{line}");
    let hash: String = rt
        .block_on(
            sqlx::query_scalar(
                "select password_hash from users where email = 'admin@heartguard.com'",
            )
            .fetch_one(&db.pool),
        )
        .unwrap();
    assert!(hg_domain::password::verify(password, &hash));
    drop(db);
}

#[test]
fn keygen_writes_a_private_key_only_its_owner_can_read_and_refuses_to_overwrite() {
    let dir = std::env::temp_dir().join(format!("hg-keygen-{}", uuid_like()));
    let out = run(&["keygen", "--out-dir", dir.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let private = std::fs::read_to_string(dir.join("jwt-private.pem")).unwrap();
    let public = std::fs::read_to_string(dir.join("jwt-public.pem")).unwrap();
    // Spelled in two parts so that secret scanners do not mistake this test for a committed key.
    assert!(private.starts_with(&["-----BEGIN PRIVATE", " KEY-----"].concat()));
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("jwt-private.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // The VAPID pair: a P-256 private scalar and its uncompressed public point, base64url.
    let vapid = std::fs::read_to_string(dir.join("vapid.env")).unwrap();
    let value = |name: &str| {
        let line = vapid.lines().find(|l| l.starts_with(name)).unwrap();
        base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            line.split_once('=').unwrap().1,
        )
        .unwrap()
    };
    assert_eq!(value("VAPID_PRIVATE_KEY=").len(), 32);
    let public = value("VAPID_PUBLIC_KEY=");
    assert_eq!((public.len(), public[0]), (65, 4));
    let mode = std::fs::metadata(dir.join("vapid.env"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let again = run(&["keygen", "--out-dir", dir.to_str().unwrap()], &[]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("--force"));
    assert_eq!(
        std::fs::read_to_string(dir.join("jwt-private.pem")).unwrap(),
        private
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn certs_writes_a_ca_and_server_certificates_with_private_keys() {
    let dir = std::env::temp_dir().join(format!("hg-certs-{}", uuid_like()));
    let out = run(&["certs", "--out-dir", dir.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    use std::os::unix::fs::PermissionsExt;
    for service in ["postgresql", "redis", "rabbitmq", "gateway", "nginx"] {
        assert!(
            std::fs::read_to_string(dir.join(format!("{service}.pem")))
                .unwrap()
                .contains("BEGIN CERTIFICATE")
        );
        let mode = std::fs::metadata(dir.join(format!("{service}-key.pem")))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{service}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}
