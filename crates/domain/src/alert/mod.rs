//! Alerts (spec/05 "Alert lifecycle"): raised by triggers ([`raise`]), moved through their life by
//! people ([`actions`]) along the one state machine ([`lifecycle`]), escalated on stored deadlines,
//! and read with their history ([`read`]). Every change writes an `alert_history` row (whose id
//! orders the live feed) and an event, in the change's transaction.
//!
//! Who may do what: reading follows the patient read scope plus `alerts.read`; acknowledging needs
//! `alerts.ack`; assigning, resolving, closing and raising by hand need `alerts.manage` — each in the
//! alert's organization.

pub mod actions;
pub mod feed;
pub mod lifecycle;
pub mod raise;
pub mod read;
pub mod stats;
pub mod watch;

use chrono::Duration;
use hg_platform::db::DbError;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::catalog::AlertLevel;
use crate::records::RecordError;

pub(crate) const NOT_FOUND: RecordError =
    RecordError::NotFound("HG-ALERT-NOT-FOUND", "no such alert");

/// How long an unacknowledged alert waits before it escalates, by level (spec/05: critical 2 min,
/// high 5 min, medium 15 min; low alerts do not escalate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EscalationPolicy {
    pub critical: Duration,
    pub high: Duration,
    pub medium: Duration,
}

impl Default for EscalationPolicy {
    fn default() -> Self {
        Self {
            critical: Duration::minutes(2),
            high: Duration::minutes(5),
            medium: Duration::minutes(15),
        }
    }
}

impl EscalationPolicy {
    /// How long an alert of `level` waits before its next escalation; None: it does not escalate.
    pub fn deadline(&self, level: AlertLevel) -> Option<Duration> {
        match level {
            AlertLevel::Critical => Some(self.critical),
            AlertLevel::High => Some(self.high),
            AlertLevel::Medium => Some(self.medium),
            AlertLevel::Low => None,
        }
    }
}

/// Checks that `alert_type` exists and that `level` is within its bounds (`alert_types.min_level`
/// to `max_level`); the level's problem is named on `level_field`.
pub(crate) async fn within_bounds(
    conn: &mut PgConnection,
    alert_type: &str,
    level: AlertLevel,
    level_field: &str,
) -> Result<(), RecordError> {
    let bounds = sqlx::query!(
        r#"select lmin.weight as "min_w!", lmax.weight as "max_w!", lv.weight as "w!"
             from alert_types t
             join alert_levels lmin on lmin.code = t.min_level
             join alert_levels lmax on lmax.code = t.max_level
             join alert_levels lv on lv.code = $2
            where t.code = $1"#,
        alert_type,
        level.code()
    )
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| RecordError::invalid("alert_type", "is no known alert type"))?;
    if bounds.w < bounds.min_w || bounds.w > bounds.max_w {
        return Err(RecordError::invalid(
            level_field,
            format!("is outside the bounds of {alert_type}"),
        ));
    }
    Ok(())
}

/// Writes one history row.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn history(
    conn: &mut PgConnection,
    org: Uuid,
    alert: Uuid,
    patient: Uuid,
    action: &str,
    from_status: Option<&str>,
    to_status: &str,
    level: &str,
    actor: Option<Uuid>,
    details: Value,
) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar!(
        "insert into alert_history (org_id, alert_id, patient_id, action, from_status, to_status,
                                    alert_level, actor_id, details)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning id",
        org,
        alert,
        patient,
        action,
        from_status,
        to_status,
        level,
        actor,
        details
    )
    .fetch_one(conn)
    .await?)
}
