//! Evaluating a model against ground truth (`GET /inference/models/{id}/evaluation`): each stored
//! inference of the model in a period is a prediction (positive when its score reached its
//! threshold) and its truth is whether its window overlaps a ground-truth label of the predicted
//! event type for the same patient. Scoped like patient reads: a caller evaluates on the patients
//! they see (a superadmin on all).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, QueryBuilder};
use uuid::Uuid;

use crate::records::{Caller, RecordError};

const NOT_FOUND: RecordError = RecordError::NotFound("HG-MODEL-NOT-FOUND", "no such model");

/// Confusion counts and the figures made of them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Evaluation {
    pub model_id: Uuid,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub true_positives: i64,
    pub false_positives: i64,
    pub true_negatives: i64,
    pub false_negatives: i64,
    /// None when nothing was predicted positive.
    pub precision: Option<f64>,
    /// None when there was no positive window.
    pub recall: Option<f64>,
    pub f1: Option<f64>,
}

impl Evaluation {
    /// Fills precision, recall and F1 from the counts.
    pub fn with_figures(mut self) -> Self {
        let (tp, fp, fn_) = (
            self.true_positives as f64,
            self.false_positives as f64,
            self.false_negatives as f64,
        );
        self.precision = (tp + fp > 0.0).then(|| tp / (tp + fp));
        self.recall = (tp + fn_ > 0.0).then(|| tp / (tp + fn_));
        self.f1 = match (self.precision, self.recall) {
            (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
            (Some(_), Some(_)) => Some(0.0),
            _ => None,
        };
        self
    }
}

/// Evaluates model `id` on the inferences whose window starts in [`from`, `to`).
pub async fn evaluate(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Evaluation, RecordError> {
    let exists = sqlx::query_scalar!(
        "select exists (select 1 from models where id = $1) as \"e!\"",
        id
    )
    .fetch_one(&mut *conn)
    .await?;
    if !exists {
        return Err(NOT_FOUND);
    }
    let mut qb = QueryBuilder::new(
        "select coalesce(sum(case when predicted and truth then 1 else 0 end), 0)::bigint,
                coalesce(sum(case when predicted and not truth then 1 else 0 end), 0)::bigint,
                coalesce(sum(case when not predicted and not truth then 1 else 0 end), 0)::bigint,
                coalesce(sum(case when not predicted and truth then 1 else 0 end), 0)::bigint
           from (select i.score >= coalesce(i.threshold, m.threshold, 0.5) as predicted,
                        exists (select 1 from ground_truth_labels g
                                 where g.patient_id = i.patient_id and g.event_type = i.predicted_event_type
                                   and g.onset < i.window_end and g.offset_at > i.window_start) as truth
                   from inferences i
                   join models m on m.id = i.model_id
                   join patients p on p.id = i.patient_id
                  where i.model_id = ",
    );
    qb.push_bind(id)
        .push(" and i.window_start >= ")
        .push_bind(from)
        .push(" and i.window_start < ")
        .push_bind(to);
    caller.scope.push_patient_filter(&mut qb, "p");
    qb.push(") w");
    let (tp, fp, tn, fn_): (i64, i64, i64, i64) = qb.build_query_as().fetch_one(conn).await?;
    Ok(Evaluation {
        model_id: id,
        from,
        to,
        true_positives: tp,
        false_positives: fp,
        true_negatives: tn,
        false_negatives: fn_,
        ..Default::default()
    }
    .with_figures())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_follow_the_counts() {
        let e = Evaluation {
            true_positives: 8,
            false_positives: 2,
            true_negatives: 85,
            false_negatives: 2,
            ..Default::default()
        }
        .with_figures();
        assert_eq!(e.precision, Some(0.8));
        assert_eq!(e.recall, Some(0.8));
        assert!((e.f1.unwrap() - 0.8).abs() < 1e-12);
        let none = Evaluation::default().with_figures();
        assert_eq!((none.precision, none.recall, none.f1), (None, None, None));
    }
}
