//! Raising an alert from a trigger (a rule that held, a model above its threshold, a silent device,
//! a clinician's manual alert), race-free: while an alert of the same (patient, type) is open, a new
//! trigger updates it — one more occurrence, a later `last_seen_at`, a level that only rises — rather
//! than opening another. The open-alert unique index (`alerts_open_dedup_key`) decides, not a read
//! followed by a write, so fifty concurrent triggers make one alert with fifty occurrences.
//!
//! A new alert is assigned to every member of the patient's care teams, gets its escalation
//! deadline, a history row per step and an `alert.created` event, in the trigger's transaction. A
//! repeat writes a `repeated` history row; a repeat that raises the level also an `alert.updated`
//! event (the notifier notifies again only then) and, while unacknowledged, a nearer deadline.

use chrono::{DateTime, Utc};
use hg_platform::audit::{Action, ActorType, AuditEntry};
use hg_platform::db::DbError;
use hg_platform::events::{NewEvent, enqueue};
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{EscalationPolicy, history};
use crate::catalog::AlertLevel;

/// Why an alert is raised.
#[derive(Clone, Debug)]
pub struct Trigger {
    pub org_id: Uuid,
    pub patient_id: Uuid,
    /// An `alert_types` code.
    pub alert_type: String,
    pub level: AlertLevel,
    pub rule_id: Option<Uuid>,
    pub model_id: Option<Uuid>,
    pub inference_id: Option<Uuid>,
    pub description: String,
    /// What a reviewer needs to see why it fired (the values, the rule, an ECG strip reference).
    pub evidence: Value,
    /// When the triggering condition was seen (sample time).
    pub at: DateTime<Utc>,
    /// Who raised it: None for the platform (rules, models, the offline watch), or a clinician.
    pub actor: Option<Uuid>,
    pub request_id: Option<String>,
}

/// What raising did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A new alert.
    Created,
    /// The open alert counted one more occurrence.
    Repeated,
    /// The open alert counted one more occurrence at a higher level.
    LevelRaised,
}

/// The alert a trigger landed on.
#[derive(Clone, Copy, Debug)]
pub struct Raised {
    pub alert_id: Uuid,
    pub outcome: Outcome,
}

/// The key of the open alert a trigger dedupes on.
pub fn dedup_key(patient: Uuid, alert_type: &str) -> String {
    format!("{patient}:{alert_type}")
}

/// Raises `t` on `conn` (inside the caller's transaction).
pub async fn raise(
    conn: &mut PgConnection,
    t: &Trigger,
    policy: &EscalationPolicy,
) -> Result<Raised, DbError> {
    let key = dedup_key(t.patient_id, &t.alert_type);
    // Twice at most: an open alert closed between the insert's conflict and the update is gone, and
    // the second insert then succeeds.
    for _ in 0..3 {
        let escalate_at = policy.deadline(t.level).map(|d| Utc::now() + d);
        let inserted = sqlx::query_scalar!(
            "insert into alerts (org_id, patient_id, alert_type, alert_level, source_rule, created_by_model,
                                 source_inference, description, dedup_key, evidence, last_seen_at, escalate_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             on conflict (dedup_key) where status in ('created', 'notified', 'ack') do nothing
             returning id",
            t.org_id,
            t.patient_id,
            t.alert_type,
            t.level.code(),
            t.rule_id,
            t.model_id,
            t.inference_id,
            t.description,
            key,
            t.evidence,
            t.at,
            escalate_at
        )
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(id) = inserted {
            created(conn, t, id).await?;
            return Ok(Raised {
                alert_id: id,
                outcome: Outcome::Created,
            });
        }
        // The open alert, locked and read before it changes: its level before this trigger.
        let updated = sqlx::query!(
            r#"update alerts a
                  set occurrence_count = a.occurrence_count + 1,
                      last_seen_at = greatest(a.last_seen_at, $2),
                      alert_level = case when lv_new.weight > lv_old.weight then $3 else a.alert_level end,
                      escalate_at = case when lv_new.weight > lv_old.weight and a.status <> 'ack'
                                         then least(a.escalate_at, $4) else a.escalate_at end,
                      updated_at = now()
                 from (select id, alert_level as old_level from alerts
                        where dedup_key = $1 and status in ('created', 'notified', 'ack') for update) o,
                      alert_levels lv_old, alert_levels lv_new
                where a.id = o.id and lv_old.code = o.old_level and lv_new.code = $3
            returning a.id, a.status, a.alert_level, o.old_level as "old_level!""#,
            key,
            t.at,
            t.level.code(),
            escalate_at
        )
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = updated else {
            continue;
        };
        let rose = row.alert_level != row.old_level;
        history(
            conn,
            t.org_id,
            row.id,
            t.patient_id,
            if rose { "level_raised" } else { "repeated" },
            Some(&row.status),
            &row.status,
            &row.alert_level,
            t.actor,
            json!({"from_level": row.old_level, "trigger": trigger_details(t)}),
        )
        .await?;
        if rose {
            event(
                conn,
                "alert.updated",
                t,
                row.id,
                json!({"alert_id": row.id, "patient_id": t.patient_id, "alert_type": t.alert_type,
                       "alert_level": row.alert_level, "previous_level": row.old_level,
                       "status": row.status, "level_raised": true}),
            )
            .await?;
        }
        return Ok(Raised {
            alert_id: row.id,
            outcome: if rose {
                Outcome::LevelRaised
            } else {
                Outcome::Repeated
            },
        });
    }
    Err(DbError::Unavailable(sqlx::Error::Protocol(
        "the open alert kept changing while a trigger was raised".into(),
    )))
}

fn trigger_details(t: &Trigger) -> Value {
    json!({"level": t.level.code(), "at": t.at, "rule_id": t.rule_id, "inference_id": t.inference_id,
           "evidence": t.evidence})
}

/// What follows a new alert: history, assignment to the care team, the event and the audit entry.
async fn created(conn: &mut PgConnection, t: &Trigger, id: Uuid) -> Result<(), DbError> {
    history(
        conn,
        t.org_id,
        id,
        t.patient_id,
        "created",
        None,
        "created",
        t.level.code(),
        t.actor,
        trigger_details(t),
    )
    .await?;
    let assignees = sqlx::query_scalar!(
        "insert into alert_assignment (org_id, alert_id, assignee_user_id, assigned_by)
         select distinct $1::uuid, $2::uuid, m.user_id, $4::uuid
           from patient_care_team pct
           join care_team_member m on m.team_id = pct.team_id
           join users u on u.id = m.user_id and u.status = 'active'
          where pct.patient_id = $3
         returning assignee_user_id",
        t.org_id,
        id,
        t.patient_id,
        t.actor
    )
    .fetch_all(&mut *conn)
    .await?;
    if !assignees.is_empty() {
        history(
            conn,
            t.org_id,
            id,
            t.patient_id,
            "assigned",
            Some("created"),
            "created",
            t.level.code(),
            t.actor,
            json!({"assignees": assignees, "automatic": true}),
        )
        .await?;
    }
    event(
        conn,
        "alert.created",
        t,
        id,
        json!({"alert_id": id, "patient_id": t.patient_id, "alert_type": t.alert_type,
               "alert_level": t.level.code(), "status": "created", "assignees": assignees,
               "rule_id": t.rule_id, "inference_id": t.inference_id, "description": t.description}),
    )
    .await?;
    let (actor_type, actor) = match t.actor {
        Some(user) => (ActorType::User, Some(user)),
        None => (ActorType::System, None),
    };
    let mut entry = AuditEntry::new(actor_type, Action::AlertCreate)
        .actor(actor, t.actor.is_none().then(|| "alert-engine".to_owned()))
        .entity("alert", id)
        .org(t.org_id)
        .details(json!({"patient_id": t.patient_id, "alert_type": t.alert_type, "level": t.level.code()}));
    entry.request_id = t.request_id.clone();
    entry.record(conn).await?;
    Ok(())
}

async fn event(
    conn: &mut PgConnection,
    event_type: &str,
    t: &Trigger,
    id: Uuid,
    data: Value,
) -> Result<(), DbError> {
    enqueue(
        conn,
        NewEvent {
            event_type: event_type.into(),
            aggregate: "alert".into(),
            aggregate_id: Some(id),
            org_id: Some(t.org_id),
            actor: Some(match t.actor {
                Some(user) => json!({"type": "user", "id": user}),
                None => json!({"type": "system", "id": "alert-engine"}),
            }),
            request_id: t.request_id.clone(),
            data,
        },
    )
    .await?;
    Ok(())
}
