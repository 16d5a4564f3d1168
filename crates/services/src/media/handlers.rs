//! The media routes: upload (multipart), read (the bytes, cacheable) and delete a photo.

use std::sync::Arc;

use axum::Extension;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use hg_domain::media::{self, MediaObject, NewMedia, Owner, image};
use hg_domain::records::RecordError;
use hg_http::{ApiError, ApiResponse, IdPath};
use hg_platform::Platform;
use http::{HeaderMap, StatusCode, header};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::common::{Caller, conn};

/// The upload form.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct MediaUpload {
    /// `user` or `patient` (default: the caller's own photo).
    owner_kind: Option<String>,
    /// The user or patient (default: the caller).
    owner_id: Option<Uuid>,
    /// The image: PNG, JPEG or WebP, read from its bytes.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

fn too_large(max: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "HG-MEDIA-TOO-LARGE",
        format!(
            "the file is over MEDIA_MAX_FILE_SIZE_MB ({} MiB)",
            max / (1024 * 1024)
        ),
    )
}

fn form_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_payload(format!("the multipart form could not be read: {e}"))
}

#[utoipa::path(
    post,
    path = "/media",
    tag = "media",
    summary = "Upload a photo of a patient or user (multipart: owner_kind, owner_id, file); its type is read from its bytes",
    request_body(content = MediaUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored (Location names it); the owner's record points at it", body = hg_http::openapi::Envelope<MediaObject>),
        (status = 404, description = "No such user or patient among those whose photo the caller may change", body = hg_http::openapi::ErrorDocument),
    )
)]
pub async fn upload(
    State(p): State<Platform>,
    Extension(m): Extension<Arc<super::State>>,
    caller: Caller,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Result<ApiResponse, ApiError> {
    let multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !multipart {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "HG-MEDIA-FORM",
            "send the photo as multipart/form-data with a `file` part",
        ));
    }
    let mut form = form.map_err(|r| form_error(r.body_text()))?;
    let (mut kind, mut id, mut file) = (None, None, None);
    while let Some(mut field) = form.next_field().await.map_err(form_error)? {
        match field.name() {
            Some("owner_kind") => kind = Some(field.text().await.map_err(form_error)?),
            Some("owner_id") => {
                let text = field.text().await.map_err(form_error)?;
                id = Some(
                    text.trim()
                        .parse::<Uuid>()
                        .map_err(|_| ApiError::invalid_field("owner_id", "is a UUID"))?,
                );
            }
            Some("file") => {
                // Read up to the limit and no further: an oversized upload is never stored.
                let mut buf = BytesMut::new();
                while let Some(chunk) = field.chunk().await.map_err(form_error)? {
                    if buf.len() + chunk.len() > m.max_bytes {
                        return Err(too_large(m.max_bytes));
                    }
                    buf.extend_from_slice(&chunk);
                }
                file = Some(buf.freeze());
            }
            _ => {}
        }
    }
    let file = file.ok_or_else(|| ApiError::invalid_field("file", "is required: the image"))?;
    if file.is_empty() {
        return Err(ApiError::invalid_field("file", "is empty"));
    }
    let owner = Owner::parse(&caller, kind.as_deref().map(str::trim), id)?;
    let org = media::may_manage(&mut *conn(&p).await?, &caller, owner).await?;
    let checked = image::check(file).map_err(|e| match e {
        image::Refused::NotAnImage => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "HG-MEDIA-TYPE",
            "the file is not a PNG, JPEG or WebP image (its bytes decide, not its name or declared type)",
        ),
        other => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "HG-MEDIA-IMAGE", other.to_string()),
    })?;
    let sha256: [u8; 32] = Sha256::digest(&checked.bytes).into();
    let media_id = Uuid::now_v7();
    let key = format!(
        "{}/{}/{media_id}.{}",
        owner.kind(),
        owner.id(),
        checked.kind.extension()
    );
    m.store
        .put(&key, checked.bytes.clone())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "photo not stored");
            ApiError::from(RecordError::Unavailable)
        })?;
    let recorded = async {
        let mut tx = p.db.begin().await.map_err(hg_platform::db::DbError::from)?;
        let row = media::record(
            &mut tx,
            &caller,
            NewMedia {
                id: media_id,
                owner,
                org_id: org,
                checked: &checked,
                sha256,
                storage_key: &key,
            },
        )
        .await?;
        tx.commit().await.map_err(hg_platform::db::DbError::from)?;
        Ok::<_, RecordError>(row)
    }
    .await;
    match recorded {
        Ok(row) => Ok(ApiResponse::created(row.url(), row)),
        Err(e) => {
            // Nothing half-written: the bytes go with the row that failed.
            let _ = m.store.delete(&key).await;
            Err(e.into())
        }
    }
}

#[utoipa::path(
    get,
    path = "/media/{id}",
    tag = "media",
    summary = "A photo's bytes (for its owner and who may see the owner); cacheable by ETag",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The image", content_type = "image/*", body = Vec<u8>),
        (status = 304, description = "Not modified (If-None-Match)"),
    )
)]
pub async fn get(
    State(p): State<Platform>,
    Extension(m): Extension<Arc<super::State>>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let row = media::visible(&mut *conn(&p).await?, &caller, id).await?;
    let etag = format!("\"{}\"", row.sha256);
    let cache = [
        (header::ETAG, etag.clone()),
        // Private: a photo is personal data; a photo never changes under its id.
        (header::CACHE_CONTROL, "private, max-age=86400".to_owned()),
    ];
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, cache).into_response());
    }
    let bytes: Bytes = m.store.get(&row.storage_key).await.map_err(|e| {
        tracing::error!(media = %id, error = %e, "stored photo unreadable");
        ApiError::from(RecordError::Unavailable)
    })?;
    Ok((
        cache,
        [
            (header::CONTENT_TYPE, row.content_type.clone()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (header::CONTENT_DISPOSITION, "inline".to_owned()),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox".to_owned(),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[utoipa::path(
    delete,
    path = "/media/{id}",
    tag = "media",
    summary = "Delete a photo (its owner, or staff who manage the patient's media); the record stops pointing at it",
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"))
)]
pub async fn delete(
    State(p): State<Platform>,
    Extension(m): Extension<Arc<super::State>>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let mut tx = p.db.begin().await.map_err(hg_platform::db::DbError::from)?;
    let row = media::delete(&mut tx, &caller, id).await?;
    tx.commit().await.map_err(hg_platform::db::DbError::from)?;
    if let Err(e) = m.store.delete(&row.storage_key).await {
        // The row is gone, so nobody can read it; the orphan bytes are logged for clean-up.
        tracing::warn!(media = %id, key = %row.storage_key, error = %e, "photo bytes not removed");
    }
    Ok(StatusCode::NO_CONTENT)
}
