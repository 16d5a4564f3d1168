//! The chain itself: concurrent appends, redeliveries, tampering named by `heartguard audit verify`,
//! and the services' role unable to alter rows.

use super::*;
use crate::support::{run_async, stderr, stdout};
use hg_test_support::TestDb;

async fn verify(db: &TestDb) -> (bool, String) {
    let out = run_async(&["audit", "verify"], &[("DATABASE_URL", db.url.as_str())]).await;
    (
        out.status.success(),
        format!("{}{}", stdout(&out), stderr(&out)),
    )
}

/// Runs `sql` as the table's owner with the append-only triggers off: what a tamperer with the
/// owner's rights (or a restored, edited backup) could do.
async fn tamper(db: &TestDb, sql: &str) {
    let mut tx = db.pool.begin().await.unwrap();
    sqlx::query("alter table audit_logs disable trigger user")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("alter table audit_logs enable trigger user")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn a_thousand_events_consumed_concurrently_make_one_chain_that_verifies() {
    let db = TestDb::new().await;
    let events: Vec<EventMessage> = (0..1000)
        .map(|i| event(None, Action::PatientRead, json!({"i": i})))
        .collect();
    let events = std::sync::Arc::new(events);
    let mut workers = Vec::new();
    for w in 0..8 {
        let (pool, events) = (db.pool.clone(), events.clone());
        workers.push(tokio::spawn(async move {
            for e in events.iter().skip(w).step_by(8) {
                consume(&pool, e).await;
            }
        }));
    }
    // A redelivery of every tenth event, racing the first deliveries.
    let (pool, again) = (db.pool.clone(), events.clone());
    workers.push(tokio::spawn(async move {
        for e in again.iter().step_by(10) {
            consume(&pool, e).await;
        }
    }));
    for w in workers {
        w.await.unwrap();
    }
    let (rows, distinct): (i64, i64) =
        sqlx::query_as("select count(*), count(distinct event_id) from audit_logs")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((rows, distinct), (1000, 1000), "each event stored once");
    let (ok, out) = verify(&db).await;
    assert!(ok, "{out}");
    assert!(out.contains("1000 rows"), "{out}");
}

#[tokio::test]
async fn altering_deleting_or_inserting_a_row_is_named_by_audit_verify() {
    let db = TestDb::new().await;
    chain_of(&db.pool, 10).await;
    // A gap in the identity, where a forged row can go (as a rolled-back append leaves one).
    sqlx::query(
        "select nextval(pg_get_serial_sequence('audit_logs', 'seq')) from generate_series(1, 5)",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    chain_of(&db.pool, 10).await;
    let seqs: Vec<i64> = sqlx::query_scalar("select seq from audit_logs order by seq")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert!(verify(&db).await.0);

    // Altered: the row itself is named; undone, the chain holds again.
    let altered = seqs[4];
    tamper(
        &db,
        &format!("update audit_logs set actor_label = 'nobody' where seq = {altered}"),
    )
    .await;
    let (ok, out) = verify(&db).await;
    assert!(!ok);
    assert!(out.contains(&format!("broken at seq {altered} ")), "{out}");
    assert!(out.contains("altered"), "{out}");
    tamper(
        &db,
        &format!("update audit_logs set actor_label = 'someone@example.org' where seq = {altered}"),
    )
    .await;
    assert!(verify(&db).await.0, "restored");

    // Inserted: a forged row in the gap, chained after row 10 with a correct hash of its own; the
    // next real row no longer follows its predecessor.
    let forged = seqs[9] + 2;
    tamper(
        &db,
        &format!(
            "insert into audit_logs (seq, actor_type, action, prev_hash, hash)
             overriding system value
             select {forged}, 'system', 'PATIENT_READ', hash, sha256(hash) from audit_logs where seq = {}",
            seqs[9]
        ),
    )
    .await;
    let (ok, out) = verify(&db).await;
    assert!(!ok);
    assert!(
        out.contains(&format!("broken at seq {forged} "))
            || out.contains(&format!("(seq {forged})")),
        "the forged row is named: {out}"
    );
    tamper(&db, &format!("delete from audit_logs where seq = {forged}")).await;
    assert!(verify(&db).await.0, "forgery removed");

    // Deleted: the row after the gap is named, with the row before it.
    let deleted = seqs[14];
    tamper(
        &db,
        &format!("delete from audit_logs where seq = {deleted}"),
    )
    .await;
    let (ok, out) = verify(&db).await;
    assert!(!ok);
    assert!(
        out.contains(&format!("broken at seq {} ", seqs[15])),
        "{out}"
    );
    assert!(out.contains(&format!("seq {}", seqs[13])), "{out}");
    assert!(out.contains("removed"), "{out}");

    // A range that ends before the damage still verifies.
    let before: chrono::DateTime<Utc> =
        sqlx::query_scalar("select ts from audit_logs where seq = $1")
            .bind(seqs[13])
            .fetch_one(&db.pool)
            .await
            .unwrap();
    let out = run_async(
        &["audit", "verify", "--to", &before.to_rfc3339()],
        &[("DATABASE_URL", db.url.as_str())],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("13 rows"), "{}", stdout(&out));
}

#[tokio::test]
async fn the_services_role_may_append_but_not_alter_or_delete_audit_rows() {
    let db = TestDb::new().await;
    chain_of(&db.pool, 2).await;
    let role = format!("hg_test_app_{}", Uuid::new_v4().simple());
    let admin = &db.pool;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "create role {role} login in role heartguard_app"
    )))
    .execute(admin)
    .await
    .unwrap();
    let url = reqwest::Url::parse(&db.url).unwrap();
    let mut as_app = url.clone();
    as_app.set_username(&role).unwrap();
    let app = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .after_connect(|c, _| {
            Box::pin(async move {
                sqlx::query("set search_path = heartguard, public")
                    .execute(c)
                    .await
                    .map(|_| ())
            })
        })
        .connect(as_app.as_str())
        .await
        .unwrap();
    // The consumer's work succeeds as the application role…
    consume(&app, &event(None, Action::PatientRead, json!({}))).await;
    sqlx::query("update patients set updated_at = now()")
        .execute(&app)
        .await
        .expect("other tables stay writable");
    // …but the rows cannot be changed, by privilege (not the trigger's message).
    for sql in [
        "update audit_logs set actor_label = 'x'",
        "delete from audit_logs",
        "truncate audit_logs",
    ] {
        let err = sqlx::query(sql)
            .execute(&app)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("permission denied for table audit_logs"),
            "{sql}: {err}"
        );
    }
    app.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("drop role {role}")))
        .execute(admin)
        .await
        .unwrap();
    let rows: i64 = sqlx::query_scalar("select count(*) from audit_logs")
        .fetch_one(admin)
        .await
        .unwrap();
    assert_eq!(rows, 3);
    assert!(verify(&db).await.0);
}
