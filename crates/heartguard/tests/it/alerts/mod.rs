//! Alerts: raised by the rule engine from ingested vitals (through the real consumer), deduplicated
//! under concurrency, moved along the lifecycle by people, scoped and audited.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, DurationRound, Utc};
use hg_platform::Component;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{error_id, names_field, pluck};
use crate::world::World;

mod engine;
mod inference;
mod lifecycle;
mod live;
mod rules;
mod watch;

const ALERT: Component = Component::Alert;
const TS: Component = Component::Timeseries;

/// The world with the alert, timeseries and device components, and a device of `p1` (team A)
/// with open HR, BP and ECG streams.
pub(super) struct Alerts {
    w: World,
    credential: String,
    hr: Uuid,
}

pub(super) async fn alerts() -> Alerts {
    alerts_with(&[]).await
}

/// [`alerts`] with settings.
pub(super) async fn alerts_with(env: &[(&str, &str)]) -> Alerts {
    alerts_in(&[], env).await
}

/// [`alerts`] with more components running.
pub(super) async fn alerts_with_also(more: &[Component]) -> Alerts {
    alerts_in(more, &[]).await
}

async fn alerts_in(more: &[Component], env: &[(&str, &str)]) -> Alerts {
    let mut components = vec![ALERT, TS, Component::Device];
    components.extend_from_slice(more);
    let w = World::with_env(&components, env).await;
    let (_, credential, streams) =
        crate::telemetry::device_with_streams(&w, "HG-ALERT-1", w.p1).await;
    Alerts {
        credential,
        hr: streams[0],
        w,
    }
}

impl Alerts {
    /// Sends HR `values`, one a second from `start`, as the device; expects 201.
    async fn send_hr(&self, start: DateTime<Utc>, values: &[f64]) {
        let samples: Vec<Value> = values
            .iter()
            .enumerate()
            .map(|(i, v)| json!({"ts": start + Duration::seconds(i as i64), "value": v}))
            .collect();
        let resp = self
            .w
            .app
            .client
            .post(self.w.app.url(TS, "/timeseries/ingest"))
            .header("authorization", format!("Device {}", self.credential))
            .json(&json!({"streams": [{"stream_id": self.hr, "samples": samples}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    }

    /// Waits until the rule engine has evaluated the HR stream up to `ts`.
    async fn evaluated(&self, ts: DateTime<Utc>) {
        for _ in 0..200 {
            let until: Option<DateTime<Utc>> = sqlx::query_scalar(
                "select evaluated_until from detection_cursors where stream_id = $1",
            )
            .bind(self.hr)
            .fetch_optional(&self.w.app.db.pool)
            .await
            .unwrap();
            if until.is_some_and(|u| u >= ts) {
                return;
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        panic!("the rule engine did not evaluate the stream up to {ts}");
    }

    /// The alerts of `p1` of `alert_type`, as doctor A sees them.
    async fn of_type(&self, alert_type: &str) -> Vec<Value> {
        let w = &self.w;
        let (status, v) = w
            .get(
                &format!("/alerts?type={alert_type}&patient_id={}", w.p1),
                &w.doctor_a,
            )
            .await;
        assert_eq!(status, 200, "{v}");
        v["data"].as_array().unwrap().clone()
    }
}

/// A whole second, `minutes` ago.
fn minutes_ago(minutes: i64) -> DateTime<Utc> {
    (Utc::now() - Duration::minutes(minutes))
        .duration_trunc(Duration::seconds(1))
        .unwrap()
}

/// How many events of `event_type` about alert `id` are in the outbox.
async fn events(w: &World, event_type: &str, id: &str) -> i64 {
    sqlx::query_scalar(
        "select count(*) from outbox_events where event_type = $1 and payload->>'alert_id' = $2",
    )
    .bind(event_type)
    .bind(id)
    .fetch_one(&w.app.db.pool)
    .await
    .unwrap()
}

/// The text `field` of each item of the array `list`.
fn texts<'a>(list: &'a Value, field: &str) -> Vec<&'a str> {
    list.as_array()
        .expect("an array")
        .iter()
        .map(|item| item[field].as_str().expect("a text field"))
        .collect()
}
