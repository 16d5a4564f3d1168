//! What people do to alerts: acknowledge, resolve (with an outcome), close, assign, and raise one by
//! hand. A transition is decided by [`lifecycle`](super::lifecycle) and applied with a conditional
//! update (`where status = any(sources)`), so two people acknowledging at once make one
//! acknowledgement and the other gets 422 `HG-ALERT-TRANSITION` — never a lost update. Each writes
//! its own row (`alert_ack`, `alert_resolution`, `alert_assignment`), a history row, an event and an
//! audit entry, in one transaction.

use hg_platform::audit::Action;
use hg_platform::events::{NewEvent, enqueue};
use serde::Deserialize;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::lifecycle::{ILLEGAL, Transition};
use super::raise::{Outcome, Trigger, raise};
use super::read::{AlertDetail, detail, visible};
use super::{EscalationPolicy, NOT_FOUND, history};
use crate::catalog::{AlertLevel, AlertStatus, Permission};
use crate::patient;
use crate::records::{Caller, RecordError, optional_text};

/// How a resolution ended.
pub const OUTCOMES: &[&str] = &[
    "resolved",
    "false_positive",
    "escalated",
    "stabilized",
    "transferred",
];

/// What a person adds to a transition.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionInput {
    /// Free text kept with the acknowledgement or resolution (at most 2 000 characters).
    pub note: Option<String>,
    /// For a resolution: resolved, false_positive, escalated, stabilized or transferred.
    pub outcome: Option<String>,
}

/// Applies `t` to alert `id` for the caller.
pub async fn transition(
    pool: &PgPool,
    caller: &Caller,
    id: Uuid,
    t: Transition,
    input: TransitionInput,
) -> Result<AlertDetail, RecordError> {
    let mut tx = pool.begin().await?;
    let out = transition_in(&mut tx, caller, id, t, input).await?;
    tx.commit().await?;
    Ok(out)
}

async fn transition_in(
    tx: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
    t: Transition,
    input: TransitionInput,
) -> Result<AlertDetail, RecordError> {
    let alert = visible(tx, caller, id).await?;
    caller.require(
        if t == Transition::Ack {
            Permission::AlertsAck
        } else {
            Permission::AlertsManage
        },
        Some(alert.org_id),
    )?;
    let note = optional_text("note", input.note.as_deref(), 2000)?;
    let outcome = match (t, input.outcome.as_deref()) {
        (Transition::Resolve, Some(o)) if OUTCOMES.contains(&o) => Some(o.to_owned()),
        (Transition::Resolve, Some(_)) => {
            return Err(RecordError::invalid(
                "outcome",
                format!("is one of {}", OUTCOMES.join(", ")),
            ));
        }
        (Transition::Resolve, None) => Some("resolved".to_owned()),
        (_, Some(_)) => {
            return Err(RecordError::invalid(
                "outcome",
                "is given only when resolving",
            ));
        }
        (_, None) => None,
    };
    // Conditional on the status read: a concurrent transition makes this one illegal, not lost.
    // A concurrent change that still allows it (the notifier moving created → notified while a
    // clinician acknowledges) is read again and the transition applied to the new status.
    let mut alert = alert;
    let mut attempts = 0;
    let (from, to) = loop {
        let from = AlertStatus::parse(&alert.status).ok_or(RecordError::Unavailable)?;
        let illegal = || RecordError::Unprocessable {
            id: ILLEGAL,
            message: format!(
                "an alert that is {} cannot be {}",
                alert.status,
                t.history_action()
            ),
        };
        let to = t.apply(from).ok_or_else(illegal)?;
        let changed = sqlx::query!(
            "update alerts
                set status = $2, updated_at = now(),
                    acknowledged_at = case when $2 = 'ack' then now() else acknowledged_at end,
                    resolved_at = case when $2 = 'resolved' then now() else resolved_at end,
                    closed_at = case when $2 = 'closed' then now() else closed_at end,
                    escalate_at = case when $2 in ('ack', 'resolved', 'closed') then null else escalate_at end
              where id = $1 and status = $3",
            id,
            to.code(),
            from.code()
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 1 {
            break (from, to);
        }
        attempts += 1;
        if attempts == 3 {
            return Err(illegal());
        }
        alert = visible(tx, caller, id).await?;
    };
    match t {
        Transition::Ack => {
            sqlx::query!(
                "insert into alert_ack (org_id, alert_id, ack_by, note) values ($1, $2, $3, $4)",
                alert.org_id,
                id,
                caller.id(),
                note
            )
            .execute(&mut *tx)
            .await?;
        }
        Transition::Resolve => {
            sqlx::query!(
                "insert into alert_resolution (org_id, alert_id, resolved_by, outcome, note)
                 values ($1, $2, $3, $4, $5)",
                alert.org_id,
                id,
                caller.id(),
                outcome,
                note
            )
            .execute(&mut *tx)
            .await?;
        }
        Transition::Notify | Transition::Close => {}
    }
    let details = json!({"note": note, "outcome": outcome});
    history(
        tx,
        alert.org_id,
        id,
        alert.patient_id,
        t.history_action(),
        Some(from.code()),
        to.code(),
        &alert.alert_level,
        Some(caller.id()),
        details.clone(),
    )
    .await?;
    let event_type = match t {
        Transition::Ack => "alert.acknowledged",
        Transition::Resolve => "alert.resolved",
        Transition::Notify | Transition::Close => "alert.updated",
    };
    announce(
        tx,
        caller,
        event_type,
        &alert.org_id,
        id,
        json!({
            "alert_id": id, "patient_id": alert.patient_id, "alert_type": alert.alert_type,
            "alert_level": alert.alert_level, "status": to.code(), "previous_status": from.code(),
            "outcome": outcome,
        }),
    )
    .await?;
    caller
        .audit(match t {
            Transition::Ack => Action::AlertAck,
            Transition::Resolve => Action::AlertResolve,
            Transition::Notify | Transition::Close => Action::AlertClose,
        })
        .entity("alert", id)
        .org(alert.org_id)
        .details(json!({"patient_id": alert.patient_id, "from": from.code(), "to": to.code(), "outcome": outcome}))
        .record(tx)
        .await?;
    let alert = visible(tx, caller, id).await?;
    detail(tx, alert).await
}

async fn announce(
    tx: &mut PgConnection,
    caller: &Caller,
    event_type: &str,
    org: &Uuid,
    id: Uuid,
    data: serde_json::Value,
) -> Result<(), RecordError> {
    enqueue(
        tx,
        NewEvent {
            event_type: event_type.into(),
            aggregate: "alert".into(),
            aggregate_id: Some(id),
            org_id: Some(*org),
            actor: Some(json!({"type": caller.principal.kind(), "id": caller.id()})),
            request_id: caller.meta.request_id.clone(),
            data,
        },
    )
    .await?;
    Ok(())
}

/// Assigns alert `id` to `user` (a staff member of the alert's organization, or of the patient's
/// care teams).
pub async fn assign(
    pool: &PgPool,
    caller: &Caller,
    id: Uuid,
    user: Uuid,
) -> Result<AlertDetail, RecordError> {
    let mut tx = pool.begin().await?;
    let out = assign_in(&mut tx, caller, id, user).await?;
    tx.commit().await?;
    Ok(out)
}

async fn assign_in(
    tx: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
    user: Uuid,
) -> Result<AlertDetail, RecordError> {
    let alert = visible(tx, caller, id).await?;
    caller.require(Permission::AlertsManage, Some(alert.org_id))?;
    let status = AlertStatus::parse(&alert.status).ok_or(RecordError::Unavailable)?;
    if !super::lifecycle::is_open(status) {
        return Err(RecordError::Unprocessable {
            id: ILLEGAL,
            message: format!("an alert that is {} cannot be assigned", alert.status),
        });
    }
    let member = sqlx::query_scalar!(
        r#"select exists (select 1 from user_org_membership m join users u on u.id = m.user_id
                           where m.user_id = $1 and m.org_id = $2 and u.status = 'active')
               or exists (select 1 from care_team_member m join patient_care_team pct on pct.team_id = m.team_id
                           where m.user_id = $1 and pct.patient_id = $3) as "member!""#,
        user,
        alert.org_id,
        alert.patient_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if !member {
        return Err(RecordError::invalid(
            "user_id",
            "is not an active member of the alert's organization or the patient's care teams",
        ));
    }
    sqlx::query!(
        "insert into alert_assignment (org_id, alert_id, assignee_user_id, assigned_by)
         values ($1, $2, $3, $4)",
        alert.org_id,
        id,
        user,
        caller.id()
    )
    .execute(&mut *tx)
    .await?;
    history(
        tx,
        alert.org_id,
        id,
        alert.patient_id,
        "assigned",
        Some(&alert.status),
        &alert.status,
        &alert.alert_level,
        Some(caller.id()),
        json!({"assignees": [user], "automatic": false}),
    )
    .await?;
    announce(
        tx,
        caller,
        "alert.updated",
        &alert.org_id,
        id,
        json!({
            "alert_id": id, "patient_id": alert.patient_id, "alert_type": alert.alert_type,
            "alert_level": alert.alert_level, "status": alert.status, "assigned_to": user,
        }),
    )
    .await?;
    caller
        .audit(Action::AlertAssign)
        .entity("alert", id)
        .org(alert.org_id)
        .details(json!({"patient_id": alert.patient_id, "assignee": user}))
        .record(tx)
        .await?;
    let alert = visible(tx, caller, id).await?;
    detail(tx, alert).await
}

/// A manual alert.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAlert {
    pub patient_id: Uuid,
    /// An alert type code (`TACHY`, `DESAT`, …).
    pub alert_type: String,
    /// low, medium, high or critical; within the type's bounds.
    pub alert_level: String,
    pub description: Option<String>,
}

/// Raises an alert by hand (deduplicated like any trigger: an open alert of the same patient and
/// type counts one more occurrence). Returns the alert and whether it is new.
pub async fn create(
    pool: &PgPool,
    caller: &Caller,
    input: NewAlert,
    policy: &EscalationPolicy,
) -> Result<(AlertDetail, bool), RecordError> {
    let mut tx = pool.begin().await?;
    let out = create_in(&mut tx, caller, input, policy).await?;
    tx.commit().await?;
    Ok(out)
}

async fn create_in(
    tx: &mut PgConnection,
    caller: &Caller,
    input: NewAlert,
    policy: &EscalationPolicy,
) -> Result<(AlertDetail, bool), RecordError> {
    let p = patient::visible(tx, caller, input.patient_id)
        .await
        .map_err(|_| RecordError::invalid("patient_id", "is no patient you can see"))?;
    caller.require(Permission::AlertsManage, Some(p.org_id))?;
    let level = AlertLevel::parse(&input.alert_level)
        .ok_or_else(|| RecordError::invalid("alert_level", "is low, medium, high or critical"))?;
    super::within_bounds(tx, &input.alert_type, level, "alert_level").await?;
    let description = optional_text("description", input.description.as_deref(), 2000)?;
    let trigger = Trigger {
        org_id: p.org_id,
        patient_id: p.id,
        alert_type: input.alert_type,
        level,
        rule_id: None,
        model_id: None,
        inference_id: None,
        description: description.unwrap_or_else(|| "raised by hand".to_owned()),
        evidence: json!({"manual": true}),
        at: chrono::Utc::now(),
        actor: Some(caller.id()),
        request_id: caller.meta.request_id.clone(),
    };
    let raised = raise(tx, &trigger, policy).await?;
    let alert = visible(tx, caller, raised.alert_id)
        .await
        .map_err(|_| NOT_FOUND)?;
    Ok((detail(tx, alert).await?, raised.outcome == Outcome::Created))
}
