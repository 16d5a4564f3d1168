//! Running the AF model ([`af`](super::af)) on RR streams: on each ingested batch of an RR (HRV)
//! stream, every complete window of [`WINDOW`] beats after the stream's inference cursor is scored,
//! stored as an `inference` with its features, and a score at or above the model's threshold raises
//! an ARRHYTHMIA alert carrying the inference, the model and its version, and the ECG strip around
//! the window's end (10 s before, 5 s after) when the patient has an ECG stream. In the consumer's
//! transaction, like the rules: a crash re-scores from the cursor, and an inference is unique per
//! (stream, window, type), so nothing is stored twice.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use super::af::{self, Features, Model, WINDOW};
use crate::alert::EscalationPolicy;
use crate::alert::raise::{Trigger, raise};
use crate::catalog::AlertLevel;
use crate::records::RecordError;
use crate::seed::AFIB_MODEL;
use crate::telemetry::codec;

/// A window whose beats span more than this is not scored (the device was silent in between).
const MAX_WINDOW_SPAN: Duration = Duration::minutes(3);

/// The active AF model: its row id, version and fitted parameters (from `hyperparams`; the built-in
/// [`af::MODEL`] when they do not parse).
#[derive(Clone, Debug)]
pub struct ActiveModel {
    pub id: Uuid,
    pub version: String,
    pub model: Model,
}

/// The active version of the built-in AF model, if any.
pub async fn active_model(conn: &mut PgConnection) -> Result<Option<ActiveModel>, RecordError> {
    let row = sqlx::query!(
        "select id, version, hyperparams, threshold from models
          where name = $1 and status = 'active' order by created_at desc limit 1",
        AFIB_MODEL.0
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| {
        let mut model: Model = serde_json::from_value(r.hyperparams).unwrap_or(af::MODEL);
        if let Some(t) = r.threshold {
            model.threshold = f64::from(t);
        }
        ActiveModel {
            id: r.id,
            version: r.version,
            model,
        }
    }))
}

/// One scored window.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Scored {
    pub inference_id: Uuid,
    pub score: f64,
    /// The alert it raised or updated, when it reached the threshold.
    pub alert_id: Option<Uuid>,
}

/// Scores the complete windows of RR stream `stream` (of `patient`, organization `org`) after its
/// cursor; returns what was stored.
pub async fn on_rr_stream(
    conn: &mut PgConnection,
    org: Uuid,
    patient: Uuid,
    stream: Uuid,
    batch_from: DateTime<Utc>,
    policy: &EscalationPolicy,
) -> Result<Vec<Scored>, RecordError> {
    let Some(model) = active_model(conn).await? else {
        return Ok(Vec::new());
    };
    sqlx::query!(
        "insert into inference_cursors (stream_id, model_id, evaluated_until) values ($1, $2, $3)
         on conflict (stream_id, model_id) do nothing",
        stream,
        model.id,
        batch_from - Duration::microseconds(1)
    )
    .execute(&mut *conn)
    .await?;
    let until = sqlx::query_scalar!(
        "select evaluated_until from inference_cursors where stream_id = $1 and model_id = $2 for update",
        stream,
        model.id
    )
    .fetch_one(&mut *conn)
    .await?;
    let beats = sqlx::query!(
        "select ts, value from vital_samples where stream_id = $1 and ts > $2 order by ts limit $3",
        stream,
        until,
        (WINDOW * 100) as i64
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::new();
    let mut last = until;
    for window in beats.chunks_exact(WINDOW) {
        let (start, end) = (window[0].ts, window[WINDOW - 1].ts);
        last = end;
        if end - start > MAX_WINDOW_SPAN {
            continue;
        }
        let rr: Vec<f64> = window.iter().map(|b| f64::from(b.value)).collect();
        let f = af::features(&rr);
        let score = model.model.score(&f);
        out.push(
            store(
                conn, org, patient, stream, &model, start, end, f, score, policy,
            )
            .await?,
        );
    }
    sqlx::query!(
        "update inference_cursors set evaluated_until = $3, updated_at = now()
          where stream_id = $1 and model_id = $2",
        stream,
        model.id,
        last
    )
    .execute(&mut *conn)
    .await?;
    Ok(out)
}

/// Stores one window's inference (once) and raises its alert when it scores at the threshold.
#[allow(clippy::too_many_arguments)]
async fn store(
    conn: &mut PgConnection,
    org: Uuid,
    patient: Uuid,
    stream: Uuid,
    model: &ActiveModel,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    f: Features,
    score: f64,
    policy: &EscalationPolicy,
) -> Result<Scored, RecordError> {
    let features = serde_json::to_value(f).unwrap_or(Value::Null);
    let inserted = sqlx::query_scalar!(
        "insert into inferences (org_id, model_id, stream_id, patient_id, window_start, window_end,
                                 predicted_event_type, score, threshold, metadata, feature_snapshot)
         values ($1, $2, $3, $4, $5, $6, 'AFIB', $7, $8, $9, $10)
         on conflict (stream_id, window_start, window_end, predicted_event_type) do nothing
         returning id",
        org,
        model.id,
        stream,
        patient,
        start,
        end + Duration::microseconds(1),
        score as f32,
        model.model.threshold as f32,
        json!({"model": AFIB_MODEL.0, "version": model.version, "beats": WINDOW}),
        features
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(id) = inserted else {
        let id = sqlx::query_scalar!(
            "select id from inferences where stream_id = $1 and window_start = $2 and predicted_event_type = 'AFIB'",
            stream,
            start
        )
        .fetch_one(&mut *conn)
        .await?;
        return Ok(Scored {
            inference_id: id,
            score,
            alert_id: None,
        });
    };
    let raised = if score >= model.model.threshold {
        let strip = ecg_strip(conn, patient, end).await?;
        let trigger = Trigger {
            org_id: org,
            patient_id: patient,
            alert_type: "ARRHYTHMIA".into(),
            level: AlertLevel::High,
            rule_id: None,
            model_id: Some(model.id),
            inference_id: Some(id),
            description: format!(
                "irregular rhythm suggesting atrial fibrillation (score {score:.2}, {} {})",
                AFIB_MODEL.0, model.version
            ),
            evidence: json!({
                "inference_id": id, "model": {"id": model.id, "name": AFIB_MODEL.0, "version": model.version,
                "threshold": model.model.threshold}, "score": score, "features": features,
                "window": {"stream_id": stream, "from": start, "to": end}, "ecg_strip": strip,
            }),
            at: end,
            actor: None,
            request_id: None,
        };
        Some(raise(conn, &trigger, policy).await?.alert_id)
    } else {
        None
    };
    Ok(Scored {
        inference_id: id,
        score,
        alert_id: raised,
    })
}

/// The ECG around `at` (10 s before, 5 s after) of the patient's most recent ECG stream, as it is
/// stored now: `{stream_id, from, to, sample_rate_hz, blocks: [{start_ts, values_mv}]}`, or null.
async fn ecg_strip(
    conn: &mut PgConnection,
    patient: Uuid,
    at: DateTime<Utc>,
) -> Result<Value, RecordError> {
    let Some(stream) = sqlx::query!(
        "select id, sample_rate_hz from signal_streams
          where patient_id = $1 and signal_type = 'ECG' order by started_at desc limit 1",
        patient
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(Value::Null);
    };
    let (from, to) = (at - Duration::seconds(10), at + Duration::seconds(5));
    let rows = sqlx::query!(
        "select start_ts, sample_rate_hz, sample_count, samples, encoding from waveform_blocks
          where stream_id = $1 and start_ts >= $2 and start_ts < $3
            and start_ts + make_interval(secs => sample_count / sample_rate_hz) > $4
          order by start_ts limit 64",
        stream.id,
        from - Duration::minutes(2),
        to,
        from
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut blocks = Vec::new();
    for r in rows {
        let Ok(values) = codec::decode_mv(r.encoding, &r.samples, r.sample_count as usize) else {
            continue;
        };
        // Keep only the samples inside the strip.
        let step = 1.0 / f64::from(r.sample_rate_hz);
        let offset = |t: DateTime<Utc>| {
            ((t - r.start_ts).num_microseconds().unwrap_or(0) as f64 / 1e6 / step).ceil()
        };
        let first = offset(from).max(0.0) as usize;
        let last = (offset(to).max(0.0) as usize).min(values.len());
        if first >= last {
            continue;
        }
        blocks.push(json!({
            "start_ts": r.start_ts + Duration::microseconds((first as f64 * step * 1e6) as i64),
            "values_mv": &values[first..last],
        }));
    }
    Ok(
        json!({"stream_id": stream.id, "sample_rate_hz": stream.sample_rate_hz, "from": from, "to": to,
              "blocks": blocks}),
    )
}

/// A stored inference.
#[derive(Clone, Debug, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Inference {
    pub id: Uuid,
    pub org_id: Uuid,
    pub model_id: Uuid,
    pub stream_id: Uuid,
    pub patient_id: Uuid,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub predicted_event_type: String,
    pub score: f32,
    pub threshold: Option<f32>,
    pub metadata: Value,
    pub feature_snapshot: Option<Value>,
    pub created_at: DateTime<Utc>,
}

impl hg_platform::page::Keyed for Inference {
    fn sort_key(&self, _: &str) -> Value {
        json!(self.window_start)
    }
    fn key_id(&self) -> Uuid {
        self.id
    }
}

/// Sortable fields of the inference list.
pub const SORTS: &[hg_platform::page::SortField] = &[hg_platform::page::SortField {
    name: "window_start",
    column: "i.window_start",
    ty: hg_platform::page::SqlType::Timestamp,
}];

/// The inferences of the patients the caller sees, optionally of one patient or stream, in a period.
#[allow(clippy::too_many_arguments)]
pub async fn list(
    conn: &mut PgConnection,
    caller: &crate::records::Caller,
    patient: Option<Uuid>,
    stream: Option<Uuid>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    page: &hg_platform::page::PageRequest,
) -> Result<hg_platform::page::Page<Inference>, RecordError> {
    let mut qb = sqlx::QueryBuilder::new(
        "select i.id, i.org_id, i.model_id, i.stream_id, i.patient_id, i.window_start, i.window_end,
                i.predicted_event_type, i.score, i.threshold, i.metadata, i.feature_snapshot, i.created_at
           from inferences i join patients p on p.id = i.patient_id where true",
    );
    caller.scope.push_patient_filter(&mut qb, "p");
    if let Some(p) = patient {
        qb.push(" and i.patient_id = ").push_bind(p);
    }
    if let Some(s) = stream {
        qb.push(" and i.stream_id = ").push_bind(s);
    }
    if let Some(f) = from {
        qb.push(" and i.window_start >= ").push_bind(f);
    }
    if let Some(t) = to {
        qb.push(" and i.window_start < ").push_bind(t);
    }
    Ok(page.fetch(conn, qb, "i.id").await?)
}

/// A stream named in a request body (`stream_id`).
pub(super) struct NamedStream {
    pub org_id: Uuid,
    pub patient_id: Uuid,
    pub signal_type: String,
    pub started_at: DateTime<Utc>,
}

/// The stream `id` a request body names, if its patient is one the caller sees; otherwise 400 on
/// `stream_id` (a body's reference, not the resource of the path).
pub(super) async fn named_stream(
    conn: &mut PgConnection,
    caller: &crate::records::Caller,
    id: Uuid,
) -> Result<NamedStream, RecordError> {
    let not_visible = || RecordError::invalid("stream_id", "is no stream you can see");
    let s = sqlx::query_as!(
        NamedStream,
        "select org_id, patient_id, signal_type, started_at from signal_streams where id = $1",
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(not_visible)?;
    crate::patient::visible(conn, caller, s.patient_id)
        .await
        .map_err(|_| not_visible())?;
    Ok(s)
}

/// Runs the model now on RR stream `stream` (the caller must see its patient and manage its
/// alerts): scores the complete windows not yet scored, as the consumer would.
pub async fn run(
    pool: &sqlx::PgPool,
    caller: &crate::records::Caller,
    stream: Uuid,
    policy: &EscalationPolicy,
) -> Result<Vec<Scored>, RecordError> {
    let mut tx = pool.begin().await?;
    let s = named_stream(&mut tx, caller, stream).await?;
    caller.require(crate::catalog::Permission::AlertsManage, Some(s.org_id))?;
    if s.signal_type != "HRV" {
        return Err(RecordError::invalid(
            "stream_id",
            format!(
                "is a {} stream; the AF model reads RR intervals (HRV)",
                s.signal_type
            ),
        ));
    }
    let scored = on_rr_stream(
        &mut tx,
        s.org_id,
        s.patient_id,
        stream,
        s.started_at,
        policy,
    )
    .await?;
    tx.commit().await?;
    Ok(scored)
}

/// A model as listed.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ModelRow {
    pub id: Uuid,
    pub name: String,
    pub version: String,
    pub task: String,
    pub training_data_ref: Option<String>,
    pub hyperparams: Value,
    pub threshold: Option<f32>,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

/// Every model.
pub async fn models(conn: &mut PgConnection) -> Result<Vec<ModelRow>, RecordError> {
    Ok(sqlx::query_as!(
        ModelRow,
        "select id, name, version, task, training_data_ref, hyperparams, threshold, status, created_at
           from models order by name, created_at desc"
    )
    .fetch_all(conn)
    .await?)
}
