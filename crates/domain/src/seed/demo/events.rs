//! The demo's alerts in every status, and ground-truth labels.

use super::*;

pub(super) async fn alerts(
    tx: &mut PgConnection,
    org: &str,
    patients: &[&DemoPatient],
    clinician: Uuid,
    now: DateTime<Utc>,
) -> Result<(), SeedError> {
    let oid = org_id(org);
    for (idx, alert_type, level, status, hours_ago, description) in ALERTS {
        let p = patients[*idx];
        let id = seed_id(&format!("alert:{org}:{}:{alert_type}:{status}", p.key));
        let created = now - Duration::hours(*hours_ago);
        let reached = |step: &str| {
            let order = ["created", "notified", "ack", "resolved", "closed"];
            order.iter().position(|s| s == status) >= order.iter().position(|s| *s == step)
        };
        let acked = reached("ack").then(|| created + Duration::minutes(4));
        let resolved = reached("resolved").then(|| created + Duration::minutes(35));
        let closed = reached("closed").then(|| created + Duration::hours(2));
        let inserted = sqlx::query!(
            "insert into alerts (id, org_id, patient_id, alert_type, alert_level, status, description,
                                 dedup_key, last_seen_at, created_at, updated_at, acknowledged_at,
                                 resolved_at, closed_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $9, $10, $11, $12)
             on conflict do nothing",
            id,
            oid,
            patient_id(p.key),
            alert_type,
            level,
            status,
            description,
            format!("{}:{alert_type}", patient_id(p.key)),
            created,
            acked,
            resolved,
            closed,
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            continue;
        }
        sqlx::query!(
            "insert into alert_assignment (org_id, alert_id, assignee_user_id, assigned_at)
             values ($1, $2, $3, $4)",
            oid,
            id,
            clinician,
            created,
        )
        .execute(&mut *tx)
        .await?;
        // Its history, step by step, as the alert component would have written it.
        let steps = [
            ("created", None, "created", Some(created), None),
            (
                "assigned",
                Some("created"),
                "created",
                Some(created),
                Some(clinician),
            ),
            (
                "notified",
                Some("created"),
                "notified",
                reached("notified").then(|| created + Duration::seconds(3)),
                None,
            ),
            (
                "acknowledged",
                Some("notified"),
                "ack",
                acked,
                Some(clinician),
            ),
            (
                "resolved",
                Some("ack"),
                "resolved",
                resolved,
                Some(clinician),
            ),
            (
                "closed",
                Some("resolved"),
                "closed",
                closed,
                Some(clinician),
            ),
        ];
        for (action, from, to, at, actor) in steps {
            let Some(at) = at else { continue };
            let details = if action == "assigned" {
                serde_json::json!({"assignees": [clinician], "automatic": true})
            } else {
                serde_json::json!({"demo": true})
            };
            sqlx::query!(
                "insert into alert_history (org_id, alert_id, patient_id, action, from_status, to_status,
                                            alert_level, actor_id, details, at)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                oid,
                id,
                patient_id(p.key),
                action,
                from,
                to,
                level,
                actor,
                details,
                at,
            )
            .execute(&mut *tx)
            .await?;
        }
        if reached("notified") {
            sqlx::query!(
                "insert into alert_delivery (org_id, alert_id, channel, target, recipient_user_id, status,
                                             attempts, sent_at, created_at)
                 values ($1, $2, 'PUSH', 'demo-device', $3, 'DELIVERED', 1, $4, $4)",
                oid,
                id,
                clinician,
                created + Duration::seconds(3),
            )
            .execute(&mut *tx)
            .await?;
        }
        if let Some(at) = acked {
            sqlx::query!(
                "insert into alert_ack (org_id, alert_id, ack_by, ack_at, note) values ($1, $2, $3, $4, 'Revisando')",
                oid,
                id,
                clinician,
                at,
            )
            .execute(&mut *tx)
            .await?;
        }
        if let Some(at) = resolved {
            let outcome = if *status == "closed" {
                "false_positive"
            } else {
                "stabilized"
            };
            sqlx::query!(
                "insert into alert_resolution (org_id, alert_id, resolved_by, resolved_at, outcome, note)
                 values ($1, $2, $3, $4, $5, 'Paciente contactado')",
                oid,
                id,
                clinician,
                at,
                outcome,
            )
            .execute(&mut *tx)
            .await?;
        }
    }
    Ok(())
}

pub(super) async fn labels(
    tx: &mut PgConnection,
    org: &str,
    patients: &[&DemoPatient],
    clinician: Uuid,
    now: DateTime<Utc>,
) -> Result<(), SeedError> {
    for (idx, event, hours_ago, minutes) in [(0usize, "TACHY", 3i64, 10i64), (1, "AFIB", 6, 30)] {
        let p = patients[idx];
        let onset = now - Duration::hours(hours_ago);
        sqlx::query!(
            "insert into ground_truth_labels (id, org_id, patient_id, event_type, onset, offset_at,
                                              annotated_by, source, note)
             values ($1, $2, $3, $4, $5, $6, $7, 'demo', 'Etiqueta de demostración')
             on conflict do nothing",
            seed_id(&format!("label:{}:{event}", p.key)),
            org_id(org),
            patient_id(p.key),
            event,
            onset,
            onset + Duration::minutes(minutes),
            clinician,
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
