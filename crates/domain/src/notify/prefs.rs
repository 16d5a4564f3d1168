//! A user's notification preferences: the channels of each alert level, quiet hours (in their time
//! zone; never for critical alerts) and the number SMS go to. A user who never chose gets
//! [`default_channels`].

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use super::Channel;
use crate::catalog::AlertLevel;
use crate::records::RecordError;

/// The channels of each level for a user who never chose: nothing for low, e-mail for medium, push
/// and e-mail for high; for critical push, then SMS, then e-mail (the fallback order).
pub fn default_channels() -> BTreeMap<String, Vec<String>> {
    let of = |c: &[Channel]| c.iter().map(|c| c.code().to_owned()).collect();
    BTreeMap::from([
        ("low".to_owned(), of(&[])),
        ("medium".to_owned(), of(&[Channel::Email])),
        ("high".to_owned(), of(&[Channel::Push, Channel::Email])),
        (
            "critical".to_owned(),
            of(&[Channel::Push, Channel::Sms, Channel::Email]),
        ),
    ])
}

/// Hours during which non-critical alerts are not sent, in `timezone` (an IANA name); `end` before
/// `start` spans midnight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuietHours {
    /// `HH:MM`.
    pub start: String,
    /// `HH:MM`.
    pub end: String,
    /// e.g. `Europe/Madrid`.
    pub timezone: String,
}

/// A user's preferences.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Preferences {
    /// For each level (`low`, `medium`, `high`, `critical`), its channels (`PUSH`, `SMS`, `EMAIL`)
    /// in order; for critical the order is the fallback order.
    pub channels: BTreeMap<String, Vec<String>>,
    pub quiet_hours: Option<QuietHours>,
    /// E.164, e.g. `+34600111222`.
    pub sms_number: Option<String>,
    /// Whether these are the defaults (the user never chose).
    pub default: bool,
}

impl Preferences {
    /// The channels of `level`.
    pub fn channels_of(&self, level: AlertLevel) -> Vec<Channel> {
        self.channels
            .get(level.code())
            .into_iter()
            .flatten()
            .filter_map(|c| Channel::parse(c))
            .collect()
    }
}

/// What a user sends to choose (every field replaces the stored one; a level left out gets its
/// default channels).
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesInput {
    #[serde(default)]
    pub channels: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
    #[serde(default)]
    pub sms_number: Option<String>,
}

/// `user`'s preferences (the defaults when they never chose).
pub async fn get(conn: &mut PgConnection, user: Uuid) -> Result<Preferences, sqlx::Error> {
    let row = sqlx::query!(
        r#"select channels, to_char(quiet_hours_start, 'HH24:MI') as start,
                  to_char(quiet_hours_end, 'HH24:MI') as "end", timezone, sms_number
             from notification_preferences where user_id = $1"#,
        user
    )
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else {
        return Ok(Preferences {
            channels: default_channels(),
            quiet_hours: None,
            sms_number: None,
            default: true,
        });
    };
    let mut channels = default_channels();
    if let Ok(stored) = serde_json::from_value::<BTreeMap<String, Vec<String>>>(row.channels) {
        channels.extend(stored);
    }
    let quiet_hours = match (row.start, row.end, row.timezone) {
        (Some(start), Some(end), Some(timezone)) => Some(QuietHours {
            start,
            end,
            timezone,
        }),
        _ => None,
    };
    Ok(Preferences {
        channels,
        quiet_hours,
        sms_number: row.sms_number,
        default: false,
    })
}

fn time(field: &str, value: &str) -> Result<NaiveTime, RecordError> {
    NaiveTime::parse_from_str(value, "%H:%M")
        .map_err(|_| RecordError::invalid(field, "is a time of day as HH:MM"))
}

/// Validates and stores `user`'s preferences; returns them as stored (callers go through
/// [`super::set_preferences`], which audits).
pub(crate) async fn put(
    conn: &mut PgConnection,
    user: Uuid,
    input: PreferencesInput,
) -> Result<Preferences, RecordError> {
    let mut channels = default_channels();
    for (level, list) in input.channels {
        let field = format!("channels.{level}");
        if AlertLevel::parse(&level).is_none() {
            return Err(RecordError::invalid(
                field,
                "is not an alert level (low, medium, high, critical)",
            ));
        }
        let mut seen = Vec::new();
        for c in &list {
            match Channel::parse(c) {
                Some(ch) if !seen.contains(&ch) => seen.push(ch),
                Some(_) => return Err(RecordError::invalid(field, format!("names {c} twice"))),
                None => {
                    return Err(RecordError::invalid(
                        field,
                        format!("{c} is not a channel (PUSH, SMS, EMAIL)"),
                    ));
                }
            }
        }
        if level == "critical" && seen.is_empty() {
            return Err(RecordError::invalid(
                field,
                "needs at least one channel: critical alerts always reach you",
            ));
        }
        channels.insert(level, list);
    }
    let quiet = match &input.quiet_hours {
        None => None,
        Some(q) => {
            let (start, end) = (
                time("quiet_hours.start", &q.start)?,
                time("quiet_hours.end", &q.end)?,
            );
            if start == end {
                return Err(RecordError::invalid(
                    "quiet_hours.end",
                    "differs from the start",
                ));
            }
            let known = sqlx::query_scalar!(
                r#"select exists (select 1 from pg_timezone_names where name = $1) as "known!""#,
                q.timezone
            )
            .fetch_one(&mut *conn)
            .await
            .map_err(hg_platform::db::DbError::from)?;
            if !known {
                return Err(RecordError::invalid(
                    "quiet_hours.timezone",
                    "is not a time zone name such as Europe/Madrid",
                ));
            }
            Some((start, end, q.timezone.clone()))
        }
    };
    if let Some(n) = &input.sms_number {
        let digits = n.strip_prefix('+').unwrap_or("");
        let e164 = (7..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if !e164 {
            return Err(RecordError::invalid(
                "sms_number",
                "is an international number in E.164 form, e.g. +34600111222",
            ));
        }
    }
    let stored = serde_json::to_value(&channels).unwrap_or_default();
    sqlx::query!(
        "insert into notification_preferences
                (user_id, channels, quiet_hours_start, quiet_hours_end, timezone, sms_number)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (user_id) do update
            set channels = excluded.channels, quiet_hours_start = excluded.quiet_hours_start,
                quiet_hours_end = excluded.quiet_hours_end, timezone = excluded.timezone,
                sms_number = excluded.sms_number, updated_at = now()",
        user,
        stored,
        quiet.as_ref().map(|q| q.0),
        quiet.as_ref().map(|q| q.1),
        quiet.as_ref().map(|q| q.2.clone()),
        input.sms_number,
    )
    .execute(&mut *conn)
    .await
    .map_err(hg_platform::db::DbError::from)?;
    Ok(get(conn, user)
        .await
        .map_err(hg_platform::db::DbError::from)?)
}

/// Whether `at` falls in `prefs`' quiet hours (in their time zone).
pub async fn quiet_at(
    conn: &mut PgConnection,
    prefs: &Preferences,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let Some(q) = &prefs.quiet_hours else {
        return Ok(false);
    };
    let (Ok(start), Ok(end)) = (
        NaiveTime::parse_from_str(&q.start, "%H:%M"),
        NaiveTime::parse_from_str(&q.end, "%H:%M"),
    ) else {
        return Ok(false);
    };
    let local = sqlx::query_scalar!(
        r#"select ($1::timestamptz at time zone $2)::time as "local!""#,
        at,
        q.timezone
    )
    .fetch_one(conn)
    .await?;
    Ok(if start < end {
        local >= start && local < end
    } else {
        local >= start || local < end
    })
}
