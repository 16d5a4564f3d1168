//! What the alert component watches over time: escalation of unacknowledged alerts on their stored
//! deadlines, and devices gone silent.
//!
//! **Escalation** (spec/05): an alert still created or notified when its `escalate_at` passes
//! escalates — `escalation_level` + 1, the next deadline stored (the same level's wait again, so it
//! repeats until someone acknowledges), a history row, an `alert.escalated` event naming the circle
//! to reach (1: the organization's admins, 2: the patient's primary caregiver, then everyone again)
//! and an audit entry, in one transaction per alert. The deadline lives in the row and due alerts are
//! claimed with `for update skip locked`, so a restart neither loses nor repeats an escalation and two
//! processes never escalate one alert twice.
//!
//! **Device offline**: a device with an open stream whose last data (`devices.last_seen_at`, or the
//! stream's start when it never sent any) is older than `DEVICE_OFFLINE_AFTER` raises DEVICE_OFFLINE
//! (low) for its patient — once per silence: not again while an alert of that silence exists, even
//! if a person resolved it. Data arriving again resolves the open DEVICE_OFFLINE alert of the
//! patient ([`clear_offline`]).

use chrono::{Duration, Utc};
use hg_platform::audit::{Action, ActorType, AuditEntry};
use hg_platform::db::DbError;
use hg_platform::events::{NewEvent, enqueue};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::raise::{Trigger, raise};
use super::{EscalationPolicy, history};
use crate::catalog::AlertLevel;

/// The circle an escalation of `level` reaches.
pub fn circle(level: i32) -> &'static str {
    match level {
        1 => "org_admins",
        2 => "caregiver",
        _ => "everyone",
    }
}

/// Escalates up to `limit` alerts whose deadline has passed; returns how many.
pub async fn escalate_due(
    pool: &PgPool,
    policy: &EscalationPolicy,
    limit: i64,
) -> Result<usize, DbError> {
    let mut tx = pool.begin().await?;
    let due = sqlx::query!(
        "select id, org_id, patient_id, alert_level, status, escalation_level from alerts
          where escalate_at <= now() and status in ('created', 'notified')
          order by escalate_at limit $1 for update skip locked",
        limit
    )
    .fetch_all(&mut *tx)
    .await?;
    for a in &due {
        let level = AlertLevel::parse(&a.alert_level).unwrap_or(AlertLevel::High);
        // A level without a deadline (low) waits the medium one: it was due, so it repeats.
        let wait = policy.deadline(level).unwrap_or(policy.medium);
        let next = a.escalation_level + 1;
        sqlx::query!(
            "update alerts set escalation_level = $2, escalate_at = $3, updated_at = now() where id = $1",
            a.id,
            next,
            Utc::now() + wait
        )
        .execute(&mut *tx)
        .await?;
        let details = json!({"escalation_level": next, "circle": circle(next)});
        history(
            &mut tx,
            a.org_id,
            a.id,
            a.patient_id,
            "escalated",
            Some(&a.status),
            &a.status,
            &a.alert_level,
            None,
            details.clone(),
        )
        .await?;
        enqueue(
            &mut tx,
            NewEvent {
                event_type: "alert.escalated".into(),
                aggregate: "alert".into(),
                aggregate_id: Some(a.id),
                org_id: Some(a.org_id),
                actor: Some(json!({"type": "system", "id": "alert-escalation"})),
                request_id: None,
                data: json!({"alert_id": a.id, "patient_id": a.patient_id, "alert_level": a.alert_level,
                             "status": a.status, "escalation_level": next, "circle": circle(next)}),
            },
        )
        .await?;
        AuditEntry::new(ActorType::System, Action::AlertEscalate)
            .actor(None, Some("alert-escalation".to_owned()))
            .entity("alert", a.id)
            .org(a.org_id)
            .details(details)
            .record(&mut tx)
            .await?;
    }
    tx.commit().await?;
    Ok(due.len())
}

/// Raises DEVICE_OFFLINE for each device silent longer than `after` (once per silence); returns
/// how many were raised.
pub async fn offline_sweep(
    pool: &PgPool,
    after: Duration,
    policy: &EscalationPolicy,
) -> Result<usize, DbError> {
    let mut tx = pool.begin().await?;
    let silent = sqlx::query!(
        r#"select d.id, d.org_id, d.owner_patient_id as "patient_id!", d.serial,
                  coalesce(d.last_seen_at, min(s.started_at)) as "silent_since!"
             from devices d join signal_streams s on s.device_id = d.id and s.ended_at is null
            where d.owner_patient_id is not null
            group by d.id
           having coalesce(d.last_seen_at, min(s.started_at)) < now() - make_interval(secs => $1)
              and not exists (select 1 from alerts a
                               where a.patient_id = d.owner_patient_id and a.alert_type = 'DEVICE_OFFLINE'
                                 and a.created_at > coalesce(d.last_seen_at, min(s.started_at)))
            limit 500"#,
        after.num_seconds() as f64
    )
    .fetch_all(&mut *tx)
    .await?;
    for d in &silent {
        let trigger = Trigger {
            org_id: d.org_id,
            patient_id: d.patient_id,
            alert_type: "DEVICE_OFFLINE".into(),
            level: AlertLevel::Low,
            rule_id: None,
            model_id: None,
            inference_id: None,
            description: format!(
                "device {} silent since {}",
                d.serial,
                d.silent_since.format("%Y-%m-%d %H:%M UTC")
            ),
            evidence: json!({"device_id": d.id, "serial": d.serial, "silent_since": d.silent_since,
                             "after_s": after.num_seconds()}),
            at: Utc::now(),
            actor: None,
            request_id: None,
        };
        raise(&mut tx, &trigger, policy).await?;
    }
    tx.commit().await?;
    Ok(silent.len())
}

/// Resolves the open DEVICE_OFFLINE alerts of `patients` (their data is back), inside the caller's
/// transaction; returns how many.
pub async fn clear_offline(conn: &mut PgConnection, patients: &[Uuid]) -> Result<usize, DbError> {
    let cleared = sqlx::query!(
        "update alerts set status = 'resolved', resolved_at = now(), escalate_at = null, updated_at = now()
          where patient_id = any($1) and alert_type = 'DEVICE_OFFLINE'
            and status in ('created', 'notified', 'ack')
          returning id, org_id, patient_id, alert_level",
        patients
    )
    .fetch_all(&mut *conn)
    .await?;
    for a in &cleared {
        history(
            conn,
            a.org_id,
            a.id,
            a.patient_id,
            "resolved",
            None,
            "resolved",
            &a.alert_level,
            None,
            json!({"automatic": true, "reason": "data arrived again"}),
        )
        .await?;
        enqueue(
            conn,
            NewEvent {
                event_type: "alert.resolved".into(),
                aggregate: "alert".into(),
                aggregate_id: Some(a.id),
                org_id: Some(a.org_id),
                actor: Some(json!({"type": "system", "id": "alert-engine"})),
                request_id: None,
                data: json!({"alert_id": a.id, "patient_id": a.patient_id, "alert_type": "DEVICE_OFFLINE",
                             "alert_level": a.alert_level, "status": "resolved", "automatic": true}),
            },
        )
        .await?;
    }
    Ok(cleared.len())
}
