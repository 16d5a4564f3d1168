//! The hash chain (spec/02 "audit_logs"): each row's `hash` is
//! `SHA-256(prev_hash ‖ canonical(row))`, `prev_hash` being the previous row's `hash` in `seq` order
//! (32 zero bytes before the first row). The canonical form is the UTF-8 JSON array
//!
//! ```text
//! ["hg-audit-1", id, ts, actor_type, actor_id, actor_label, action, entity, entity_id, org_id,
//!  ip, request_id, event_id, details]
//! ```
//!
//! with `ts` as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, microseconds), uuids in lower-case hyphenated
//! form, `ip` as PostgreSQL's `host(ip)`, `details` as a string holding PostgreSQL's `jsonb` text of
//! the details (keys in jsonb order, numbers as jsonb prints them), and `null` for a missing value.
//! Both the writer and the verifier take `ip` and `details` from PostgreSQL's own rendering, so the
//! form does not depend on how a client serialises JSON.
//!
//! One writer at a time extends the chain: [`append`] takes a transaction-level advisory lock, reads
//! the last hash and inserts after it, so concurrent consumers produce one unbroken chain.

use std::net::IpAddr;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

/// The advisory lock that serialises appends ("HGAUDIT").
const CHAIN_LOCK: i64 = 0x0048_4741_5544_4954;

/// The actor kinds an entry may name (the table's check constraint).
const ACTOR_TYPES: &[&str] = &["user", "patient", "device", "system", "api_client"];

/// An `audit.recorded` event's data, as `hg_platform::audit::AuditEntry` writes it.
#[derive(Clone, Debug, Deserialize)]
pub struct Recorded {
    pub actor_type: String,
    pub actor_id: Option<Uuid>,
    pub actor_label: Option<String>,
    pub action: String,
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub org_id: Option<Uuid>,
    pub ip: Option<IpAddr>,
    pub request_id: Option<String>,
    #[serde(default)]
    pub details: Value,
}

impl Recorded {
    /// Reads an event's data; `Err` names what is wrong with it (such an event is dead-lettered).
    pub fn parse(data: &Value) -> Result<Self, String> {
        let r: Recorded = serde_json::from_value(data.clone())
            .map_err(|e| format!("malformed audit.recorded: {e}"))?;
        if !ACTOR_TYPES.contains(&r.actor_type.as_str()) {
            return Err(format!("unknown actor type {:?}", r.actor_type));
        }
        let code = r.action.as_bytes();
        let well_formed = code.first().is_some_and(u8::is_ascii_uppercase)
            && code
                .iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_');
        if !well_formed {
            return Err(format!("malformed action code {:?}", r.action));
        }
        Ok(r)
    }
}

/// What the hash covers of one row.
#[derive(Clone, Debug, PartialEq)]
pub struct Content {
    pub id: Uuid,
    pub ts: DateTime<Utc>,
    pub actor_type: String,
    pub actor_id: Option<Uuid>,
    pub actor_label: Option<String>,
    pub action: String,
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub org_id: Option<Uuid>,
    /// `host(ip)`.
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub event_id: Option<Uuid>,
    /// `details::text`.
    pub details: String,
}

impl Content {
    /// The canonical form (see the module documentation).
    pub fn canonical(&self) -> String {
        json!([
            "hg-audit-1",
            self.id,
            self.ts.to_rfc3339_opts(SecondsFormat::Micros, true),
            self.actor_type,
            self.actor_id,
            self.actor_label,
            self.action,
            self.entity,
            self.entity_id,
            self.org_id,
            self.ip,
            self.request_id,
            self.event_id,
            self.details,
        ])
        .to_string()
    }

    /// `SHA-256(prev ‖ canonical)`, `prev` being 32 zero bytes for the first row.
    pub fn hash(&self, prev: Option<&[u8]>) -> Vec<u8> {
        let mut h = Sha256::new();
        h.update(prev.unwrap_or(&[0u8; 32]));
        h.update(self.canonical().as_bytes());
        h.finalize().to_vec()
    }
}

/// Appends the entry an event carries to the chain, in the consumer's transaction `conn`; returns
/// the new row's `seq`. An event stored before (same `event_id`) is not stored again.
pub async fn append(
    conn: &mut PgConnection,
    event_id: Uuid,
    occurred_at: DateTime<Utc>,
    r: &Recorded,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query!("select pg_advisory_xact_lock($1)", CHAIN_LOCK)
        .execute(&mut *conn)
        .await?;
    let stored = sqlx::query_scalar!(
        "select exists (select 1 from audit_logs where event_id = $1)",
        event_id
    )
    .fetch_one(&mut *conn)
    .await?;
    if stored == Some(true) {
        return Ok(None);
    }
    // The previous hash, and the details and address as PostgreSQL will render them back.
    let head = sqlx::query!(
        r#"select (select hash from audit_logs order by seq desc limit 1) as prev,
                  $1::jsonb::text as "details!", host($2::text::inet) as ip"#,
        r.details,
        r.ip.map(|ip| ip.to_string()),
    )
    .fetch_one(&mut *conn)
    .await?;
    // Stored to the microsecond: hash what is stored.
    let ts = DateTime::from_timestamp_micros(occurred_at.timestamp_micros()).unwrap_or(occurred_at);
    let content = Content {
        id: Uuid::new_v4(),
        ts,
        actor_type: r.actor_type.clone(),
        actor_id: r.actor_id,
        actor_label: r.actor_label.clone(),
        action: r.action.clone(),
        entity: r.entity.clone(),
        entity_id: r.entity_id.clone(),
        org_id: r.org_id,
        ip: head.ip,
        request_id: r.request_id.clone(),
        event_id: Some(event_id),
        details: head.details,
    };
    let hash = content.hash(head.prev.as_deref());
    let seq = sqlx::query_scalar!(
        "insert into audit_logs (id, ts, actor_type, actor_id, actor_label, action, entity, entity_id,
                                 org_id, ip, request_id, details, event_id, prev_hash, hash)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text::inet, $11, $12, $13, $14, $15)
         returning seq",
        content.id,
        content.ts,
        content.actor_type,
        content.actor_id,
        content.actor_label,
        content.action,
        content.entity,
        content.entity_id,
        content.org_id,
        content.ip,
        content.request_id,
        r.details,
        event_id,
        head.prev,
        hash,
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Some(seq))
}

/// The first row where the chain does not hold.
#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Broken {
    pub seq: i64,
    pub id: Uuid,
    pub ts: DateTime<Utc>,
    /// What does not hold: the row's content no longer matches its hash, or its `prev_hash` is not
    /// the hash of the row before it (a row before it was removed, inserted or altered).
    pub reason: String,
}

/// What a verification found.
#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Verification {
    /// Whether every row checked holds.
    pub ok: bool,
    /// Rows checked.
    pub checked: i64,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    pub broken: Option<Broken>,
}

/// Checks the chain over the rows with `from <= ts < to` (either bound optional): from the first
/// such row to the last in `seq` order, every row's hash is recomputed and its `prev_hash` compared
/// with the hash of the row before it (the row just before the range included). Stops at the first
/// broken row.
pub async fn verify(
    conn: &mut PgConnection,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Verification, sqlx::Error> {
    let bounds = sqlx::query!(
        r#"select (select min(seq) from audit_logs where ($1::timestamptz is null or ts >= $1)
                                                      and ($2::timestamptz is null or ts < $2)) as first,
                  (select max(seq) from audit_logs where ($1::timestamptz is null or ts >= $1)
                                                      and ($2::timestamptz is null or ts < $2)) as last"#,
        from,
        to,
    )
    .fetch_one(&mut *conn)
    .await?;
    let (Some(first), Some(last)) = (bounds.first, bounds.last) else {
        return Ok(Verification {
            ok: true,
            checked: 0,
            first_seq: None,
            last_seq: None,
            broken: None,
        });
    };
    let mut prev: Option<(i64, Vec<u8>)> = sqlx::query!(
        "select seq, hash from audit_logs where seq < $1 order by seq desc limit 1",
        first
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| (r.seq, r.hash));
    let mut rows = sqlx::query!(
        r#"select id, seq, ts, actor_type, actor_id, actor_label, action, entity, entity_id, org_id,
                  host(ip) as ip, request_id, event_id, details::text as "details!", prev_hash, hash
             from audit_logs where seq between $1 and $2 order by seq"#,
        first,
        last,
    )
    .fetch(&mut *conn);
    let mut checked = 0;
    let mut broken = None;
    while let Some(row) = rows.try_next().await? {
        checked += 1;
        let content = Content {
            id: row.id,
            ts: row.ts,
            actor_type: row.actor_type,
            actor_id: row.actor_id,
            actor_label: row.actor_label,
            action: row.action,
            entity: row.entity,
            entity_id: row.entity_id,
            org_id: row.org_id,
            ip: row.ip,
            request_id: row.request_id,
            event_id: row.event_id,
            details: row.details,
        };
        let expected_prev = prev.as_ref().map(|(_, h)| h.as_slice());
        let reason = if row.prev_hash.as_deref() != expected_prev {
            Some(match &prev {
                Some((seq, _)) => format!(
                    "prev_hash is not the hash of the row before it (seq {seq}): a row between them was removed or inserted, or seq {seq} was altered"
                ),
                None => "prev_hash is set but no row precedes it: the rows before it were removed"
                    .to_owned(),
            })
        } else if content.hash(expected_prev) != row.hash {
            Some("the row's content does not match its hash: it was altered".to_owned())
        } else {
            None
        };
        if let Some(reason) = reason {
            broken = Some(Broken {
                seq: row.seq,
                id: row.id,
                ts: row.ts,
                reason,
            });
            break;
        }
        prev = Some((row.seq, row.hash));
    }
    Ok(Verification {
        ok: broken.is_none(),
        checked,
        first_seq: Some(first),
        last_seq: Some(last),
        broken,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content() -> Content {
        Content {
            id: Uuid::nil(),
            ts: DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap(),
            actor_type: "user".into(),
            actor_id: None,
            actor_label: Some("ana@example.org".into()),
            action: "PATIENT_READ".into(),
            entity: Some("patient".into()),
            entity_id: Some("p-1".into()),
            org_id: None,
            ip: Some("127.0.0.1".into()),
            request_id: None,
            event_id: None,
            details: r#"{"what": "record"}"#.into(),
        }
    }

    #[test]
    fn the_canonical_form_is_the_documented_array() {
        assert_eq!(
            content().canonical(),
            r#"["hg-audit-1","00000000-0000-0000-0000-000000000000","2025-11-24T16:00:00.123456Z","user",null,"ana@example.org","PATIENT_READ","patient","p-1",null,"127.0.0.1",null,null,"{\"what\": \"record\"}"]"#
        );
    }

    #[test]
    fn the_hash_covers_the_content_and_the_previous_hash() {
        let c = content();
        let first = c.hash(None);
        assert_eq!(first.len(), 32);
        assert_eq!(first, c.hash(Some(&[0u8; 32])));
        assert_ne!(first, c.hash(Some(&[1u8; 32])));
        let altered = Content {
            actor_label: Some("eve@example.org".into()),
            ..c.clone()
        };
        assert_ne!(first, altered.hash(None));
    }

    #[test]
    fn malformed_entries_are_named() {
        let ok = json!({"actor_type": "user", "action": "LOGIN_SUCCESS"});
        assert!(Recorded::parse(&ok).is_ok());
        let bad_actor = json!({"actor_type": "robot", "action": "LOGIN_SUCCESS"});
        assert!(Recorded::parse(&bad_actor).unwrap_err().contains("robot"));
        let bad_action = json!({"actor_type": "user", "action": "login"});
        assert!(Recorded::parse(&bad_action).unwrap_err().contains("login"));
        assert!(Recorded::parse(&json!({"action": 3})).is_err());
    }
}
