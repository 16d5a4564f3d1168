//! Bindings of a stream to an external time-series store, with their tags (org admins).

use super::*;
use sqlx::PgPool;

/// A binding of a stream to an external time-series store.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Binding {
    pub id: Uuid,
    pub stream_id: Uuid,
    pub influx_org: Option<String>,
    pub bucket: String,
    pub measurement: String,
    pub retention_hint: Option<String>,
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub tags: sqlx::types::Json<std::collections::BTreeMap<String, String>>,
    pub created_at: DateTime<Utc>,
}

pub(super) const BINDING_COLUMNS: &str = "b.id, b.stream_id, b.influx_org, b.bucket, b.measurement, b.retention_hint,
    coalesce((select jsonb_object_agg(t.key, t.value) from timeseries_binding_tag t where t.binding_id = b.id), '{}'::jsonb) as tags,
    b.created_at";

const NOT_FOUND: RecordError = RecordError::NotFound("HG-BINDING-NOT-FOUND", "no such binding");

pub(super) async fn administered_stream(
    conn: &mut PgConnection,
    caller: &Caller,
    stream_id: Uuid,
) -> Result<Stream, RecordError> {
    let s = stream(conn, caller, stream_id).await?;
    if caller.administers(s.org_id) {
        Ok(s)
    } else {
        Err(RecordError::Forbidden(
            "only the organization's administrators manage bindings".into(),
        ))
    }
}

pub(super) async fn binding(
    conn: &mut PgConnection,
    stream_id: Uuid,
    id: Uuid,
) -> Result<Binding, RecordError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {BINDING_COLUMNS} from timeseries_binding b where b.id = $1 and b.stream_id = $2"
    )))
    .bind(id)
    .bind(stream_id)
    .fetch_optional(conn)
    .await?
    .ok_or(NOT_FOUND)
}

/// Bindings of a stream.
pub async fn bindings(
    conn: &mut PgConnection,
    caller: &Caller,
    stream_id: Uuid,
) -> Result<Vec<Binding>, RecordError> {
    stream(conn, caller, stream_id).await?;
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {BINDING_COLUMNS} from timeseries_binding b where b.stream_id = $1 order by b.created_at, b.id"
    )))
    .bind(stream_id)
    .fetch_all(conn)
    .await?)
}

/// A new binding.
pub struct NewBinding<'a> {
    pub influx_org: Option<&'a str>,
    pub bucket: &'a str,
    pub measurement: &'a str,
    pub retention_hint: Option<&'a str>,
    pub tags: &'a std::collections::BTreeMap<String, String>,
}

pub(super) fn check_tag(key: &str, value: &str) -> Result<(), RecordError> {
    if key.is_empty()
        || key.len() > 120
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(RecordError::invalid(
            "tags",
            format!("`{key}` is not a tag key (1-120 of letters, digits, _ - .)"),
        ));
    }
    if value.len() > 500 || value.chars().any(char::is_control) {
        return Err(RecordError::invalid(
            "tags",
            format!("the value of `{key}` is too long or has control characters"),
        ));
    }
    Ok(())
}

/// Binds a stream to an external store (org_admins).
pub async fn add_binding(
    db: &PgPool,
    caller: &Caller,
    stream_id: Uuid,
    new: NewBinding<'_>,
) -> Result<Binding, RecordError> {
    let bucket = crate::records::required_text("bucket", new.bucket, 120)?;
    let measurement = crate::records::required_text("measurement", new.measurement, 120)?;
    let influx_org = optional_text("influx_org", new.influx_org, 120)?;
    let retention = optional_text("retention_hint", new.retention_hint, 40)?;
    for (k, v) in new.tags {
        check_tag(k, v)?;
    }
    let mut tx = db.begin().await?;
    let s = administered_stream(&mut tx, caller, stream_id).await?;
    let id: Uuid = sqlx::query_scalar!(
        "insert into timeseries_binding (org_id, stream_id, influx_org, bucket, measurement, retention_hint)
         values ($1, $2, $3, $4, $5, $6) returning id",
        s.org_id,
        stream_id,
        influx_org.as_deref(),
        &bucket,
        &measurement,
        retention.as_deref(),
    )
    .fetch_one(&mut *tx)
    .await?;
    for (k, v) in new.tags {
        sqlx::query!(
            "insert into timeseries_binding_tag (binding_id, key, value) values ($1, $2, $3)",
            id,
            k,
            v,
        )
        .execute(&mut *tx)
        .await?;
    }
    caller
        .audit(Action::BindingCreate)
        .entity("timeseries_binding", id)
        .org(s.org_id)
        .details(json!({"stream_id": stream_id, "bucket": bucket, "measurement": measurement}))
        .record(&mut tx)
        .await?;
    let b = binding(&mut tx, stream_id, id).await?;
    tx.commit().await?;
    Ok(b)
}

/// Sets (creates or replaces) one tag of a binding.
pub async fn set_tag(
    db: &PgPool,
    caller: &Caller,
    stream_id: StreamId,
    id: BindingId,
    key: &str,
    value: &str,
) -> Result<Binding, RecordError> {
    let stream_id: Uuid = stream_id.into();
    let id: Uuid = id.into();
    check_tag(key, value).map_err(|e| match e {
        RecordError::Invalid { problem, .. } => RecordError::invalid("key", problem),
        other => other,
    })?;
    let mut tx = db.begin().await?;
    let s = administered_stream(&mut tx, caller, stream_id).await?;
    binding(&mut tx, stream_id, id).await?;
    sqlx::query!(
        "insert into timeseries_binding_tag (binding_id, key, value) values ($1, $2, $3)
         on conflict (binding_id, key) do update set value = excluded.value",
        id,
        key,
        value,
    )
    .execute(&mut *tx)
    .await?;
    caller
        .audit(Action::BindingTagSet)
        .entity("timeseries_binding", id)
        .org(s.org_id)
        .details(json!({"key": key}))
        .record(&mut tx)
        .await?;
    let b = binding(&mut tx, stream_id, id).await?;
    tx.commit().await?;
    Ok(b)
}

/// Removes one tag of a binding.
pub async fn remove_tag(
    db: &PgPool,
    caller: &Caller,
    stream_id: StreamId,
    id: BindingId,
    key: &str,
) -> Result<(), RecordError> {
    let stream_id: Uuid = stream_id.into();
    let id: Uuid = id.into();
    let mut tx = db.begin().await?;
    let s = administered_stream(&mut tx, caller, stream_id).await?;
    binding(&mut tx, stream_id, id).await?;
    let removed = sqlx::query!(
        "delete from timeseries_binding_tag where binding_id = $1 and key = $2",
        id,
        key,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if removed == 0 {
        return Err(RecordError::NotFound("HG-TAG-NOT-FOUND", "no such tag"));
    }
    caller
        .audit(Action::BindingTagRemove)
        .entity("timeseries_binding", id)
        .org(s.org_id)
        .details(json!({"key": key}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes a binding (the stream's data stays; only the mirror configuration goes).
pub async fn delete_binding(
    db: &PgPool,
    caller: &Caller,
    stream_id: StreamId,
    id: BindingId,
) -> Result<(), RecordError> {
    let stream_id: Uuid = stream_id.into();
    let id: Uuid = id.into();
    let mut tx = db.begin().await?;
    let s = administered_stream(&mut tx, caller, stream_id).await?;
    binding(&mut tx, stream_id, id).await?;
    sqlx::query!("delete from timeseries_binding where id = $1", id)
        .execute(&mut *tx)
        .await?;
    caller
        .audit(Action::BindingDelete)
        .entity("timeseries_binding", id)
        .org(s.org_id)
        .details(json!({"stream_id": stream_id}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
