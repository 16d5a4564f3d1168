//! Managing models (`/inference/models`, superadmins: `models.manage`) and recording inferences
//! made elsewhere (`POST /inference/inferences`, `inferences.write`). A model is versioned: a new
//! version is a new row (name and version unique); a version is changed only in its status (active
//! or retired) and threshold, so stored inferences keep meaning what they meant. Every change is
//! audited (`MODEL_CHANGE`).

use chrono::{DateTime, Utc};
use hg_platform::audit::Action;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::inference::{Inference, ModelRow};
use crate::alert::EscalationPolicy;
use crate::alert::raise::{Trigger, raise};
use crate::catalog::{AlertLevel, Permission};
use crate::records::{Caller, RecordError, optional_text, required_text};

const NOT_FOUND: RecordError = RecordError::NotFound("HG-MODEL-NOT-FOUND", "no such model");

/// A new model version.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewModel {
    pub name: String,
    pub version: String,
    /// What it detects, in words.
    pub task: String,
    pub training_data_ref: Option<String>,
    /// Its parameters (for the built-in AF model: `weights`, `bias`, `threshold`).
    pub hyperparams: Option<Value>,
    /// 0–1.
    pub threshold: Option<f64>,
}

/// What may change in a version.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelChange {
    /// active or retired.
    pub status: Option<String>,
    /// 0–1.
    pub threshold: Option<f64>,
}

fn threshold(t: Option<f64>) -> Result<Option<f32>, RecordError> {
    match t {
        Some(v) if !(0.0..=1.0).contains(&v) => {
            Err(RecordError::invalid("threshold", "is between 0 and 1"))
        }
        other => Ok(other.map(|v| v as f32)),
    }
}

async fn one(conn: &mut PgConnection, id: Uuid) -> Result<ModelRow, RecordError> {
    sqlx::query_as!(
        ModelRow,
        "select id, name, version, task, training_data_ref, hyperparams, threshold, status, created_at
           from models where id = $1",
        id
    )
    .fetch_optional(conn)
    .await?
    .ok_or(NOT_FOUND)
}

/// One model (any signed-in staff member may read models).
pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<ModelRow, RecordError> {
    one(conn, id).await
}

/// Registers a model version.
pub async fn create(pool: &PgPool, caller: &Caller, m: NewModel) -> Result<ModelRow, RecordError> {
    caller.require(Permission::ModelsManage, None)?;
    let name = required_text("name", &m.name, 120)?;
    let version = required_text("version", &m.version, 40)?;
    let task = required_text("task", &m.task, 500)?;
    let data_ref = optional_text("training_data_ref", m.training_data_ref.as_deref(), 500)?;
    let hyperparams = m.hyperparams.unwrap_or_else(|| json!({}));
    if !hyperparams.is_object() {
        return Err(RecordError::invalid("hyperparams", "is an object"));
    }
    let threshold = threshold(m.threshold)?;
    let mut tx = pool.begin().await?;
    let id = sqlx::query_scalar!(
        "insert into models (name, version, task, training_data_ref, hyperparams, threshold)
         values ($1, $2, $3, $4, $5, $6) returning id",
        name,
        version,
        task,
        data_ref,
        hyperparams,
        threshold
    )
    .fetch_one(&mut *tx)
    .await?;
    let row = one(&mut tx, id).await?;
    caller
        .audit(Action::ModelChange)
        .entity("model", id)
        .details(json!({"change": "created", "name": row.name, "version": row.version, "threshold": row.threshold}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(row)
}

/// Retires or re-activates a version, or moves its threshold.
pub async fn update(
    pool: &PgPool,
    caller: &Caller,
    id: Uuid,
    c: ModelChange,
) -> Result<ModelRow, RecordError> {
    caller.require(Permission::ModelsManage, None)?;
    if let Some(s) = c.status.as_deref()
        && !matches!(s, "active" | "retired")
    {
        return Err(RecordError::invalid("status", "is active or retired"));
    }
    let t = threshold(c.threshold)?;
    let mut tx = pool.begin().await?;
    let before = one(&mut tx, id).await?;
    sqlx::query!(
        "update models set status = coalesce($2, status), threshold = coalesce($3, threshold), updated_at = now()
          where id = $1",
        id,
        c.status,
        t
    )
    .execute(&mut *tx)
    .await?;
    let after = one(&mut tx, id).await?;
    caller
        .audit(Action::ModelChange)
        .entity("model", id)
        .details(json!({"change": "updated", "before": {"status": before.status, "threshold": before.threshold},
                        "after": {"status": after.status, "threshold": after.threshold}}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(after)
}

/// An inference made elsewhere.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInference {
    pub model_id: Uuid,
    pub stream_id: Uuid,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    /// An event type code (AFIB, TACHY, …).
    pub predicted_event_type: String,
    /// 0–1.
    pub score: f64,
    /// 0–1; default the model's.
    pub threshold: Option<f64>,
    pub metadata: Option<Value>,
}

/// The alert type an event type raises.
fn alert_type(event_type: &str) -> &str {
    match event_type {
        "AFIB" => "ARRHYTHMIA",
        other => other,
    }
}

/// Records an inference (once per stream, window and type) and raises its alert at the threshold;
/// returns it and whether it is new.
pub async fn record(
    pool: &PgPool,
    caller: &Caller,
    n: NewInference,
    policy: &EscalationPolicy,
) -> Result<(Inference, bool), RecordError> {
    if !(0.0..=1.0).contains(&n.score) {
        return Err(RecordError::invalid("score", "is between 0 and 1"));
    }
    let t = threshold(n.threshold)?;
    if n.window_start >= n.window_end {
        return Err(RecordError::invalid(
            "window_end",
            "must be after window_start",
        ));
    }
    let mut tx = pool.begin().await?;
    let stream = super::inference::named_stream(&mut tx, caller, n.stream_id).await?;
    caller.require(Permission::InferencesWrite, Some(stream.org_id))?;
    let model = one(&mut tx, n.model_id)
        .await
        .map_err(|_| RecordError::invalid("model_id", "is no model"))?;
    let level = sqlx::query_scalar!(
        "select default_level from event_types where code = $1",
        n.predicted_event_type
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| RecordError::invalid("predicted_event_type", "is no known event type"))?;
    let threshold = t.or(model.threshold).unwrap_or(0.5);
    let inserted = sqlx::query_scalar!(
        "insert into inferences (org_id, model_id, stream_id, patient_id, window_start, window_end,
                                 predicted_event_type, score, threshold, metadata)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         on conflict (stream_id, window_start, window_end, predicted_event_type) do nothing
         returning id",
        stream.org_id,
        model.id,
        n.stream_id,
        stream.patient_id,
        n.window_start,
        n.window_end,
        n.predicted_event_type,
        n.score as f32,
        threshold,
        n.metadata.unwrap_or_else(|| json!({}))
    )
    .fetch_optional(&mut *tx)
    .await?;
    let (id, new) = match inserted {
        Some(id) => (id, true),
        None => (
            sqlx::query_scalar!(
                "select id from inferences where stream_id = $1 and window_start = $2 and window_end = $3
                    and predicted_event_type = $4",
                n.stream_id,
                n.window_start,
                n.window_end,
                n.predicted_event_type
            )
            .fetch_one(&mut *tx)
            .await?,
            false,
        ),
    };
    if new && n.score >= f64::from(threshold) {
        let trigger = Trigger {
            org_id: stream.org_id,
            patient_id: stream.patient_id,
            alert_type: alert_type(&n.predicted_event_type).to_owned(),
            level: AlertLevel::parse(&level).unwrap_or(AlertLevel::Medium),
            rule_id: None,
            model_id: Some(model.id),
            inference_id: Some(id),
            description: format!(
                "{} predicted by {} {} (score {:.2})",
                n.predicted_event_type, model.name, model.version, n.score
            ),
            evidence: json!({"inference_id": id, "model": {"id": model.id, "name": model.name,
                             "version": model.version, "threshold": threshold}, "score": n.score,
                             "window": {"stream_id": n.stream_id, "from": n.window_start, "to": n.window_end}}),
            at: n.window_end,
            actor: Some(caller.id()),
            request_id: caller.meta.request_id.clone(),
        };
        raise(&mut tx, &trigger, policy).await?;
    }
    let row: Inference = sqlx::query_as!(
        Inference,
        "select id, org_id, model_id, stream_id, patient_id, window_start, window_end, predicted_event_type,
                score, threshold, metadata, feature_snapshot, created_at
           from inferences where id = $1",
        id
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((row, new))
}
