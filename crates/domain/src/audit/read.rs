//! Reading the audit log: who may read what (superadmin and ops every organization, an org admin
//! their own), filtered and keyset-paginated newest first, and a patient's own access log.

use chrono::{DateTime, Utc};
use hg_platform::auth::PrincipalKind;
use hg_platform::page::{Cursor, Keyed, Page, PageRequest, Sort, SortField, SqlType};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::catalog::Permission;
use crate::records::{Caller, RecordError};

/// One stored audit entry.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditLog {
    pub id: Uuid,
    /// Its place in the hash chain.
    pub seq: i64,
    pub ts: DateTime<Utc>,
    pub actor_type: String,
    pub actor_id: Option<Uuid>,
    pub actor_label: Option<String>,
    pub action: String,
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub org_id: Option<Uuid>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub details: Value,
}

impl Keyed for AuditLog {
    fn sort_key(&self, _: &str) -> Value {
        json!(self.ts)
    }
    fn key_id(&self) -> Uuid {
        self.id
    }
}

const COLUMNS: &str =
    "l.id, l.seq, l.ts, l.actor_type, l.actor_id, l.actor_label, l.action, l.entity,
    l.entity_id, l.org_id, host(l.ip) as ip, l.request_id, l.details";

/// The audit log's one order: newest first.
pub const SORTS: &[SortField] = &[SortField {
    name: "ts",
    column: "l.ts",
    ty: SqlType::Timestamp,
}];

/// Filters of the audit log.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub actor_id: Option<Uuid>,
    pub action: Option<String>,
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub org_id: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Which organizations' entries the caller reads.
#[derive(Clone, Debug, PartialEq)]
pub enum Reach {
    /// Every entry (superadmin, ops).
    All,
    /// The entries of these organizations (org admins).
    Orgs(Vec<Uuid>),
}

impl Reach {
    /// The caller's reach; `Forbidden` without `audit.read` anywhere.
    pub fn of(caller: &Caller) -> Result<Self, RecordError> {
        let code = Permission::AuditRead.code();
        if caller.granted.global.contains(code) {
            return Ok(Reach::All);
        }
        let orgs: Vec<Uuid> = caller
            .granted
            .per_org
            .iter()
            .filter(|(_, p)| p.contains(code))
            .map(|(o, _)| *o)
            .collect();
        if orgs.is_empty() {
            return Err(RecordError::Forbidden(format!(
                "this needs the {code} permission"
            )));
        }
        Ok(Reach::Orgs(orgs))
    }

    /// Only `All` may check the whole chain.
    pub fn require_all(caller: &Caller) -> Result<(), RecordError> {
        match Self::of(caller)? {
            Reach::All => Ok(()),
            Reach::Orgs(_) => Err(RecordError::Forbidden(
                "verifying the audit chain needs audit.read on the whole platform (superadmin, ops)"
                    .into(),
            )),
        }
    }
}

fn select(reach: &Reach, f: &Filter) -> QueryBuilder<Postgres> {
    let mut qb = QueryBuilder::new(format!("select {COLUMNS} from audit_logs l where true"));
    if let Reach::Orgs(orgs) = reach {
        qb.push(" and l.org_id = any(")
            .push_bind(orgs.clone())
            .push(")");
    }
    if let Some(a) = f.actor_id {
        qb.push(" and l.actor_id = ").push_bind(a);
    }
    if let Some(a) = &f.action {
        qb.push(" and l.action = ").push_bind(a.clone());
    }
    if let Some(e) = &f.entity {
        qb.push(" and l.entity = ").push_bind(e.clone());
    }
    if let Some(e) = &f.entity_id {
        qb.push(" and l.entity_id = ").push_bind(e.clone());
    }
    if let Some(o) = f.org_id {
        qb.push(" and l.org_id = ").push_bind(o);
    }
    if let Some(from) = f.from {
        qb.push(" and l.ts >= ").push_bind(from);
    }
    if let Some(to) = f.to {
        qb.push(" and l.ts < ").push_bind(to);
    }
    qb
}

/// One page of the entries `reach` covers that match `f`.
pub async fn list(
    conn: &mut PgConnection,
    reach: &Reach,
    f: &Filter,
    page: &PageRequest,
) -> Result<Page<AuditLog>, RecordError> {
    Ok(page.fetch(conn, select(reach, f), "l.id").await?)
}

/// The rows of an export after `after` (from the newest when `None`), `size` at a time, in the
/// order of [`list`].
pub async fn export_page(
    conn: &mut PgConnection,
    reach: &Reach,
    f: &Filter,
    after: Option<Cursor>,
    size: i64,
) -> Result<Page<AuditLog>, RecordError> {
    let page = PageRequest {
        limit: size,
        offset: None,
        sort: Sort {
            field: SORTS[0],
            desc: true,
        },
        after,
    };
    list(conn, reach, f, &page).await
}

/// The columns of the CSV export, in order.
pub const CSV_COLUMNS: &[&str] = &[
    "id",
    "seq",
    "ts",
    "actor_type",
    "actor_id",
    "actor_label",
    "action",
    "entity",
    "entity_id",
    "org_id",
    "ip",
    "request_id",
    "details",
];

impl AuditLog {
    /// Its CSV fields, in [`CSV_COLUMNS`] order (empty for a missing value, `details` as JSON).
    pub fn csv_fields(&self) -> [String; 13] {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let id = |v: Option<Uuid>| v.map(|u| u.to_string()).unwrap_or_default();
        [
            self.id.to_string(),
            self.seq.to_string(),
            self.ts.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            self.actor_type.clone(),
            id(self.actor_id),
            opt(&self.actor_label),
            self.action.clone(),
            opt(&self.entity),
            opt(&self.entity_id),
            id(self.org_id),
            opt(&self.ip),
            opt(&self.request_id),
            self.details.to_string(),
        ]
    }
}

/// One access to a patient's record, as the patient sees it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Access {
    pub id: Uuid,
    pub ts: DateTime<Utc>,
    /// `PATIENT_READ`, `PATIENT_LIST`, `PATIENT_UPDATE`, …
    pub action: String,
    pub actor_type: String,
    pub actor_id: Option<Uuid>,
    /// The person's name when the actor is a user.
    pub actor_name: Option<String>,
    /// What was read or changed (`record`, `vitals`, …), when the entry says.
    pub what: Option<String>,
}

impl Keyed for Access {
    fn sort_key(&self, _: &str) -> Value {
        json!(self.ts)
    }
    fn key_id(&self) -> Uuid {
        self.id
    }
}

/// Who read or changed the calling patient's record, newest first: the entries about them and the
/// list reads that included them (spec/04: `GET /audit/me/access-log`). Only a patient has one.
pub async fn accesses(
    conn: &mut PgConnection,
    caller: &Caller,
    page: &PageRequest,
) -> Result<Page<Access>, RecordError> {
    if caller.principal.kind() != PrincipalKind::Patient {
        return Err(RecordError::Forbidden(
            "the access log is the signed-in patient's own".into(),
        ));
    }
    let me = caller.id();
    let mut qb = QueryBuilder::new(
        "select l.id, l.ts, l.action, l.actor_type, l.actor_id, u.name as actor_name,
                l.details ->> 'what' as what
           from audit_logs l left join users u on u.id = l.actor_id and l.actor_type = 'user'
          where ((l.entity = 'patient' and l.entity_id = ",
    );
    qb.push_bind(me.to_string())
        .push(") or (l.details -> 'patient_ids') ? ")
        .push_bind(me.to_string())
        .push(")");
    Ok(page.fetch(conn, qb, "l.id").await?)
}
