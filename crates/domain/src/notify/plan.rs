//! Who must hear of an alert, and through what: one `alert_delivery` row (QUEUED) per recipient,
//! channel and target, written in the notifier consumer's transaction.
//!
//! * a new alert, or one whose level rose: its assignees, the care team of its patient and the
//!   patient's active primary caregiver;
//! * an escalation: the escalation's circle — the organization's admins (first), the patient's
//!   active caregivers (second), everyone above (third and later).
//!
//! Each person's [`prefs`](super::prefs) choose the channels of the alert's level; quiet hours hold
//! back everything but critical alerts. A channel without a target (no SMS number, no push
//! subscription) is skipped. For a critical alert the channels are a fallback chain: the first
//! with a target is sent now, the next one escalation step later, and so on — each sent only if
//! nobody has acknowledged the alert by then ([`deliver`](super::deliver) cancels the rest).

use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::message::Why;
use super::{Channel, prefs};
use crate::catalog::AlertLevel;

/// What [`plan`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Planned {
    /// People told (or to be told).
    pub recipients: usize,
    /// Rows queued.
    pub queued: usize,
    /// People held back by their quiet hours.
    pub silenced: usize,
}

/// Who an escalation reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Circle {
    OrgAdmins,
    Caregivers,
    Everyone,
}

impl Circle {
    /// From the `circle` of an `alert.escalated` event.
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "org_admins" => Some(Circle::OrgAdmins),
            "caregiver" => Some(Circle::Caregivers),
            "everyone" => Some(Circle::Everyone),
            _ => None,
        }
    }
}

async fn recipients(
    conn: &mut PgConnection,
    alert: Uuid,
    patient: Uuid,
    org: Uuid,
    circle: Option<Circle>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let care = circle.is_none() || circle == Some(Circle::Everyone);
    let admins = matches!(circle, Some(Circle::OrgAdmins | Circle::Everyone));
    let all_caregivers = matches!(circle, Some(Circle::Caregivers | Circle::Everyone));
    sqlx::query_scalar!(
        r#"select u.id as "id!" from users u
            where u.status = 'active' and u.id in (
                  select aa.assignee_user_id from alert_assignment aa where $4 and aa.alert_id = $1
                  union
                  select m.user_id from patient_care_team pct
                    join care_team_member m on m.team_id = pct.team_id
                   where $4 and pct.patient_id = $2
                  union
                  select cp.user_id from caregiver_patient cp
                   where cp.patient_id = $2 and cp.ended_at is null and (cp.is_primary and $4 or $6)
                  union
                  select om.user_id from user_org_membership om
                   where $5 and om.org_id = $3 and om.org_role = 'org_admin')
            order by u.id"#,
        alert,
        patient,
        org,
        care,
        admins,
        all_caregivers,
    )
    .fetch_all(conn)
    .await
}

/// Queues the deliveries of alert `alert_id` for `why` (with the escalation's `circle`) over the
/// `available` channels (those configured), the fallback waves of a critical alert `step` apart. An
/// alert no longer open queues nothing.
pub async fn plan(
    conn: &mut PgConnection,
    alert_id: Uuid,
    why: Why,
    circle: Option<Circle>,
    step: Duration,
    now: DateTime<Utc>,
    available: &[Channel],
) -> Result<Planned, sqlx::Error> {
    let Some(alert) = sqlx::query!(
        "select org_id, patient_id, alert_level, status from alerts where id = $1",
        alert_id
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(Planned::default());
    };
    if !matches!(alert.status.as_str(), "created" | "notified") {
        return Ok(Planned::default());
    }
    let level = AlertLevel::parse(&alert.alert_level).unwrap_or(AlertLevel::High);
    let circle = if why == Why::Escalated {
        Some(circle.unwrap_or(Circle::Everyone))
    } else {
        None
    };
    let people = recipients(conn, alert_id, alert.patient_id, alert.org_id, circle).await?;
    let mut out = Planned {
        recipients: people.len(),
        ..Planned::default()
    };
    for user in people {
        let p = prefs::get(conn, user).await?;
        if level != AlertLevel::Critical && prefs::quiet_at(conn, &p, now).await? {
            out.silenced += 1;
            continue;
        }
        let mut wave = 0;
        for channel in p.channels_of(level) {
            if !available.contains(&channel) {
                continue;
            }
            let targets = targets(conn, user, channel, &p).await?;
            if targets.is_empty() {
                continue;
            }
            let (at, reason) = if level == AlertLevel::Critical && wave > 0 {
                (now + step * wave, "fallback")
            } else {
                (now, why.code())
            };
            for (target, device) in targets {
                sqlx::query!(
                    "insert into alert_delivery (org_id, alert_id, channel, target, recipient_user_id,
                                                 status, next_attempt_at, reason, alert_level, push_device_id)
                     values ($1, $2, $3, $4, $5, 'QUEUED', $6, $7, $8, $9)",
                    alert.org_id,
                    alert_id,
                    channel.code(),
                    target,
                    user,
                    at,
                    reason,
                    level.code(),
                    device,
                )
                .execute(&mut *conn)
                .await?;
                out.queued += 1;
            }
            wave += 1;
        }
    }
    Ok(out)
}

/// Where `channel` reaches `user`: their e-mail address, their SMS number, each active push
/// subscription (with its device id).
pub async fn targets(
    conn: &mut PgConnection,
    user: Uuid,
    channel: Channel,
    p: &prefs::Preferences,
) -> Result<Vec<(String, Option<Uuid>)>, sqlx::Error> {
    Ok(match channel {
        Channel::Email => sqlx::query_scalar!("select email from users where id = $1", user)
            .fetch_optional(conn)
            .await?
            .map(|e| vec![(e, None)])
            .unwrap_or_default(),
        Channel::Sms => p
            .sms_number
            .clone()
            .map(|n| vec![(n, None)])
            .unwrap_or_default(),
        Channel::Push => sqlx::query!(
            "select id, push_token from push_devices
              where user_id = $1 and active and platform = 'web' and subscription is not null
              order by created_at",
            user
        )
        .fetch_all(conn)
        .await?
        .into_iter()
        .map(|d| (d.push_token, Some(d.id)))
        .collect(),
    })
}
