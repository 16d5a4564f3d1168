//! The audit routes; they adapt `hg_domain::audit`.

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hg_domain::audit::{chain, read};
use hg_http::list::PageResponse as _;
use hg_http::list::QueryParams;
use hg_http::{ApiError, ApiResponse};
use hg_platform::Platform;
use hg_platform::page::Cursor;

use crate::common::{Caller, conn};

type Answer = Result<ApiResponse, ApiError>;

/// Rows per page of the CSV export.
const EXPORT_PAGE: i64 = 500;

fn filter(q: &mut QueryParams) -> Result<read::Filter, ApiError> {
    let f = read::Filter {
        actor_id: q.uuid("actor_id")?,
        action: q.text("action", 64)?,
        entity: q.text("entity", 64)?,
        entity_id: q.text("entity_id", 128)?,
        org_id: q.uuid("org_id")?,
        from: q.timestamp("from")?,
        to: q.timestamp("to")?,
    };
    if let Some(a) = &f.action
        && !a
            .bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
    {
        return Err(ApiError::invalid_field(
            "action",
            "is an upper-case action code such as PATIENT_READ",
        ));
    }
    Ok(f)
}

#[utoipa::path(
    get,
    path = "/audit/logs",
    tag = "audit",
    summary = "Audit entries, newest first (superadmin and ops: all; org admins: their organizations)",
    params(
        hg_http::openapi::PageParams,
        ("actor_id" = Option<uuid::Uuid>, Query, description = "who acted"),
        ("action" = Option<String>, Query, description = "an action code, e.g. PATIENT_READ"),
        ("entity" = Option<String>, Query, description = "an entity kind, e.g. patient"),
        ("entity_id" = Option<String>, Query),
        ("org_id" = Option<uuid::Uuid>, Query),
        ("from" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "at or after"),
        ("to" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "before"),
    ),
    responses((status = 200, description = "OK", body = hg_http::openapi::Listed<read::AuditLog>))
)]
pub async fn logs(State(p): State<Platform>, caller: Caller, mut q: QueryParams) -> Answer {
    let page = q.page(read::SORTS, true)?;
    let f = filter(&mut q)?;
    q.finish()?;
    let reach = read::Reach::of(&caller)?;
    Ok(read::list(&mut *conn(&p).await?, &reach, &f, &page)
        .await?
        .into_response())
}

fn csv_line(fields: &[String]) -> Result<Vec<u8>, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(fields).map_err(|_| ApiError::internal())?;
    w.into_inner().map_err(|_| ApiError::internal())
}

#[utoipa::path(
    get,
    path = "/audit/logs/export",
    tag = "audit",
    summary = "The audit entries of a filter as CSV (RFC 4180, header row first), streamed newest first",
    params(
        ("format" = String, Query, description = "csv"),
        ("actor_id" = Option<uuid::Uuid>, Query),
        ("action" = Option<String>, Query),
        ("entity" = Option<String>, Query),
        ("entity_id" = Option<String>, Query),
        ("org_id" = Option<uuid::Uuid>, Query),
        ("from" = Option<chrono::DateTime<chrono::Utc>>, Query),
        ("to" = Option<chrono::DateTime<chrono::Utc>>, Query),
    ),
    responses((status = 200, description = "text/csv", content_type = "text/csv", body = String))
)]
pub async fn export(
    State(p): State<Platform>,
    caller: Caller,
    mut q: QueryParams,
) -> Result<Response, ApiError> {
    if q.one_of("format", &["csv"])?.is_none() {
        return Err(ApiError::invalid_field("format", "is required: csv"));
    }
    let f = filter(&mut q)?;
    q.finish()?;
    let reach = read::Reach::of(&caller)?;
    // The first page is read before the 200, so a failing query is still an error answer.
    let first = read::export_page(&mut *conn(&p).await?, &reach, &f, None, EXPORT_PAGE).await?;
    let header: Vec<String> = read::CSV_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    let head = Bytes::from(csv_line(&header)?);
    let pool = p.db.clone();
    let pages = futures::stream::unfold(Some(first), move |page| {
        let (pool, reach, f) = (pool.clone(), reach.clone(), f.clone());
        async move {
            let page = page?;
            let mut out = Vec::new();
            for row in &page.items {
                match csv_line(&row.csv_fields()) {
                    Ok(line) => out.extend(line),
                    Err(_) => return Some((Err(std::io::Error::other("csv")), None)),
                }
            }
            let next = match page.next_cursor.as_deref().and_then(Cursor::decode) {
                None => None,
                Some(cursor) => {
                    let read = async {
                        let mut c = pool.acquire().await.map_err(|e| e.to_string())?;
                        read::export_page(&mut c, &reach, &f, Some(cursor), EXPORT_PAGE)
                            .await
                            .map_err(|e| e.to_string())
                    };
                    match read.await {
                        Ok(p) => Some(p),
                        Err(e) => {
                            tracing::error!(error = %e, "audit export cut off");
                            return Some((Err(std::io::Error::other(e)), None));
                        }
                    }
                }
            };
            Some((Ok(Bytes::from(out)), next))
        }
    });
    let body = futures::stream::StreamExt::chain(futures::stream::once(async { Ok(head) }), pages);
    Ok((
        [
            (http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit-logs.csv\"",
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/audit/verify",
    tag = "audit",
    summary = "Check the hash chain over a time range (superadmin, ops); names the first broken row",
    params(
        ("from" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "first row at or after"),
        ("to" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "last row before"),
    ),
    responses((status = 200, description = "OK (`ok` false when the chain is broken)", body = hg_http::openapi::Envelope<chain::Verification>))
)]
pub async fn verify(State(p): State<Platform>, caller: Caller, mut q: QueryParams) -> Answer {
    let from = q.timestamp("from")?;
    let to = q.timestamp("to")?;
    q.finish()?;
    read::Reach::require_all(&caller)?;
    let report = chain::verify(&mut *conn(&p).await?, from, to)
        .await
        .map_err(hg_platform::db::DbError::from)?;
    Ok(ApiResponse::ok(report))
}

#[utoipa::path(
    get,
    path = "/audit/me/access-log",
    tag = "audit",
    summary = "Who read or changed the signed-in patient's record, newest first",
    params(hg_http::openapi::PageParams),
    responses((status = 200, description = "OK", body = hg_http::openapi::Listed<read::Access>))
)]
pub async fn access_log(State(p): State<Platform>, caller: Caller, mut q: QueryParams) -> Answer {
    let page = q.page(read::SORTS, true)?;
    q.finish()?;
    Ok(read::accesses(&mut *conn(&p).await?, &caller, &page)
        .await?
        .into_response())
}
