//! Invariants the schema enforces by itself (spec/02): case-insensitive e-mails, tenant-consistent
//! links, one open alert per patient and type, one active primary caregiver, an append-only audit
//! log, and sample partitions managed by their functions.

use hg_platform::db::DbError;
use hg_test_support::{TestDb, fixtures};
use uuid::Uuid;

fn constraint_of(err: sqlx::Error) -> DbError {
    DbError::from(err)
}

#[tokio::test]
async fn emails_are_unique_regardless_of_case() {
    let db = TestDb::new().await;
    fixtures::user(&db.pool, "Ana@Example.org", None).await;
    let err = sqlx::query("insert into users (name, email) values ('x', 'ana@EXAMPLE.org')")
        .execute(&db.pool)
        .await
        .unwrap_err();
    match constraint_of(err) {
        DbError::UniqueViolation { constraint } => assert_eq!(constraint, "users_email_key"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn a_patient_cannot_join_a_care_team_of_another_organization() {
    let db = TestDb::new().await;
    let a = fixtures::org(&db.pool, "ORG-A").await;
    let b = fixtures::org(&db.pool, "ORG-B").await;
    let team_b = fixtures::care_team(&db.pool, b, "Team B", &[]).await;
    let patient_a = fixtures::patient(&db.pool, a, "Paciente A", None).await;
    let err = sqlx::query(
        "insert into patient_care_team (patient_id, team_id, org_id) values ($1, $2, $3)",
    )
    .bind(patient_a)
    .bind(team_b)
    .bind(a)
    .execute(&db.pool)
    .await
    .unwrap_err();
    assert!(matches!(
        constraint_of(err),
        DbError::ForeignKeyViolation { .. }
    ));
}

#[tokio::test]
async fn only_one_alert_per_patient_and_type_can_be_open() {
    let db = TestDb::new().await;
    let org = fixtures::org(&db.pool, "ORG-A").await;
    let p = fixtures::patient(&db.pool, org, "Paciente", None).await;
    let insert = |status: &'static str| {
        sqlx::query(
            "insert into alerts (org_id, patient_id, alert_type, alert_level, status, dedup_key)
             values ($1, $2, 'TACHY', 'high', $3, $4)",
        )
        .bind(org)
        .bind(p)
        .bind(status)
        .bind(format!("{p}:TACHY"))
        .execute(&db.pool)
    };
    insert("created").await.unwrap();
    let err = insert("notified").await.unwrap_err();
    match constraint_of(err) {
        DbError::UniqueViolation { constraint } => assert_eq!(constraint, "alerts_open_dedup_key"),
        other => panic!("unexpected {other:?}"),
    }
    // Closed alerts of the same condition are history, not duplicates.
    insert("closed").await.unwrap();
    insert("resolved").await.unwrap();
}

#[tokio::test]
async fn a_patient_has_at_most_one_active_primary_caregiver() {
    let db = TestDb::new().await;
    let org = fixtures::org(&db.pool, "ORG-A").await;
    let p = fixtures::patient(&db.pool, org, "Paciente", None).await;
    let c1 = fixtures::user(&db.pool, "c1@example.org", Some("caregiver")).await;
    let c2 = fixtures::user(&db.pool, "c2@example.org", Some("caregiver")).await;
    let link = |user: Uuid| {
        sqlx::query(
            "insert into caregiver_patient (org_id, patient_id, user_id, relationship, is_primary)
             values ($1, $2, $3, 'child', true)",
        )
        .bind(org)
        .bind(p)
        .bind(user)
        .execute(&db.pool)
    };
    link(c1).await.unwrap();
    assert!(matches!(
        constraint_of(link(c2).await.unwrap_err()),
        DbError::UniqueViolation { .. }
    ));
    sqlx::query("update caregiver_patient set ended_at = now() where user_id = $1")
        .bind(c1)
        .execute(&db.pool)
        .await
        .unwrap();
    link(c2).await.unwrap();
}

#[tokio::test]
async fn the_audit_log_refuses_updates_deletes_and_truncation() {
    let db = TestDb::new().await;
    sqlx::query(
        "insert into audit_logs (actor_type, action, hash) values ('system', 'SYSTEM_START', sha256('x'::bytea))",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    for sql in [
        "update audit_logs set action = 'TAMPERED'",
        "delete from audit_logs",
        "truncate audit_logs",
    ] {
        let err = sqlx::query(sql).execute(&db.pool).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    let n: i64 = sqlx::query_scalar("select count(*) from audit_logs")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn sample_partitions_are_created_ahead_and_dropped_by_retention() {
    let db = TestDb::new().await;
    let created: i32 =
        sqlx::query_scalar("select ensure_sample_partitions(date '2031-01-01', date '2031-01-03')")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(created, 6, "three days × two tables");
    let again: i32 =
        sqlx::query_scalar("select ensure_sample_partitions(date '2031-01-01', date '2031-01-03')")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(again, 0, "idempotent");
    let stream = Uuid::new_v4();
    sqlx::query("insert into vital_samples (stream_id, ts, value) values ($1, '2031-01-02 23:59:59+00', 72)")
        .bind(stream)
        .execute(&db.pool)
        .await
        .unwrap();
    let err = sqlx::query("insert into vital_samples (stream_id, ts, value) values ($1, '2040-01-01 00:00:00+00', 72)")
        .bind(stream)
        .execute(&db.pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no partition"), "{err}");

    let dropped: i32 =
        sqlx::query_scalar("select drop_sample_partitions_before(date '2031-01-03')")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(dropped >= 4, "{dropped}");
    let left: i64 = sqlx::query_scalar("select count(*) from vital_samples where stream_id = $1")
        .bind(stream)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    let kept: Vec<bool> = sqlx::query_scalar(
        "select to_regclass(p) is not null from unnest(array[
            'heartguard.vital_samples_p20310102', 'heartguard.vital_samples_p20310103']) p",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        kept,
        [false, true],
        "only whole days before the cut-off are dropped"
    );
}

#[tokio::test]
async fn waveform_blocks_hold_as_many_bytes_as_their_encoding_says() {
    let db = TestDb::new().await;
    let stream = Uuid::new_v4();
    let insert = |encoding: i16, count: i32, bytes: &'static str| {
        sqlx::query(
            "insert into waveform_blocks (stream_id, start_ts, sample_rate_hz, sample_count, samples, encoding)
             values ($1, clock_timestamp(), 250, $2, decode($3, 'hex'), $4)",
        )
        .bind(stream)
        .bind(count)
        .bind(bytes)
        .bind(encoding)
        .execute(&db.pool)
    };
    for (encoding, count, bytes) in [
        (0, 250, "00"),
        (1, 3, "0001"),
        (1, 1, "000000000000"),
        (2, 1, "00"),
    ] {
        let bad = insert(encoding, count, bytes).await.unwrap_err();
        assert!(
            matches!(constraint_of(bad), DbError::CheckViolation { .. }),
            "encoding {encoding}, {count} samples in {bytes}"
        );
    }
    insert(0, 2, "0000803f00000040").await.unwrap();
    insert(1, 3, "000102").await.unwrap();
}

#[tokio::test]
async fn catalogs_and_roles_are_in_every_fresh_database() {
    let db = TestDb::new().await;
    let levels: Vec<(String, i32)> =
        sqlx::query_as("select code, weight from alert_levels order by weight")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        levels,
        [
            ("low".into(), 1),
            ("medium".into(), 2),
            ("high".into(), 3),
            ("critical".into(), 4)
        ]
    );
    let superadmin_perms: i64 = sqlx::query_scalar(
        "select count(*) from role_permission rp join roles r on r.id = rp.role_id where r.name = 'superadmin'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let all: i64 = sqlx::query_scalar("select count(*) from permissions")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(superadmin_perms, all);
    // A catalog row in use cannot be deleted.
    let org = fixtures::org(&db.pool, "ORG-A").await;
    fixtures::patient(&db.pool, org, "P", None).await;
    let err = sqlx::query("delete from risk_levels where code = 'low'")
        .execute(&db.pool)
        .await
        .unwrap_err();
    assert!(matches!(
        constraint_of(err),
        DbError::ForeignKeyViolation { .. }
    ));
}
