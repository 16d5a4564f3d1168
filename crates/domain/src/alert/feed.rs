//! The live feed's reading side (`GET /alerts/stream`): the alert changes after a position in
//! `alert_history`, scoped like the alert list, in order, none skipped.
//!
//! History ids come from an identity, assigned when a row is inserted, not when its transaction
//! commits: a reader that has seen id 11 may later see id 10 commit. So the feed advances only over
//! a contiguous run of ids; at a hole it waits — the row is usually in a transaction about to
//! commit — and steps over the hole only once it has stayed open for [`HOLE_WAIT`] (a rolled-back
//! insert leaves a permanent hole). Holes are found among all rows, then the caller's scope picks
//! what it may see, so another organization's rows are never mistaken for holes.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, QueryBuilder};
use uuid::Uuid;

use crate::records::{Caller, RecordError};

/// How long a hole in the history ids is waited for before the feed steps over it.
pub const HOLE_WAIT: Duration = Duration::from_secs(3);
/// Rows read per step.
const STEP: i64 = 500;

/// One change, as the feed sends it (the SSE event id is `id`).
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Change {
    pub id: i64,
    pub alert_id: Uuid,
    pub org_id: Uuid,
    pub patient_id: Uuid,
    pub alert_type: String,
    pub action: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub alert_level: String,
    pub actor_id: Option<Uuid>,
    pub details: Value,
    pub at: DateTime<Utc>,
}

/// Where one client's feed stands.
#[derive(Debug)]
pub struct Feed {
    /// Every change up to this id has been sent (or is not the client's to see).
    after: i64,
    /// Since when the feed waits at a hole just after `after`.
    hole_since: Option<Instant>,
}

impl Feed {
    /// A feed from after `last_event_id` (a reconnecting client), or from now.
    pub async fn start(
        conn: &mut PgConnection,
        last_event_id: Option<i64>,
    ) -> Result<Feed, RecordError> {
        let after = match last_event_id {
            Some(id) => id.max(0),
            None => {
                sqlx::query_scalar!(r#"select coalesce(max(id), 0) as "id!" from alert_history"#)
                    .fetch_one(conn)
                    .await?
            }
        };
        Ok(Feed {
            after,
            hole_since: None,
        })
    }

    /// The changes since the last call that the caller may see, in order (possibly none).
    pub async fn next(
        &mut self,
        conn: &mut PgConnection,
        caller: &Caller,
    ) -> Result<Vec<Change>, RecordError> {
        let ids = sqlx::query_scalar!(
            "select id from alert_history where id > $1 order by id limit $2",
            self.after,
            STEP
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut upto = self.after;
        for id in ids {
            if id == upto + 1 {
                upto = id;
                continue;
            }
            // A hole before `id`: wait for it, unless it has been open long enough.
            if upto == self.after {
                let since = *self.hole_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= HOLE_WAIT {
                    self.hole_since = None;
                    upto = id;
                    continue;
                }
            }
            break;
        }
        if upto == self.after {
            return Ok(Vec::new());
        }
        if upto > self.after {
            self.hole_since = None;
        }
        let mut qb = QueryBuilder::new(
            "select h.id, h.alert_id, h.org_id, h.patient_id, a.alert_type, h.action, h.from_status,
                    h.to_status, h.alert_level, h.actor_id, h.details, h.at
               from alert_history h
               join alerts a on a.id = h.alert_id
               join patients p on p.id = h.patient_id
              where h.id > ",
        );
        qb.push_bind(self.after)
            .push(" and h.id <= ")
            .push_bind(upto);
        caller.scope.push_patient_filter(&mut qb, "p");
        qb.push(" order by h.id");
        let changes = qb.build_query_as().fetch_all(&mut *conn).await?;
        self.after = upto;
        Ok(changes)
    }

    /// The position to resume from (the last id passed).
    pub fn position(&self) -> i64 {
        self.after
    }
}
