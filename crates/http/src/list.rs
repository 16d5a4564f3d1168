//! Query parameters (spec/03 "Lists"): `?limit=` (default 50, max 200), `?cursor=`
//! (opaque keyset) or `?offset=`, `?sort=field` / `-field` on documented fields only, filters named
//! after fields. Every parameter is consumed by name; anything left over, or malformed, is 400 naming
//! it — a typo in a filter never silently widens a result.

use std::collections::BTreeMap;

use axum::extract::FromRequestParts;
use chrono::{DateTime, Utc};
use hg_platform::page::{Cursor, DEFAULT_LIMIT, MAX_LIMIT, Page, PageRequest, Sort, SortField};
use http::request::Parts;
use serde::Serialize;
use uuid::Uuid;

use super::envelope::{ApiError, ApiResponse};

/// The query string of a request, taken apart parameter by parameter.
#[derive(Debug, Default)]
pub struct QueryParams {
    params: BTreeMap<String, String>,
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let mut params = BTreeMap::new();
        for (k, v) in url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()) {
            if params.insert(k.to_string(), v.to_string()).is_some() {
                return Err(ApiError::invalid_field(
                    k.to_string(),
                    "is given more than once",
                ));
            }
        }
        Ok(Self { params })
    }
}

fn invalid(field: &str, problem: impl Into<String>) -> ApiError {
    ApiError::invalid_field(field.to_owned(), problem.into())
}

impl QueryParams {
    /// Parameters from pairs (tests).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            params: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    /// A text parameter (trimmed; blank counts as absent), at most `max_len` characters.
    pub fn text(&mut self, name: &str, max_len: usize) -> Result<Option<String>, ApiError> {
        match self.params.remove(name).map(|v| v.trim().to_owned()) {
            None => Ok(None),
            Some(v) if v.is_empty() => Ok(None),
            Some(v) if v.chars().count() > max_len => Err(invalid(
                name,
                format!("must have at most {max_len} characters"),
            )),
            Some(v) if v.chars().any(char::is_control) => {
                Err(invalid(name, "must not contain control characters"))
            }
            Some(v) => Ok(Some(v)),
        }
    }

    /// A UUID parameter.
    pub fn uuid(&mut self, name: &str) -> Result<Option<Uuid>, ApiError> {
        self.text(name, 64)?
            .map(|v| v.parse().map_err(|_| invalid(name, "must be a UUID")))
            .transpose()
    }

    /// A boolean parameter (`true`/`false`).
    pub fn boolean(&mut self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.text(name, 8)?.as_deref() {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(invalid(name, "must be true or false")),
        }
    }

    /// A parameter from a fixed set of codes, matched case-insensitively and returned as listed.
    pub fn one_of(
        &mut self,
        name: &str,
        allowed: &[&'static str],
    ) -> Result<Option<&'static str>, ApiError> {
        match self.text(name, 64)? {
            None => Ok(None),
            Some(v) => allowed
                .iter()
                .find(|a| a.eq_ignore_ascii_case(&v))
                .copied()
                .map(Some)
                .ok_or_else(|| invalid(name, format!("must be one of {}", allowed.join(", ")))),
        }
    }

    /// An RFC 3339 timestamp parameter.
    pub fn timestamp(&mut self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.text(name, 64)?
            .map(|v| {
                DateTime::parse_from_rfc3339(&v)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| invalid(name, "must be an RFC 3339 timestamp with offset"))
            })
            .transpose()
    }

    /// An integer parameter within `min..=max`.
    pub fn integer(&mut self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        self.text(name, 20)?
            .map(|v| match v.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(invalid(
                    name,
                    format!("must be a whole number from {min} to {max}"),
                )),
            })
            .transpose()
    }

    /// The paging parameters, with `sorts` the sortable fields (the first is the default, ascending
    /// unless `default_desc`).
    pub fn page(
        &mut self,
        sorts: &[SortField],
        default_desc: bool,
    ) -> Result<PageRequest, ApiError> {
        let limit = self
            .integer("limit", 1, MAX_LIMIT)?
            .unwrap_or(DEFAULT_LIMIT);
        let offset = self.integer("offset", 0, 1_000_000)?;
        let sort = match self.text("sort", 64)? {
            None => Sort {
                field: sorts[0],
                desc: default_desc,
            },
            Some(raw) => {
                let (desc, name) = match raw.strip_prefix('-') {
                    Some(n) => (true, n),
                    None => (false, raw.strip_prefix('+').unwrap_or(&raw)),
                };
                let field = sorts
                    .iter()
                    .find(|f| f.name == name)
                    .copied()
                    .ok_or_else(|| {
                        let names: Vec<&str> = sorts.iter().map(|f| f.name).collect();
                        invalid(
                            "sort",
                            format!(
                                "must be one of {} (prefix - for descending)",
                                names.join(", ")
                            ),
                        )
                    })?;
                Sort { field, desc }
            }
        };
        let after = match self.text("cursor", 512)? {
            None => None,
            Some(raw) => {
                let c = Cursor::decode(&raw)
                    .ok_or_else(|| invalid("cursor", "is not a cursor from this list"))?;
                if c.field() != sort.field.name || c.desc() != sort.desc {
                    return Err(invalid("cursor", "belongs to another sort order"));
                }
                Some(c)
            }
        };
        if after.is_some() && offset.is_some() {
            return Err(invalid("offset", "cannot be combined with cursor"));
        }
        Ok(PageRequest {
            limit,
            offset,
            sort,
            after,
        })
    }

    /// Refuses whatever parameters were not consumed.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.params.is_empty() {
            return Ok(());
        }
        Err(ApiError::validation(self.params.into_keys().map(|k| {
            (k, "is not a parameter of this endpoint".to_owned())
        })))
    }
}

impl<T: Serialize> From<Page<T>> for ApiResponse {
    /// The page in the envelope: `data` is the items, `meta` has `limit`, `next_cursor`, `total`.
    fn from(page: Page<T>) -> Self {
        let mut r = ApiResponse::ok(&page.items)
            .meta("limit", page.limit)
            .meta("next_cursor", &page.next_cursor);
        if let Some(t) = page.total {
            r = r.meta("total", t);
        }
        r
    }
}

/// `page.into_response()` for a domain [`Page`].
pub trait PageResponse {
    /// The page in the envelope.
    fn into_response(self) -> ApiResponse;
}

impl<T: Serialize> PageResponse for Page<T> {
    fn into_response(self) -> ApiResponse {
        ApiResponse::from(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hg_platform::page::SqlType;
    use serde_json::Value;

    const SORTS: &[SortField] = &[
        SortField {
            name: "name",
            column: "p.person_name",
            ty: SqlType::Text,
        },
        SortField {
            name: "created_at",
            column: "p.created_at",
            ty: SqlType::Timestamp,
        },
    ];

    #[test]
    fn defaults_apply_and_leftovers_are_refused() {
        let mut q = QueryParams::from_pairs([("risk", "high"), ("typo", "x")]);
        let page = q.page(SORTS, false).unwrap();
        assert_eq!(page.limit, 50);
        assert_eq!(page.sort.field.name, "name");
        assert_eq!(q.one_of("risk", &["low", "high"]).unwrap(), Some("high"));
        let err = q.finish().unwrap_err();
        assert!(err.to_document()["error"]["details"]["fields"]["typo"].is_string());
    }

    #[test]
    fn bad_values_are_400_naming_the_parameter() {
        for (k, v) in [
            ("limit", "0"),
            ("limit", "201"),
            ("limit", "ten"),
            ("sort", "password"),
            ("cursor", "zzz"),
        ] {
            let mut q = QueryParams::from_pairs([(k, v)]);
            let err = q.page(SORTS, false).unwrap_err();
            assert_eq!(err.status().as_u16(), 400, "{k}={v}");
            assert!(
                err.to_document()["error"]["details"]["fields"][k].is_string(),
                "{k}"
            );
        }
    }

    #[test]
    fn cursors_round_trip_and_belong_to_their_sort() {
        let page = QueryParams::from_pairs([("sort", "-created_at"), ("limit", "1")])
            .page(SORTS, false)
            .unwrap();
        let id = Uuid::new_v4();
        let p = page.finish(vec![1, 2], |_| {
            (Value::String("2026-01-01T00:00:00Z".into()), id)
        });
        let cursor = p.next_cursor.unwrap();
        let again = QueryParams::from_pairs([("sort", "-created_at"), ("cursor", cursor.as_str())])
            .page(SORTS, false)
            .unwrap();
        assert_eq!(again.after.unwrap().id(), id);
        let mismatch = QueryParams::from_pairs([("sort", "name"), ("cursor", cursor.as_str())])
            .page(SORTS, false);
        assert!(mismatch.is_err());
    }

    #[test]
    fn the_total_is_known_only_from_a_last_page_read_from_a_known_start() {
        let req = |pairs: &[(&str, &str)]| {
            QueryParams::from_pairs(pairs.iter().copied())
                .page(SORTS, false)
                .unwrap()
        };
        let rows = |n: usize| (0..n).collect::<Vec<usize>>();
        let key = |_: &usize| (Value::String("x".into()), Uuid::nil());
        let first = req(&[("limit", "5")]);
        assert_eq!(first.total_if_known(&first.finish(rows(3), key)), Some(3));
        assert_eq!(first.total_if_known(&first.finish(rows(0), key)), Some(0));
        assert_eq!(
            first.total_if_known(&first.finish(rows(6), key)),
            None,
            "more pages"
        );
        let offset = req(&[("limit", "5"), ("offset", "10")]);
        assert_eq!(
            offset.total_if_known(&offset.finish(rows(2), key)),
            Some(12)
        );
        assert_eq!(
            offset.total_if_known(&offset.finish(rows(0), key)),
            None,
            "past the end: the total may be anything below the offset"
        );
        let cursor = first.finish(rows(6), key).next_cursor.unwrap();
        let after = req(&[("limit", "5"), ("cursor", cursor.as_str())]);
        assert_eq!(after.total_if_known(&after.finish(rows(2), key)), None);
    }
}
