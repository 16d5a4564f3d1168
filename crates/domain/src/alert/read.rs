//! Reading alerts: a list scoped like patient reads (an alert is visible to whoever sees its
//! patient), filtered and keyset-paginated, and one alert with its history, assignees,
//! acknowledgements and resolution. Reading one alert is audited as a patient-data read.

use chrono::{DateTime, Utc};
use hg_platform::page::{Keyed, Page, PageRequest, SortField, SqlType};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{PgConnection, QueryBuilder};
use uuid::Uuid;

use super::NOT_FOUND;
use crate::patient;
use crate::records::{Caller, RecordError};

/// An alert.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Alert {
    pub id: Uuid,
    pub org_id: Uuid,
    pub patient_id: Uuid,
    pub alert_type: String,
    pub alert_level: String,
    pub status: String,
    pub description: Option<String>,
    pub source_rule: Option<Uuid>,
    pub created_by_model: Option<Uuid>,
    pub source_inference: Option<Uuid>,
    pub occurrence_count: i32,
    pub escalation_level: i32,
    pub last_seen_at: DateTime<Utc>,
    pub escalate_at: Option<DateTime<Utc>>,
    pub evidence: Option<Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl Keyed for Alert {
    fn sort_key(&self, _: &str) -> Value {
        json!(self.created_at)
    }
    fn key_id(&self) -> Uuid {
        self.id
    }
}

pub(crate) const COLUMNS: &str =
    "a.id, a.org_id, a.patient_id, a.alert_type, a.alert_level, a.status,
    a.description, a.source_rule, a.created_by_model, a.source_inference, a.occurrence_count,
    a.escalation_level, a.last_seen_at, a.escalate_at, a.evidence, a.created_at, a.updated_at,
    a.acknowledged_at, a.resolved_at, a.closed_at";

/// Sortable fields of the alert list.
pub const SORTS: &[SortField] = &[SortField {
    name: "created_at",
    column: "a.created_at",
    ty: SqlType::Timestamp,
}];

/// Filters of the alert list.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub status: Option<String>,
    pub level: Option<String>,
    pub alert_type: Option<String>,
    pub patient_id: Option<Uuid>,
    pub org_id: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only alerts assigned to this user.
    pub assigned_to: Option<Uuid>,
    /// Only open alerts (created, notified, ack).
    pub open: bool,
}

/// The alerts the caller may see, matching `f`.
pub async fn list(
    conn: &mut PgConnection,
    caller: &Caller,
    f: &Filter,
    page: &PageRequest,
) -> Result<Page<Alert>, RecordError> {
    let mut qb = QueryBuilder::new(format!(
        "select {COLUMNS} from alerts a join patients p on p.id = a.patient_id where true"
    ));
    caller.scope.push_patient_filter(&mut qb, "p");
    if let Some(s) = &f.status {
        qb.push(" and a.status = ").push_bind(s.clone());
    }
    if f.open {
        qb.push(" and a.status in ('created', 'notified', 'ack')");
    }
    if let Some(l) = &f.level {
        qb.push(" and a.alert_level = ").push_bind(l.clone());
    }
    if let Some(t) = &f.alert_type {
        qb.push(" and a.alert_type = ").push_bind(t.clone());
    }
    if let Some(p) = f.patient_id {
        qb.push(" and a.patient_id = ").push_bind(p);
    }
    if let Some(o) = f.org_id {
        qb.push(" and a.org_id = ").push_bind(o);
    }
    if let Some(from) = f.from {
        qb.push(" and a.created_at >= ").push_bind(from);
    }
    if let Some(to) = f.to {
        qb.push(" and a.created_at < ").push_bind(to);
    }
    if let Some(user) = f.assigned_to {
        qb.push(" and exists (select 1 from alert_assignment aa where aa.alert_id = a.id and aa.assignee_user_id = ")
            .push_bind(user)
            .push(")");
    }
    Ok(page.fetch(conn, qb, "a.id").await?)
}

/// An alert the caller may see (not audited: for the actions, which audit what they do).
pub(crate) async fn visible(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<Alert, RecordError> {
    let mut qb = QueryBuilder::new(format!(
        "select {COLUMNS} from alerts a join patients p on p.id = a.patient_id where a.id = "
    ));
    qb.push_bind(id);
    caller.scope.push_patient_filter(&mut qb, "p");
    qb.build_query_as()
        .fetch_optional(conn)
        .await?
        .ok_or(NOT_FOUND)
}

/// One step of an alert's history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// Also the live feed's event id.
    pub id: i64,
    pub action: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub alert_level: String,
    pub actor_id: Option<Uuid>,
    pub details: Value,
    pub at: DateTime<Utc>,
}

/// Someone an alert is assigned to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Assignee {
    pub user_id: Uuid,
    pub name: String,
    pub assigned_at: DateTime<Utc>,
}

/// An alert with what happened to it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertDetail {
    #[serde(flatten)]
    pub alert: Alert,
    pub assignees: Vec<Assignee>,
    pub history: Vec<HistoryEntry>,
    /// Every notification sent or planned for it (`hg_domain::notify`), oldest first.
    pub deliveries: Vec<crate::notify::deliver::Delivery>,
}

/// One alert with its history and assignees (audited as a read of the patient's data).
pub async fn get(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<AlertDetail, RecordError> {
    let alert = visible(conn, caller, id).await?;
    let p = patient::visible(conn, caller, alert.patient_id).await?;
    patient::read_audit(conn, caller, &p, "alert").await?;
    detail(conn, alert).await
}

pub(crate) async fn detail(
    conn: &mut PgConnection,
    alert: Alert,
) -> Result<AlertDetail, RecordError> {
    let history = sqlx::query_as!(
        HistoryEntry,
        "select id, action, from_status, to_status, alert_level, actor_id, details, at
           from alert_history where alert_id = $1 order by id",
        alert.id
    )
    .fetch_all(&mut *conn)
    .await?;
    let assignees = sqlx::query_as!(
        Assignee,
        r#"select distinct on (aa.assignee_user_id) aa.assignee_user_id as user_id, u.name, aa.assigned_at
             from alert_assignment aa join users u on u.id = aa.assignee_user_id
            where aa.alert_id = $1 order by aa.assignee_user_id, aa.assigned_at"#,
        alert.id
    )
    .fetch_all(&mut *conn)
    .await?;
    let deliveries = crate::notify::deliver::rows(conn, alert.id).await?;
    Ok(AlertDetail {
        alert,
        assignees,
        history,
        deliveries,
    })
}
