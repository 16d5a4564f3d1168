//! The patient list: filters, the caller's scope split into index-driven parts, keyset pages.

use hg_platform::audit::Action;
use hg_platform::page::Keyed;
use hg_platform::page::{Page, PageRequest, SortField, SqlType};
use serde_json::json;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use super::{COLUMNS, Patient};
use crate::records::{Caller, RecordError};

/// Sortable fields of the patient list.
pub const SORTS: &[SortField] = &[
    SortField {
        name: "person_name",
        column: "p.person_name",
        ty: SqlType::Text,
    },
    SortField {
        name: "created_at",
        column: "p.created_at",
        ty: SqlType::Timestamp,
    },
];

/// Filters of the patient list.
#[derive(Default)]
pub struct Filters {
    pub org: Option<Uuid>,
    pub risk_level: Option<&'static str>,
    pub care_team: Option<Uuid>,
    pub q: Option<String>,
    /// Archived patients instead of current ones (org_admins and superadmins).
    pub archived: bool,
}

/// Which part of the caller's scope a query covers (see [`list`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    /// All of it.
    Whole,
    /// The patients of the caller's org-wide organizations (or every patient: superadmin).
    OrgWide,
    /// The patients of the caller's links, outside those organizations.
    Linked,
}

fn push_filters(qb: &mut QueryBuilder<Postgres>, caller: &Caller, f: &Filters) {
    push_part_filters(qb, caller, f, Part::Whole);
}

fn push_part_filters(qb: &mut QueryBuilder<Postgres>, caller: &Caller, f: &Filters, part: Part) {
    if f.archived {
        qb.push(" and p.archived_at is not null");
        // Archived records are for those who administer them.
        if !caller.is_superadmin() {
            qb.push(" and p.org_id = any(")
                .push_bind(caller.scope.org_wide.clone())
                .push(")");
        }
    } else {
        qb.push(" and p.archived_at is null");
    }
    match part {
        Part::Whole => caller.scope.push_patient_filter(qb, "p"),
        Part::OrgWide => caller.scope.push_org_wide_patients(qb, "p"),
        Part::Linked => {
            caller.scope.push_linked_patients(qb, "p");
        }
    }
    if let Some(org) = f.org {
        qb.push(" and p.org_id = ").push_bind(org);
    }
    if let Some(r) = f.risk_level {
        qb.push(" and p.risk_level = ").push_bind(r);
    }
    if let Some(team) = f.care_team {
        qb.push(" and exists (select 1 from patient_care_team ft where ft.patient_id = p.id and ft.team_id = ")
            .push_bind(team)
            .push(")");
    }
    if let Some(q) = &f.q {
        let like = format!(
            "%{}%",
            q.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        qb.push(" and (p.person_name ilike ")
            .push_bind(like.clone())
            .push(" or p.email ilike ")
            .push_bind(like)
            .push(")");
    }
}

/// A row with the number of rows its query matched before the limit (`count(*) over ()`).
#[derive(sqlx::FromRow)]
struct Counted<T> {
    #[sqlx(flatten)]
    item: T,
    matched: i64,
}

/// The patients the caller can see; the read is audited.
///
/// Two shapes, both driven by indexes:
/// * a caller whose patients are bounded by their own links (care teams, caregiving, self) reads
///   them all — a few hundred — sorted, and counts them in the same query;
/// * a caller who sees whole organizations (org_admin, viewer, superadmin) reads the page from the
///   `(org_id, person_name, id)` index, stopping after it, unioned with the page of their other
///   links outside those organizations; the total adds the index-only count of the organizations'
///   patients to the count of those links.
pub async fn list(
    conn: &mut PgConnection,
    caller: &Caller,
    f: &Filters,
    page: &PageRequest,
) -> Result<Page<Patient>, RecordError> {
    let linked_only = caller.scope.patients_link_bounded();
    let window = page.after.is_none() && linked_only;
    let mut qb = if linked_only {
        let mut qb = QueryBuilder::new(format!(
            "select {COLUMNS}, {} as matched from patients p where true",
            if window {
                "count(*) over ()"
            } else {
                "0::bigint"
            }
        ));
        push_filters(&mut qb, caller, f);
        qb
    } else {
        let mut qb = QueryBuilder::new(format!(
            "select *, 0::bigint as matched from ((select {COLUMNS} from patients p where true"
        ));
        push_part_filters(&mut qb, caller, f, Part::OrgWide);
        page.push_after(&mut qb, "p.id");
        page.push_order_limit_part(&mut qb, "p.id");
        qb.push(")");
        let mut linked = QueryBuilder::new("");
        if caller.scope.push_linked_patients(&mut linked, "p") {
            qb.push(format!(
                " union (select {COLUMNS} from patients p where true"
            ));
            push_part_filters(&mut qb, caller, f, Part::Linked);
            page.push_after(&mut qb, "p.id");
            page.push_order_limit_part(&mut qb, "p.id");
            qb.push(")");
        }
        qb.push(") p where true");
        qb
    };
    page.push_after(&mut qb, "p.id");
    page.push_order_limit(&mut qb, "p.id");
    let rows: Vec<Counted<Patient>> = qb.build_query_as().fetch_all(&mut *conn).await?;
    let matched = rows.first().filter(|_| window).map(|r| r.matched);
    let rows = rows.into_iter().map(|r| r.item).collect();
    let mut out = page.finish(rows, |p| (p.sort_key(page.sort.field.name), p.id));
    // Counting every patient of the installation (a superadmin's unfiltered list) would read them
    // all on every page: the total is given only when the page itself tells it (spec/03: "when
    // cheap").
    let everything = caller.scope.all
        && f.org.is_none()
        && f.risk_level.is_none()
        && f.care_team.is_none()
        && f.q.is_none();
    out.total = match matched {
        Some(n) => Some(n),
        None if everything => page.total_if_known(&out),
        None => Some(page.total(&out, count(conn, caller, f)).await?),
    };
    let ids: Vec<Uuid> = out.items.iter().map(|p| p.id).collect();
    caller
        .audit(Action::PatientList)
        .entity_kind("patient")
        .org(f.org)
        .details(json!({"count": ids.len(), "patient_ids": ids}))
        .record(conn)
        .await?;
    Ok(out)
}

/// How many patients the caller can see with `f` (see [`list`] for the two shapes).
pub async fn count(
    conn: &mut PgConnection,
    caller: &Caller,
    f: &Filters,
) -> Result<i64, RecordError> {
    if caller.scope.patients_link_bounded() {
        let mut qb = QueryBuilder::new("select count(*) from patients p where true");
        push_filters(&mut qb, caller, f);
        return Ok(qb.build_query_scalar().fetch_one(conn).await?);
    }
    let mut qb = QueryBuilder::new("select (select count(*) from patients p where true");
    push_part_filters(&mut qb, caller, f, Part::OrgWide);
    qb.push(")");
    let mut linked = QueryBuilder::new("");
    if caller.scope.push_linked_patients(&mut linked, "p") {
        qb.push(" + (select count(*) from patients p where true");
        push_part_filters(&mut qb, caller, f, Part::Linked);
        qb.push(")");
    }
    Ok(qb.build_query_scalar().fetch_one(conn).await?)
}
