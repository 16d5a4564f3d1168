//! MTTA and MTTR (spec/05 "Metrics"): for the alerts created in a period, per organization and
//! level, how many there were, how long until the first acknowledgement (mean time to acknowledge)
//! and until resolution (mean time to resolve), over those that got there. Scoped like the alert
//! list: a caller counts the alerts of the patients they see.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, QueryBuilder};
use uuid::Uuid;

use crate::records::{Caller, RecordError};

/// One organization and level.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct LevelStats {
    pub org_id: Uuid,
    pub alert_level: String,
    pub alerts: i64,
    pub acknowledged: i64,
    pub resolved: i64,
    /// Mean seconds from creation to acknowledgement (None when none was acknowledged).
    pub mtta_s: Option<f64>,
    /// Mean seconds from creation to resolution (None when none was resolved).
    pub mttr_s: Option<f64>,
}

/// The figures of the alerts created in [`from`, `to`), optionally of one organization.
pub async fn stats(
    conn: &mut PgConnection,
    caller: &Caller,
    org: Option<Uuid>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<LevelStats>, RecordError> {
    let mut qb = QueryBuilder::new(
        "select a.org_id, a.alert_level, count(*) as alerts, count(a.acknowledged_at) as acknowledged,
                count(a.resolved_at) as resolved,
                (avg(extract(epoch from a.acknowledged_at - a.created_at)))::float8 as mtta_s,
                (avg(extract(epoch from a.resolved_at - a.created_at)))::float8 as mttr_s
           from alerts a
           join patients p on p.id = a.patient_id
           join alert_levels l on l.code = a.alert_level
          where a.created_at >= ",
    );
    qb.push_bind(from)
        .push(" and a.created_at < ")
        .push_bind(to);
    if let Some(o) = org {
        qb.push(" and a.org_id = ").push_bind(o);
    }
    caller.scope.push_patient_filter(&mut qb, "p");
    qb.push(" group by a.org_id, a.alert_level, l.weight order by a.org_id, l.weight");
    Ok(qb.build_query_as().fetch_all(conn).await?)
}
