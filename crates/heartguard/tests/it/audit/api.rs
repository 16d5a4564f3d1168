//! The audit routes on the real consumer: staff reads become entries, each reader sees their reach,
//! the CSV export is the JSON list, verification and a patient's access log.

use std::collections::BTreeMap;

use hg_platform::Component;
use hg_platform::auth::{NewToken, PrincipalKind};
use reqwest::Method;

use super::*;
use crate::support::{error_id, names_field, pluck};
use crate::world::World;

const AUDIT: Component = Component::Audit;

/// Reads that leave entries: admin A and doctor A read p1, admin B reads pb, doctor A lists
/// patients; returns once the consumer has stored them.
async fn world_with_reads() -> World {
    let w = World::new(&[AUDIT, Component::Patient]).await;
    for (who, patient) in [(&w.admin_a, w.p1), (&w.doctor_a, w.p1), (&w.admin_b, w.pb)] {
        let (status, body) = w
            .request(Method::GET, &format!("/patients/{patient}"))
            .on(Component::Patient)
            .token(who)
            .send()
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _) = w
        .request(Method::GET, "/patients")
        .on(Component::Patient)
        .token(&w.doctor_a)
        .send()
        .await;
    assert_eq!(status, 200);
    for _ in 0..200 {
        let stored: i64 = sqlx::query_scalar(
            "select count(*) from audit_logs where action in ('PATIENT_READ', 'PATIENT_LIST')",
        )
        .fetch_one(&w.app.db.pool)
        .await
        .unwrap();
        if stored == 4 {
            return w;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the audit consumer did not store the four reads");
}

/// Every item of a list, following its cursors `limit` at a time.
async fn all_pages(w: &World, path: &str, token: &str, limit: usize) -> Vec<Value> {
    let mut items = Vec::new();
    let mut next = format!("{path}&limit={limit}");
    loop {
        let (status, page) = w.get(&next, token).await;
        assert_eq!(status, 200, "{page}");
        let got = page["data"].as_array().unwrap();
        assert!(got.len() <= limit);
        items.extend(got.iter().cloned());
        match page["meta"]["next_cursor"].as_str() {
            Some(c) => next = format!("{path}&limit={limit}&cursor={c}"),
            None => return items,
        }
    }
}

#[tokio::test]
async fn each_reader_sees_their_reach_filtered_and_paged() {
    let w = world_with_reads().await;
    let reads = "/audit/logs?action=PATIENT_READ";
    let (status, all) = w.get(reads, &w.root).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(pluck(&all, "action"), ["PATIENT_READ"; 3]);
    let entry = &all["data"][0];
    assert_eq!(entry["entity"], "patient");
    assert!(
        entry["seq"].is_i64() && entry["request_id"].is_string(),
        "{entry}"
    );
    assert_eq!(entry["ip"], "127.0.0.1");
    // Newest first, one at a time through the cursor: the same three.
    let paged = all_pages(&w, reads, &w.root, 1).await;
    let ids = |items: &[Value]| -> Vec<String> {
        items
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&paged), ids(all["data"].as_array().unwrap()));

    // Organization A's admin: A's entries only, even when asking for B's.
    let (_, a) = w.get(reads, &w.admin_a).await;
    let org_a = w.org_a.to_string();
    assert_eq!(pluck(&a, "org_id"), [org_a.as_str(); 2]);
    let (status, b) = w
        .get(&format!("{reads}&org_id={}", w.org_b), &w.admin_a)
        .await;
    assert_eq!((status, b["data"].as_array().unwrap().len()), (200, 0));
    let (_, b) = w.get(reads, &w.admin_b).await;
    assert_eq!(pluck(&b, "entity_id"), [w.pb.to_string()]);

    // Filters.
    let (_, by_actor) = w
        .get(&format!("/audit/logs?actor_id={}", w.doctor_a.id), &w.root)
        .await;
    let mut actions = pluck(&by_actor, "action");
    actions.sort();
    assert_eq!(actions, ["PATIENT_LIST", "PATIENT_READ"]);
    let (_, of_p1) = w
        .get(
            &format!("/audit/logs?entity=patient&entity_id={}", w.p1),
            &w.root,
        )
        .await;
    let p1 = w.p1.to_string();
    assert_eq!(pluck(&of_p1, "entity_id"), [p1.as_str(); 2]);
    let later = (Utc::now() + chrono::Duration::minutes(1)).to_rfc3339();
    let (_, none) = w
        .get(
            &format!("/audit/logs?from={}", later.replace('+', "%2B")),
            &w.root,
        )
        .await;
    assert_eq!(none["data"].as_array().unwrap().len(), 0);

    // No audit.read: refused.
    for who in [&w.doctor_a, &w.viewer_a, &w.caregiver] {
        let (status, e) = w.get("/audit/logs", who).await;
        assert_eq!((status, error_id(&e)), (403, "HG-FORBIDDEN"), "{e}");
    }
}

#[tokio::test]
async fn bad_filters_and_anonymous_calls_are_refused_in_the_envelope() {
    let w = World::new(&[AUDIT]).await;
    w.assert_anonymous_refused(&[
        (Method::GET, "/audit/logs".into()),
        (Method::GET, "/audit/logs/export?format=csv".into()),
        (Method::GET, "/audit/verify".into()),
        (Method::GET, "/audit/me/access-log".into()),
    ])
    .await;
    for (query, field) in [
        ("action=patient_read", "action"),
        ("actor_id=nope", "actor_id"),
        ("from=yesterday", "from"),
        ("limit=0", "limit"),
        ("colour=red", "colour"),
    ] {
        let (status, e) = w.get(&format!("/audit/logs?{query}"), &w.root).await;
        assert_eq!(
            (status, names_field(&e, field)),
            (400, true),
            "{query}: {e}"
        );
    }
    let (status, e) = w.get("/audit/logs/export", &w.root).await;
    assert_eq!((status, names_field(&e, "format")), (400, true), "{e}");
    let (status, e) = w.get("/audit/logs/export?format=pdf", &w.root).await;
    assert_eq!((status, names_field(&e, "format")), (400, true), "{e}");
    let resp = w
        .app
        .client
        .get(w.app.url(AUDIT, "/audit/logs?actor_id=nope"))
        .bearer_auth(&w.root.token)
        .header("accept", "application/xml")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let xml = resp.text().await.unwrap();
    assert!(
        xml.contains("<id>HG-VALIDATION</id>") && xml.contains("actor_id"),
        "{xml}"
    );
}

#[tokio::test]
async fn the_csv_export_of_a_filter_is_the_json_list_of_that_filter() {
    let w = world_with_reads().await;
    for (who, filter) in [
        (&w.root, "entity=patient"),
        (&w.admin_a, "entity=patient"),
        (&w.root, "action=PATIENT_READ"),
    ] {
        let json = all_pages(&w, &format!("/audit/logs?{filter}"), who, 2).await;
        let resp = w
            .app
            .client
            .get(
                w.app
                    .url(AUDIT, &format!("/audit/logs/export?format=csv&{filter}")),
            )
            .bearer_auth(&who.token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        let text = resp.text().await.unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(header, hg_domain::audit::read::CSV_COLUMNS);
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), json.len(), "{filter}: {text}");
        assert!(!rows.is_empty());
        for (row, item) in rows.iter().zip(&json) {
            let field = |name: &str| {
                let i = header.iter().position(|h| h == name).unwrap();
                row[i].to_owned()
            };
            for name in [
                "id",
                "action",
                "entity",
                "entity_id",
                "org_id",
                "actor_id",
                "ip",
            ] {
                assert_eq!(field(name), item[name].as_str().unwrap_or(""), "{name}");
            }
            assert_eq!(field("seq"), item["seq"].to_string());
            let details: Value = serde_json::from_str(&field("details")).unwrap();
            assert_eq!(details, item["details"]);
        }
    }
}

#[tokio::test]
async fn the_chain_is_verified_over_http_by_the_platform_wide_readers_only() {
    let w = world_with_reads().await;
    let (status, v) = w.get("/audit/verify", &w.root).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["ok"], true);
    assert!(v["data"]["checked"].as_i64().unwrap() >= 4, "{v}");
    assert!(v["data"]["broken"].is_null());
    let (status, e) = w.get("/audit/verify", &w.admin_a).await;
    assert_eq!((status, error_id(&e)), (403, "HG-FORBIDDEN"));
}

#[tokio::test]
async fn a_patient_sees_who_read_their_record_and_no_one_else_has_an_access_log() {
    let w = world_with_reads().await;
    let patient = |id: Uuid, org: Uuid| {
        let keys = w.app.platform.tokens.as_ref().unwrap();
        keys.issue(NewToken {
            sub: id,
            typ: PrincipalKind::Patient,
            roles: Vec::new(),
            orgs: BTreeMap::from([(org, "patient".to_owned())]),
            fid: None,
            amr: vec!["pwd".into()],
        })
        .unwrap()
        .0
    };
    let (status, log) = w.get("/audit/me/access-log", &patient(w.p1, w.org_a)).await;
    assert_eq!(status, 200, "{log}");
    let mut seen: Vec<(&str, &str)> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["action"].as_str().unwrap(),
                a["actor_name"].as_str().unwrap(),
            )
        })
        .collect();
    seen.sort();
    let pool = &w.app.db.pool;
    let name = async |id: Uuid| {
        sqlx::query_scalar::<_, String>("select name from users where id = $1")
            .bind(id)
            .fetch_one(pool)
            .await
            .unwrap()
    };
    let (admin, doctor) = (name(w.admin_a.id).await, name(w.doctor_a.id).await);
    let mut expected = vec![
        ("PATIENT_LIST", doctor.as_str()),
        ("PATIENT_READ", admin.as_str()),
        ("PATIENT_READ", doctor.as_str()),
    ];
    expected.sort();
    assert_eq!(seen, expected);
    // p2 was in doctor A's list? No: p2 is in no team. Their log is empty; B's patient sees B's read.
    let (_, log) = w.get("/audit/me/access-log", &patient(w.p2, w.org_a)).await;
    assert_eq!(log["data"].as_array().unwrap().len(), 0, "{log}");
    let (_, log) = w.get("/audit/me/access-log", &patient(w.pb, w.org_b)).await;
    assert_eq!(pluck(&log, "action"), ["PATIENT_READ"]);
    let (status, e) = w.get("/audit/me/access-log", &w.doctor_a).await;
    assert_eq!((status, error_id(&e)), (403, "HG-FORBIDDEN"));
}
