//! Telemetry: ingest (JSON and binary batches stored whole or not at all, every validation error
//! naming its item, who may send to which stream, retries stored once, concurrent batches all kept)
//! and queries (scoped, audited, downsampled in the database).

use chrono::{DateTime, Duration, Utc};
use hg_domain::telemetry::wire::Block;
use hg_platform::Component;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::world::World;

mod ingest;
mod queries;
mod simulate;
mod streamed;

const TS: Component = Component::Timeseries;

/// The world with a device of patient `p1` (organization A) holding a credential, and open HR, BP
/// and ECG (250 Hz) streams on it.
pub(super) struct Telemetry {
    w: World,
    device: String,
    credential: String,
    hr: Uuid,
    bp: Uuid,
    ecg: Uuid,
}

pub(crate) async fn device_with_streams(
    w: &World,
    serial: &str,
    owner: Uuid,
) -> (String, String, Vec<Uuid>) {
    let (status, d) = w
        .request(Method::POST, "/devices")
        .on(Component::Device)
        .token(&w.admin_a)
        .json(json!({"org_id": w.org_a, "serial": serial, "device_type": "WEARABLE_MULTI", "owner_patient_id": owner}))
        .send()
        .await;
    assert_eq!(status, 201, "{d}");
    let device = d["data"]["id"].as_str().unwrap().to_owned();
    let (status, c) = w
        .request(Method::POST, &format!("/devices/{device}/credentials"))
        .on(Component::Device)
        .token(&w.admin_a)
        .send()
        .await;
    assert_eq!(status, 201, "{c}");
    let mut streams = Vec::new();
    for (signal, rate) in [("HR", 1.0), ("BP", 0.01), ("ECG", 250.0)] {
        let (status, s) = w
            .request(Method::POST, &format!("/devices/{device}/streams"))
            .on(Component::Device)
            .token(&w.admin_a)
            .json(json!({"signal_type": signal, "sample_rate_hz": rate}))
            .send()
            .await;
        assert_eq!(status, 201, "{s}");
        streams.push(s["data"]["id"].as_str().unwrap().parse().unwrap());
    }
    // As if the streams had been open for a while (samples before a stream's start are refused).
    sqlx::query(
        "update signal_streams set started_at = now() - interval '3 hours' where id = any($1)",
    )
    .bind(&streams)
    .execute(&w.app.db.pool)
    .await
    .unwrap();
    let credential = c["data"]["credential"].as_str().unwrap().to_owned();
    (device, credential, streams)
}

pub(super) async fn telemetry(env: &[(&str, &str)]) -> Telemetry {
    let w = World::with_env(&[TS, Component::Device], env).await;
    let (device, credential, s) = device_with_streams(&w, "HG-TEL-1", w.p1).await;
    Telemetry {
        device,
        credential,
        hr: s[0],
        bp: s[1],
        ecg: s[2],
        w,
    }
}

impl Telemetry {
    /// Sends `body` (JSON) with `Authorization: <auth>`.
    pub(super) async fn send(&self, auth: &str, body: &Value, key: Option<&str>) -> (u16, Value) {
        self.send_raw(auth, "application/json", body.to_string().into_bytes(), key)
            .await
    }

    pub(super) async fn send_raw(
        &self,
        auth: &str,
        content_type: &str,
        body: Vec<u8>,
        key: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self
            .w
            .app
            .client
            .post(self.w.app.url(TS, "/timeseries/ingest"))
            .header("content-type", content_type)
            .body(body);
        if !auth.is_empty() {
            req = req.header("authorization", auth);
        }
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub(super) fn device_auth(&self) -> String {
        format!("Device {}", self.credential)
    }

    async fn count(&self, sql: &'static str, stream: Uuid) -> i64 {
        sqlx::query_scalar(sql)
            .bind(stream)
            .fetch_one(&self.w.app.db.pool)
            .await
            .unwrap()
    }

    pub(super) async fn samples(&self, stream: Uuid) -> i64 {
        self.count(
            "select count(*) from vital_samples where stream_id = $1",
            stream,
        )
        .await
    }

    pub(super) async fn blocks(&self, stream: Uuid) -> i64 {
        self.count(
            "select count(*) from waveform_blocks where stream_id = $1",
            stream,
        )
        .await
    }
}

/// `n` HR samples a second apart, ending a minute ago.
pub(super) fn hr_samples(n: usize, start_value: f32) -> Vec<Value> {
    let end = Utc::now() - Duration::minutes(1);
    (0..n)
        .map(|i| {
            let ts = end - Duration::seconds((n - i) as i64);
            json!({"ts": ts, "value": start_value + (i % 40) as f32})
        })
        .collect()
}

pub(super) fn ecg_block(start: DateTime<Utc>, n: usize) -> Block {
    Block {
        start_ts: start,
        sample_rate_hz: 250.0,
        values_mv: (0..n).map(|i| ((i as f32) / 20.0).sin() * 1.2).collect(),
    }
}
