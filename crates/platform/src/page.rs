//! Pages of lists (spec/03 "Lists"): what a client asked for (`PageRequest`: limit, offset or keyset
//! cursor, sort on documented fields), the keyset SQL that serves it, and the page it gives back.
//! Nothing here knows HTTP: the query string is parsed into a `PageRequest` by `hg-http`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Default page size.
pub const DEFAULT_LIMIT: i64 = 50;
/// Largest page size.
pub const MAX_LIMIT: i64 = 200;

/// How a sortable field is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqlType {
    Text,
    Timestamp,
    Integer,
}

impl SqlType {
    fn cast(self) -> &'static str {
        match self {
            SqlType::Text => "text",
            SqlType::Timestamp => "timestamptz",
            SqlType::Integer => "bigint",
        }
    }
}

/// A field a list may be sorted by: its API name and its SQL expression (never null).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SortField {
    pub name: &'static str,
    pub column: &'static str,
    pub ty: SqlType,
}

/// The chosen order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sort {
    pub field: SortField,
    pub desc: bool,
}

/// What the client asked for.
#[derive(Clone, Debug)]
pub struct PageRequest {
    pub limit: i64,
    pub offset: Option<i64>,
    pub sort: Sort,
    pub after: Option<Cursor>,
}

/// Where the previous page ended: the sort value and the id of its last row.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Cursor {
    f: String,
    d: bool,
    v: Value,
    id: Uuid,
}

impl Cursor {
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// The cursor a page handed out as `next_cursor`, if `raw` is one.
    pub fn decode(raw: &str) -> Option<Self> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(raw).ok()?).ok()
    }

    /// The sort field it continues.
    pub fn field(&self) -> &str {
        &self.f
    }

    /// Whether that sort is descending.
    pub fn desc(&self) -> bool {
        self.d
    }

    /// The id of the last row of the page it follows.
    pub fn id(&self) -> Uuid {
        self.id
    }

    fn value_text(&self) -> String {
        match &self.v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

impl PageRequest {
    /// Appends the keyset condition (`and (col, id) > (…)`) for rows after the cursor; `id` is the
    /// row's id column.
    pub fn push_after(&self, qb: &mut sqlx::QueryBuilder<sqlx::Postgres>, id: &str) {
        if let Some(c) = &self.after {
            let op = if self.sort.desc { "<" } else { ">" };
            qb.push(format_args!(
                " and ({}, {id}) {op} (",
                self.sort.field.column
            ))
            .push_bind(c.value_text())
            .push(format_args!("::{}, ", self.sort.field.ty.cast()))
            .push_bind(c.id)
            .push(")");
        }
    }

    /// Appends `order by … limit …` (one extra row, to know whether a next page exists) and the offset.
    pub fn push_order_limit(&self, qb: &mut sqlx::QueryBuilder<sqlx::Postgres>, id: &str) {
        let dir = if self.sort.desc { "desc" } else { "asc" };
        qb.push(format_args!(
            " order by {} {dir}, {id} {dir} limit ",
            self.sort.field.column
        ))
        .push_bind(self.limit + 1);
        if let Some(o) = self.offset {
            qb.push(" offset ").push_bind(o);
        }
    }

    /// Appends `order by … limit …` for one part of a union that an outer query pages with
    /// [`PageRequest::push_order_limit`]: as many rows as that page and its offset can take.
    pub fn push_order_limit_part(&self, qb: &mut sqlx::QueryBuilder<sqlx::Postgres>, id: &str) {
        let dir = if self.sort.desc { "desc" } else { "asc" };
        qb.push(format_args!(
            " order by {} {dir}, {id} {dir} limit ",
            self.sort.field.column
        ))
        .push_bind(self.offset.unwrap_or(0) + self.limit + 1);
    }

    /// The total, when `page` (built by [`PageRequest::finish`]) already tells it: the last page of
    /// a list read from its start or from an offset inside it. Saves the count query for the
    /// common short list (a caregiver's patients, a team's members).
    pub fn total_if_known<T>(&self, page: &Page<T>) -> Option<i64> {
        let offset = self.offset.unwrap_or(0);
        let last = page.next_cursor.is_none();
        (self.after.is_none() && last && (offset == 0 || !page.items.is_empty()))
            .then(|| offset + page.items.len() as i64)
    }

    /// The total of `page`'s list: told by the page when it can ([`PageRequest::total_if_known`]),
    /// otherwise by awaiting `count` (the list's count query, which only runs then).
    pub async fn total<T, E>(
        &self,
        page: &Page<T>,
        count: impl std::future::Future<Output = Result<i64, E>>,
    ) -> Result<i64, E> {
        match self.total_if_known(page) {
            Some(n) => Ok(n),
            None => count.await,
        }
    }

    /// Cuts the extra row off and builds the next cursor from the last row kept, given each row's
    /// (sort value, id).
    pub fn finish<T>(&self, mut rows: Vec<T>, key: impl Fn(&T) -> (Value, Uuid)) -> Page<T> {
        let more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| {
                let (v, id) = key(r);
                Cursor {
                    f: self.sort.field.name.to_owned(),
                    d: self.sort.desc,
                    v,
                    id,
                }
                .encode()
            })
        } else {
            None
        };
        Page {
            items: rows,
            limit: self.limit,
            next_cursor,
            total: None,
        }
    }
}

/// A row of a keyset-paged list: its value of a sort field (named by [`SortField::name`]) and its
/// id, from which the next page's cursor is made.
pub trait Keyed {
    fn sort_key(&self, field: &str) -> Value;
    fn key_id(&self) -> Uuid;
}

impl PageRequest {
    /// Reads one page of `qb` (a select whose filters are in place, ending inside its `where`):
    /// appends the keyset condition and the order and limit on the sort column and `id`, fetches
    /// and cuts the page.
    pub async fn fetch<T>(
        &self,
        conn: &mut sqlx::PgConnection,
        mut qb: sqlx::QueryBuilder<sqlx::Postgres>,
        id: &str,
    ) -> Result<Page<T>, sqlx::Error>
    where
        T: Keyed + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
    {
        self.push_after(&mut qb, id);
        self.push_order_limit(&mut qb, id);
        let rows: Vec<T> = qb.build_query_as().fetch_all(conn).await?;
        Ok(self.finish(rows, |r| (r.sort_key(self.sort.field.name), r.key_id())))
    }

    /// [`PageRequest::fetch`] with the total, from the page when it tells it and otherwise from
    /// `count` (`select count(*)` with the same filters).
    pub async fn fetch_counted<T>(
        &self,
        conn: &mut sqlx::PgConnection,
        qb: sqlx::QueryBuilder<sqlx::Postgres>,
        mut count: sqlx::QueryBuilder<sqlx::Postgres>,
        id: &str,
    ) -> Result<Page<T>, sqlx::Error>
    where
        T: Keyed + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
    {
        let mut out = self.fetch(&mut *conn, qb, id).await?;
        let total = count.build_query_scalar().fetch_one(conn);
        out.total = Some(self.total(&out, total).await?);
        Ok(out)
    }
}

/// One page of a list.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub limit: i64,
    pub next_cursor: Option<String>,
    pub total: Option<i64>,
}
