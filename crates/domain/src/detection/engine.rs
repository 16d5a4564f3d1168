//! The rule engine: for each scalar stream a `telemetry.ingested` event names, evaluates the
//! committed samples not yet evaluated against the rules that apply to the stream's patient, keeps
//! each rule's state in `rule_states` and raises an alert for each firing — all in the consumer's
//! transaction, so a crash re-evaluates from the stored cursor and `processed_events` keeps a
//! redelivered event from counting twice.
//!
//! Each stream's `detection_cursors` row is locked while it is evaluated: two consumers (or two
//! events of one stream) never evaluate the same samples. Samples older than the cursor when they
//! arrive (a device's buffered backlog sent after newer data) are not evaluated by the rules.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::rules::{self, Condition, Rule, Scoped, State};
use crate::alert::EscalationPolicy;
use crate::alert::raise::{Raised, Trigger, raise};
use crate::catalog::AlertLevel;
use crate::records::RecordError;
use crate::telemetry::signals::SignalType;

/// Samples read per query while evaluating one stream.
const PAGE: i64 = 10_000;

/// One stream of a `telemetry.ingested` event.
#[derive(Clone, Debug, Deserialize)]
pub struct IngestedStream {
    pub stream_id: Uuid,
    pub patient_id: Uuid,
    pub signal_type: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// The data of a `telemetry.ingested` event.
#[derive(Clone, Debug, Deserialize)]
pub struct Ingested {
    pub streams: Vec<IngestedStream>,
}

/// Resolves the patients' open DEVICE_OFFLINE alerts (their data is back) and evaluates the rules on
/// each scalar stream of `event` (organization `org`); returns the alerts raised or updated.
pub async fn on_ingested(
    conn: &mut PgConnection,
    org: Uuid,
    event: &Ingested,
    policy: &EscalationPolicy,
) -> Result<Vec<Raised>, RecordError> {
    let mut patients: Vec<Uuid> = event.streams.iter().map(|s| s.patient_id).collect();
    patients.sort();
    patients.dedup();
    crate::alert::watch::clear_offline(conn, &patients).await?;
    let mut raised = Vec::new();
    for s in &event.streams {
        let Some(signal) = SignalType::parse(&s.signal_type) else {
            continue;
        };
        if signal.is_waveform() {
            continue;
        }
        raised.extend(evaluate_stream(conn, org, s, policy).await?);
    }
    Ok(raised)
}

/// The rules that apply to `patient`'s `signal`.
pub async fn rules_for(
    conn: &mut PgConnection,
    org: Uuid,
    patient: Uuid,
    signal: &str,
) -> Result<Vec<Rule>, RecordError> {
    let rows = sqlx::query!(
        "select id, org_id, patient_id, alert_type, condition, threshold, duration_s, hysteresis, level, enabled
           from alert_rules
          where signal_type = $1
            and (org_id is null or (org_id = $2 and (patient_id is null or patient_id = $3)))",
        signal,
        org,
        patient
    )
    .fetch_all(&mut *conn)
    .await?;
    let scoped = rows
        .into_iter()
        .filter_map(|r| {
            Some(Scoped {
                rule: Rule {
                    id: r.id,
                    alert_type: r.alert_type,
                    condition: Condition::parse(&r.condition)?,
                    threshold: r.threshold,
                    duration: Duration::seconds(i64::from(r.duration_s)),
                    hysteresis: r.hysteresis,
                    level: AlertLevel::parse(&r.level)?,
                },
                org_id: r.org_id,
                patient_id: r.patient_id,
                enabled: r.enabled,
            })
        })
        .collect();
    Ok(rules::effective(scoped))
}

async fn evaluate_stream(
    conn: &mut PgConnection,
    org: Uuid,
    s: &IngestedStream,
    policy: &EscalationPolicy,
) -> Result<Vec<Raised>, RecordError> {
    // A stream seen for the first time starts at this batch: earlier history is not re-judged.
    sqlx::query!(
        "insert into detection_cursors (stream_id, evaluated_until) values ($1, $2)
         on conflict (stream_id) do nothing",
        s.stream_id,
        s.from - Duration::microseconds(1)
    )
    .execute(&mut *conn)
    .await?;
    let mut until = sqlx::query_scalar!(
        "select evaluated_until from detection_cursors where stream_id = $1 for update",
        s.stream_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let rules = rules_for(conn, org, s.patient_id, &s.signal_type).await?;
    if rules.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = rules.iter().map(|r| r.id).collect();
    let stored = sqlx::query!(
        "select rule_id, holding_since, last_ts, firing from rule_states
          where stream_id = $1 and rule_id = any($2)",
        s.stream_id,
        &ids
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut states: Vec<State> = rules
        .iter()
        .map(|r| {
            stored
                .iter()
                .find(|x| x.rule_id == r.id)
                .map_or(State::default(), |x| State {
                    holding_since: x.holding_since,
                    last_ts: Some(x.last_ts),
                    firing: x.firing,
                })
        })
        .collect();
    let mut raised = Vec::new();
    loop {
        let samples: Vec<(DateTime<Utc>, f64)> = sqlx::query!(
            "select ts, value from vital_samples where stream_id = $1 and ts > $2 order by ts limit $3",
            s.stream_id,
            until,
            PAGE
        )
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|r| (r.ts, f64::from(r.value)))
        .collect();
        let Some(&(last, _)) = samples.last() else {
            break;
        };
        for (rule, state) in rules.iter().zip(states.iter_mut()) {
            let (next, fired) = rules::evaluate(rule, *state, &samples);
            *state = next;
            for f in fired {
                let trigger = Trigger {
                    org_id: org,
                    patient_id: s.patient_id,
                    alert_type: rule.alert_type.clone(),
                    level: rule.level,
                    rule_id: Some(rule.id),
                    model_id: None,
                    inference_id: None,
                    description: describe(rule, &s.signal_type, f.value, f.at - f.since),
                    evidence: json!({
                        "stream_id": s.stream_id, "signal_type": s.signal_type, "value": f.value,
                        "at": f.at, "since": f.since, "rule": {
                            "id": rule.id, "condition": format!("{:?}", rule.condition).to_lowercase(),
                            "threshold": rule.threshold, "duration_s": rule.duration.num_seconds(),
                            "hysteresis": rule.hysteresis,
                        }
                    }),
                    at: f.at,
                    actor: None,
                    request_id: None,
                };
                raised.push(raise(conn, &trigger, policy).await?);
            }
        }
        until = last;
        if (samples.len() as i64) < PAGE {
            break;
        }
    }
    for (rule, state) in rules.iter().zip(&states) {
        let Some(last_ts) = state.last_ts else {
            continue;
        };
        sqlx::query!(
            "insert into rule_states (stream_id, rule_id, holding_since, last_ts, firing)
             values ($1, $2, $3, $4, $5)
             on conflict (stream_id, rule_id) do update
                set holding_since = excluded.holding_since, last_ts = excluded.last_ts,
                    firing = excluded.firing, updated_at = now()",
            s.stream_id,
            rule.id,
            state.holding_since,
            last_ts,
            state.firing
        )
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query!(
        "update detection_cursors set evaluated_until = $2, updated_at = now() where stream_id = $1",
        s.stream_id,
        until
    )
    .execute(&mut *conn)
    .await?;
    Ok(raised)
}

/// The alert's description: what held, for how long.
fn describe(rule: &Rule, signal: &str, value: f64, held: Duration) -> String {
    let side = match rule.condition {
        Condition::Above => "above",
        Condition::Below => "below",
    };
    format!(
        "{signal} {value:.0} {side} {} for {} s",
        rule.threshold,
        held.num_seconds()
    )
}
