//! Managing threshold rules (`/alerts/rules`): the platform defaults (superadmins), an
//! organization's overrides (its org_admins, `alert_rules.manage`) and a patient's own thresholds
//! (the same, plus the patient's care-team clinicians with `alerts.manage`). A patient's threshold is
//! a clinical setting: creating, changing or deleting one needs a `reason`, and every change is
//! audited (`ALERT_RULE_CHANGE`) with the rule before and after and that reason.
//!
//! Reading: every staff member sees the platform defaults; organization and patient rules are seen
//! by whoever sees that organization's patients (patient rules: that patient).

use chrono::{DateTime, Utc};
use hg_platform::audit::Action;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool, QueryBuilder};
use uuid::Uuid;

use crate::catalog::{AlertLevel, Permission};
use crate::patient;
use crate::records::{Caller, RecordError, optional_text};
use crate::telemetry::signals::SignalType;

const NOT_FOUND: RecordError = RecordError::NotFound("HG-RULE-NOT-FOUND", "no such alert rule");

/// A threshold rule.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AlertRule {
    pub id: Uuid,
    /// None: a platform default.
    pub org_id: Option<Uuid>,
    /// None: every patient of the organization.
    pub patient_id: Option<Uuid>,
    pub alert_type: String,
    pub signal_type: String,
    /// above or below.
    pub condition: String,
    pub threshold: f64,
    pub duration_s: i32,
    pub hysteresis: f64,
    pub level: String,
    pub enabled: bool,
    pub reason: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "r.id, r.org_id, r.patient_id, r.alert_type, r.signal_type, r.condition, r.threshold,
    r.duration_s, r.hysteresis, r.level, r.enabled, r.reason, r.created_by, r.created_at, r.updated_at";

/// A rule's settings, for creating (all but `enabled` and `reason` required) or changing (all
/// optional).
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    /// Creating only: the organization (absent: a platform default, superadmins only).
    pub org_id: Option<Uuid>,
    /// Creating only: the patient (their own threshold).
    pub patient_id: Option<Uuid>,
    pub alert_type: Option<String>,
    pub signal_type: Option<String>,
    pub condition: Option<String>,
    pub threshold: Option<f64>,
    pub duration_s: Option<i32>,
    pub hysteresis: Option<f64>,
    pub level: Option<String>,
    pub enabled: Option<bool>,
    /// Why (required for a patient's rule; kept in the audit entry).
    pub reason: Option<String>,
}

/// The rules the caller may see, optionally only those of one patient (theirs, their
/// organization's and the platform's: what applies to them).
pub async fn list(
    conn: &mut PgConnection,
    caller: &Caller,
    patient: Option<Uuid>,
) -> Result<Vec<AlertRule>, RecordError> {
    let mut qb = QueryBuilder::new(format!("select {COLUMNS} from alert_rules r where "));
    if let Some(pid) = patient {
        // Another organization's or an unknown patient: nothing applies that the caller may see.
        let Ok(p) = patient::visible(conn, caller, pid).await else {
            return Ok(Vec::new());
        };
        qb.push("(r.org_id is null or (r.org_id = ")
            .push_bind(p.org_id)
            .push(" and (r.patient_id is null or r.patient_id = ")
            .push_bind(pid)
            .push(")))");
    } else {
        qb.push("(r.org_id is null or (r.patient_id is null and r.org_id = any(")
            .push_bind(orgs_seen(conn, caller).await?)
            .push(")) or r.patient_id in (select p.id from patients p where true");
        caller.scope.push_patient_filter(&mut qb, "p");
        qb.push("))");
    }
    qb.push(" order by r.signal_type, r.alert_type, r.org_id nulls first, r.patient_id nulls first, r.threshold");
    Ok(qb.build_query_as().fetch_all(conn).await?)
}

/// The organizations whose patients the caller sees any of (or all, for a superadmin).
async fn orgs_seen(conn: &mut PgConnection, caller: &Caller) -> Result<Vec<Uuid>, RecordError> {
    let mut qb = QueryBuilder::new("select distinct p.org_id from patients p where true");
    caller.scope.push_patient_filter(&mut qb, "p");
    Ok(qb.build_query_scalar().fetch_all(conn).await?)
}

async fn one(conn: &mut PgConnection, caller: &Caller, id: Uuid) -> Result<AlertRule, RecordError> {
    let r = sqlx::query_as!(
        AlertRule,
        "select id, org_id, patient_id, alert_type, signal_type, condition, threshold, duration_s, hysteresis,
                level, enabled, reason, created_by, created_at, updated_at
           from alert_rules where id = $1",
        id
    )
    .fetch_optional(&mut *conn)
        .await?
        .ok_or(NOT_FOUND)?;
    let visible = match (r.org_id, r.patient_id) {
        (None, _) => true,
        (Some(_), Some(p)) => patient::visible(conn, caller, p).await.is_ok(),
        (Some(org), None) => {
            orgs_seen(conn, caller).await?.contains(&org) || caller.administers(org)
        }
    };
    if visible { Ok(r) } else { Err(NOT_FOUND) }
}

/// One rule.
pub async fn get(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<AlertRule, RecordError> {
    one(conn, caller, id).await
}

/// Whether the caller may change rules of this scope.
fn require_manage(
    caller: &Caller,
    org: Option<Uuid>,
    patient: Option<Uuid>,
) -> Result<(), RecordError> {
    let allowed = match (org, patient) {
        (None, _) => caller.is_superadmin(),
        (Some(o), None) => caller.can(Permission::AlertRulesManage, Some(o)),
        (Some(o), Some(_)) => {
            caller.can(Permission::AlertRulesManage, Some(o))
                || caller.can(Permission::AlertsManage, Some(o))
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(RecordError::Forbidden(match org {
            None => "only superadmins change the platform defaults".into(),
            Some(_) => "this needs the alert_rules.manage permission".into(),
        }))
    }
}

/// The validated settings of a rule.
struct Checked {
    alert_type: String,
    signal_type: String,
    condition: String,
    threshold: f64,
    duration_s: i32,
    hysteresis: f64,
    level: String,
    enabled: bool,
}

async fn check(conn: &mut PgConnection, c: Checked) -> Result<Checked, RecordError> {
    if !matches!(c.condition.as_str(), "above" | "below") {
        return Err(RecordError::invalid("condition", "is above or below"));
    }
    let Some(signal) = SignalType::parse(&c.signal_type) else {
        return Err(RecordError::invalid(
            "signal_type",
            "is no known signal type",
        ));
    };
    if signal.is_waveform() {
        return Err(RecordError::invalid(
            "signal_type",
            "thresholds apply to scalar signals, not ECG",
        ));
    }
    if !c.threshold.is_finite() {
        return Err(RecordError::invalid("threshold", "is a number"));
    }
    if !(0..=86_400).contains(&c.duration_s) {
        return Err(RecordError::invalid("duration_s", "is 0–86 400 seconds"));
    }
    if !c.hysteresis.is_finite() || c.hysteresis < 0.0 {
        return Err(RecordError::invalid("hysteresis", "is a number ≥ 0"));
    }
    let Some(level) = AlertLevel::parse(&c.level) else {
        return Err(RecordError::invalid(
            "level",
            "is low, medium, high or critical",
        ));
    };
    crate::alert::within_bounds(conn, &c.alert_type, level, "level").await?;
    Ok(c)
}

fn required<T>(v: Option<T>, field: &str) -> Result<T, RecordError> {
    v.ok_or_else(|| RecordError::invalid(field, "is required"))
}

/// Creates a rule.
pub async fn create(
    pool: &PgPool,
    caller: &Caller,
    input: RuleInput,
) -> Result<AlertRule, RecordError> {
    let mut tx = pool.begin().await?;
    let org = match input.patient_id {
        Some(pid) => {
            let p = patient::visible(&mut tx, caller, pid)
                .await
                .map_err(|_| RecordError::invalid("patient_id", "is no patient you can see"))?;
            if input.org_id.is_some_and(|o| o != p.org_id) {
                return Err(RecordError::invalid(
                    "org_id",
                    "is not the patient's organization",
                ));
            }
            Some(p.org_id)
        }
        None => input.org_id,
    };
    require_manage(caller, org, input.patient_id)?;
    let reason = optional_text("reason", input.reason.as_deref(), 500)?;
    if input.patient_id.is_some() && reason.is_none() {
        return Err(RecordError::invalid(
            "reason",
            "is required for a patient's threshold",
        ));
    }
    let c = check(
        &mut tx,
        Checked {
            alert_type: required(input.alert_type, "alert_type")?,
            signal_type: required(input.signal_type, "signal_type")?,
            condition: required(input.condition, "condition")?,
            threshold: required(input.threshold, "threshold")?,
            duration_s: input.duration_s.unwrap_or(0),
            hysteresis: input.hysteresis.unwrap_or(0.0),
            level: required(input.level, "level")?,
            enabled: input.enabled.unwrap_or(true),
        },
    )
    .await?;
    let id = sqlx::query_scalar!(
        "insert into alert_rules (org_id, patient_id, alert_type, signal_type, condition, threshold, duration_s,
                                  hysteresis, level, enabled, reason, created_by)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) returning id",
        org,
        input.patient_id,
        c.alert_type,
        c.signal_type,
        c.condition,
        c.threshold,
        c.duration_s,
        c.hysteresis,
        c.level,
        c.enabled,
        reason,
        caller.id()
    )
    .fetch_one(&mut *tx)
    .await?;
    let rule = one(&mut tx, caller, id).await?;
    audit(&mut tx, caller, &rule, "created", None, reason.as_deref()).await?;
    tx.commit().await?;
    Ok(rule)
}

/// Changes a rule (its scope stays).
pub async fn update(
    pool: &PgPool,
    caller: &Caller,
    id: Uuid,
    input: RuleInput,
) -> Result<AlertRule, RecordError> {
    if input.org_id.is_some() || input.patient_id.is_some() {
        let field = if input.org_id.is_some() {
            "org_id"
        } else {
            "patient_id"
        };
        return Err(RecordError::invalid(
            field,
            "cannot change: create a rule of the other scope",
        ));
    }
    let mut tx = pool.begin().await?;
    let before = one(&mut tx, caller, id).await?;
    require_manage(caller, before.org_id, before.patient_id)?;
    let reason = optional_text("reason", input.reason.as_deref(), 500)?;
    if before.patient_id.is_some() && reason.is_none() {
        return Err(RecordError::invalid(
            "reason",
            "is required to change a patient's threshold",
        ));
    }
    let c = check(
        &mut tx,
        Checked {
            alert_type: input.alert_type.unwrap_or(before.alert_type.clone()),
            signal_type: input.signal_type.unwrap_or(before.signal_type.clone()),
            condition: input.condition.unwrap_or(before.condition.clone()),
            threshold: input.threshold.unwrap_or(before.threshold),
            duration_s: input.duration_s.unwrap_or(before.duration_s),
            hysteresis: input.hysteresis.unwrap_or(before.hysteresis),
            level: input.level.unwrap_or(before.level.clone()),
            enabled: input.enabled.unwrap_or(before.enabled),
        },
    )
    .await?;
    sqlx::query!(
        "update alert_rules set alert_type = $2, signal_type = $3, condition = $4, threshold = $5,
                duration_s = $6, hysteresis = $7, level = $8, enabled = $9,
                reason = coalesce($10, reason), updated_at = now()
          where id = $1",
        id,
        c.alert_type,
        c.signal_type,
        c.condition,
        c.threshold,
        c.duration_s,
        c.hysteresis,
        c.level,
        c.enabled,
        reason
    )
    .execute(&mut *tx)
    .await?;
    let after = one(&mut tx, caller, id).await?;
    audit(
        &mut tx,
        caller,
        &after,
        "updated",
        Some(&before),
        reason.as_deref(),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Deletes a rule (a patient's needs a `reason`).
pub async fn delete(
    pool: &PgPool,
    caller: &Caller,
    id: Uuid,
    reason: Option<&str>,
) -> Result<(), RecordError> {
    let mut tx = pool.begin().await?;
    let before = one(&mut tx, caller, id).await?;
    require_manage(caller, before.org_id, before.patient_id)?;
    let reason = optional_text("reason", reason, 500)?;
    if before.patient_id.is_some() && reason.is_none() {
        return Err(RecordError::invalid(
            "reason",
            "is required to remove a patient's threshold",
        ));
    }
    sqlx::query!("delete from alert_rules where id = $1", id)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut tx,
        caller,
        &before,
        "deleted",
        Some(&before),
        reason.as_deref(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

fn settings(r: &AlertRule) -> Value {
    json!({"alert_type": r.alert_type, "signal_type": r.signal_type, "condition": r.condition,
           "threshold": r.threshold, "duration_s": r.duration_s, "hysteresis": r.hysteresis,
           "level": r.level, "enabled": r.enabled})
}

async fn audit(
    tx: &mut PgConnection,
    caller: &Caller,
    rule: &AlertRule,
    change: &str,
    before: Option<&AlertRule>,
    reason: Option<&str>,
) -> Result<(), RecordError> {
    caller
        .audit(Action::AlertRuleChange)
        .entity("alert_rule", rule.id)
        .org(rule.org_id)
        .details(json!({
            "change": change, "patient_id": rule.patient_id, "reason": reason,
            "before": before.map(settings), "after": (change != "deleted").then(|| settings(rule)),
        }))
        .record(tx)
        .await?;
    Ok(())
}
