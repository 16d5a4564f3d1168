//! Threshold rules (spec/05 "Detection"): a condition on a signal that must hold for a duration,
//! with hysteresis. Evaluation here is a pure function of a rule, its stored state and the new
//! samples in time order, so it is tested without a database and the state survives restarts.
//!
//! For a rule "above 120 for 30 s, hysteresis 2" on a stream:
//! * the condition *holds* at a sample above 120 and *clears* at one at or below 118 (threshold
//!   minus hysteresis); a sample in between (118–120] neither starts nor breaks an episode;
//! * an episode starts at the first holding sample and fires when a holding sample comes at least
//!   30 s after that start without a clearing sample in between (a duration of 0 fires at once);
//! * a fired episode does not fire again until the value clears — a value hovering at the threshold
//!   raises one alert, not one per crossing;
//! * a gap longer than [`max_gap`] between two samples (the device was silent) ends an episode that
//!   has not fired: time without data is not time the condition held.
//!
//! Blood pressure rules read the systolic value.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::catalog::AlertLevel;

/// Which side of the threshold is dangerous.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    Above,
    Below,
}

impl Condition {
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "above" => Some(Condition::Above),
            "below" => Some(Condition::Below),
            _ => None,
        }
    }
}

/// A rule as evaluated.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub id: Uuid,
    pub alert_type: String,
    pub condition: Condition,
    pub threshold: f64,
    pub duration: Duration,
    pub hysteresis: f64,
    pub level: AlertLevel,
}

impl Rule {
    fn holds(&self, v: f64) -> bool {
        match self.condition {
            Condition::Above => v > self.threshold,
            Condition::Below => v < self.threshold,
        }
    }

    fn clears(&self, v: f64) -> bool {
        match self.condition {
            Condition::Above => v <= self.threshold - self.hysteresis,
            Condition::Below => v >= self.threshold + self.hysteresis,
        }
    }
}

/// The longest silence an episode survives: two minutes, or the rule's duration if longer.
pub fn max_gap(rule: &Rule) -> Duration {
    rule.duration.max(Duration::minutes(2))
}

/// Where a rule stands on one stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// The sample time the current episode started (None: clear).
    pub holding_since: Option<DateTime<Utc>>,
    /// The last sample evaluated.
    pub last_ts: Option<DateTime<Utc>>,
    /// The current episode fired and has not cleared yet.
    pub firing: bool,
}

/// A rule firing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fired {
    /// The sample that completed the duration.
    pub at: DateTime<Utc>,
    pub value: f64,
    /// When the episode started.
    pub since: DateTime<Utc>,
}

/// Evaluates `samples` (time order; those not after `state.last_ts` are skipped) against `rule`
/// from `state`; returns the new state and the firings.
pub fn evaluate(
    rule: &Rule,
    mut state: State,
    samples: &[(DateTime<Utc>, f64)],
) -> (State, Vec<Fired>) {
    let mut fired = Vec::new();
    for &(ts, v) in samples {
        if state.last_ts.is_some_and(|last| ts <= last) {
            continue;
        }
        if let (Some(last), false) = (state.last_ts, state.firing)
            && ts - last > max_gap(rule)
        {
            state.holding_since = None;
        }
        state.last_ts = Some(ts);
        if rule.clears(v) {
            state.holding_since = None;
            state.firing = false;
            continue;
        }
        if state.firing || !rule.holds(v) {
            continue;
        }
        let since = *state.holding_since.get_or_insert(ts);
        if ts - since >= rule.duration {
            state.firing = true;
            fired.push(Fired {
                at: ts,
                value: v,
                since,
            });
        }
    }
    (state, fired)
}

/// A rule row as stored, with its scope, for [`effective`].
#[derive(Clone, Debug)]
pub struct Scoped {
    pub rule: Rule,
    pub org_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub enabled: bool,
}

impl Scoped {
    /// 2 for a patient's rule, 1 for an organization's, 0 for a platform default.
    fn specificity(&self) -> u8 {
        match (self.patient_id, self.org_id) {
            (Some(_), _) => 2,
            (None, Some(_)) => 1,
            (None, None) => 0,
        }
    }
}

/// The rules that apply, from all the rules of one signal in scope for a patient (the platform's,
/// the patient's organization's, the patient's own): for each alert type, the most specific scope
/// that has any rule for it wins whole — patient over organization over platform — and its enabled
/// rules apply. So an organization redefines TACHY by writing its own TACHY rules, and a patient's
/// disabled TACHY rule silences TACHY for that patient alone.
pub fn effective(rules: Vec<Scoped>) -> Vec<Rule> {
    let mut best: std::collections::BTreeMap<String, u8> = Default::default();
    for r in &rules {
        let s = best.entry(r.rule.alert_type.clone()).or_insert(0);
        *s = (*s).max(r.specificity());
    }
    rules
        .into_iter()
        .filter(|r| r.enabled && best.get(&r.rule.alert_type) == Some(&r.specificity()))
        .map(|r| r.rule)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tachy(threshold: f64, secs: i64) -> Rule {
        Rule {
            id: Uuid::nil(),
            alert_type: "TACHY".into(),
            condition: Condition::Above,
            threshold,
            duration: Duration::seconds(secs),
            hysteresis: 2.0,
            level: AlertLevel::High,
        }
    }

    fn t0() -> DateTime<Utc> {
        "2026-12-01T10:00:00Z".parse().unwrap()
    }

    /// One sample a second from t0.
    fn series(values: &[f64]) -> Vec<(DateTime<Utc>, f64)> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (t0() + Duration::seconds(i as i64), *v))
            .collect()
    }

    #[test]
    fn fires_once_the_condition_has_held_for_the_duration() {
        let rule = tachy(120.0, 30);
        let mut values = vec![130.0; 29];
        let (state, fired) = evaluate(&rule, State::default(), &series(&values));
        assert!(fired.is_empty(), "29 s is not 30 s");
        assert_eq!(state.holding_since, Some(t0()));
        values.push(130.0);
        values.push(131.0);
        let (_, fired) = evaluate(&rule, State::default(), &series(&values));
        // The 31st sample (30 s after the first) completes the duration.
        assert_eq!(
            fired,
            vec![Fired {
                at: t0() + Duration::seconds(30),
                value: 131.0,
                since: t0()
            }]
        );
    }

    #[test]
    fn state_carries_across_batches_as_if_evaluated_at_once() {
        let rule = tachy(120.0, 30);
        let all = series(&[125.0; 40]);
        let (whole_state, whole) = evaluate(&rule, State::default(), &all);
        let mut state = State::default();
        let mut pieces = Vec::new();
        for chunk in all.chunks(7) {
            let (s, f) = evaluate(&rule, state, chunk);
            state = s;
            pieces.extend(f);
        }
        assert_eq!((state, pieces), (whole_state, whole));
        // A batch re-read (or older samples) changes nothing.
        let (again, fired) = evaluate(&rule, state, &all);
        assert_eq!((again, fired.len()), (state, 0));
    }

    #[test]
    fn a_value_hovering_at_the_threshold_fires_once() {
        let rule = tachy(120.0, 5);
        // 121, 119, 121, 119, … for two minutes: never below 118, so one episode, one firing.
        let values: Vec<f64> = (0..120)
            .map(|i| if i % 2 == 0 { 121.0 } else { 119.0 })
            .collect();
        let (state, fired) = evaluate(&rule, State::default(), &series(&values));
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert!(state.firing);
        // Once it clears (≤ 118) a new episode can fire again.
        let mut more = values.clone();
        more.extend([117.0, 125.0, 125.0, 125.0, 125.0, 125.0, 125.0]);
        let (_, fired) = evaluate(&rule, State::default(), &series(&more));
        assert_eq!(fired.len(), 2, "{fired:?}");
    }

    #[test]
    fn a_clearing_value_restarts_the_clock_and_a_long_gap_ends_the_episode() {
        let rule = tachy(120.0, 10);
        let mut values = vec![130.0; 8];
        values.push(110.0);
        values.extend([130.0; 8]);
        let (_, fired) = evaluate(&rule, State::default(), &series(&values));
        assert!(fired.is_empty(), "never 10 s in a row");
        let samples = vec![
            (t0(), 130.0),
            (t0() + Duration::minutes(5), 130.0),
            (t0() + Duration::minutes(5) + Duration::seconds(5), 130.0),
        ];
        let (_, fired) = evaluate(&rule, State::default(), &samples);
        assert!(
            fired.is_empty(),
            "five silent minutes are not five minutes of tachycardia"
        );
    }

    #[test]
    fn below_rules_and_zero_durations() {
        let desat = Rule {
            alert_type: "DESAT".into(),
            condition: Condition::Below,
            threshold: 85.0,
            duration: Duration::zero(),
            hysteresis: 1.0,
            level: AlertLevel::Critical,
            ..tachy(0.0, 0)
        };
        let (state, fired) = evaluate(
            &desat,
            State::default(),
            &series(&[90.0, 84.0, 84.5, 85.5, 84.0, 86.0, 84.0]),
        );
        // Fires at 84, stays firing through 84.5 and 85.5 (not ≥ 86), clears at 86, fires again.
        assert_eq!(fired.len(), 2, "{fired:?}");
        assert_eq!(fired[0].at, t0() + Duration::seconds(1));
        assert_eq!(fired[1].at, t0() + Duration::seconds(6));
        assert!(state.firing);
    }

    #[test]
    fn the_most_specific_scope_wins_per_alert_type() {
        let org = Some(Uuid::from_u128(1));
        let patient = Some(Uuid::from_u128(2));
        let scoped = |t: &str, threshold: f64, org, patient, enabled| Scoped {
            rule: Rule {
                alert_type: t.into(),
                ..tachy(threshold, 30)
            },
            org_id: org,
            patient_id: patient,
            enabled,
        };
        let rules = vec![
            scoped("TACHY", 120.0, None, None, true),
            scoped("TACHY", 100.0, None, None, true),
            scoped("TACHY", 130.0, org, None, true),
            scoped("BRADY", 50.0, None, None, true),
            scoped("FEVER", 38.0, None, None, true),
            scoped("FEVER", 37.5, org, None, true),
            scoped("FEVER", 39.0, org, patient, true),
            scoped("DESAT", 90.0, None, None, true),
            scoped("DESAT", 90.0, org, patient, false),
        ];
        let mut got: Vec<(String, f64)> = effective(rules)
            .into_iter()
            .map(|r| (r.alert_type, r.threshold))
            .collect();
        got.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert_eq!(
            got,
            vec![
                ("BRADY".into(), 50.0),
                ("FEVER".into(), 39.0),
                ("TACHY".into(), 130.0),
            ],
            "org replaces the platform's TACHY, patient replaces FEVER, a disabled patient rule silences DESAT"
        );
    }
}
