//! Photos of patients and users (spec/03 "media"): what may be uploaded ([`image`]: sniffed type,
//! bounded size, metadata stripped), who may upload, see and delete which photo, and the
//! `media_objects` rows. The bytes live in an object store the media component owns; a row is
//! written only after its object is stored, in one transaction with the record's photo pointer and
//! the audit entry.
//!
//! * a user's photo: the user (or a superadmin) uploads and deletes it; the user and the members of
//!   the organizations they belong to see it;
//! * a patient's photo: staff with `media.manage` in the patient's organization who can see the
//!   patient, or the patient, upload and delete it; whoever can see the patient sees it.
//!
//! Anything else is 404, as if the photo did not exist.

pub mod image;

use chrono::{DateTime, Utc};
use hg_platform::audit::Action;
use hg_platform::auth::PrincipalKind;
use serde::Serialize;
use serde_json::json;
use sqlx::{PgConnection, QueryBuilder};
use uuid::Uuid;

use crate::catalog::Permission;
use crate::records::{Caller, RecordError};

const NOT_FOUND: RecordError = RecordError::NotFound("HG-MEDIA-NOT-FOUND", "no such photo");

/// Whose photo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    User(Uuid),
    Patient(Uuid),
}

impl Owner {
    /// `owner_kind`.
    pub fn kind(self) -> &'static str {
        match self {
            Owner::User(_) => "user",
            Owner::Patient(_) => "patient",
        }
    }

    /// `owner_id`.
    pub fn id(self) -> Uuid {
        match self {
            Owner::User(id) | Owner::Patient(id) => id,
        }
    }

    /// From the upload's `owner_kind` and `owner_id` (a user's own photo when both are absent).
    pub fn parse(
        caller: &Caller,
        kind: Option<&str>,
        id: Option<Uuid>,
    ) -> Result<Self, RecordError> {
        match (kind, id) {
            (None | Some("user"), None) if caller.principal.kind() == PrincipalKind::User => {
                Ok(Owner::User(caller.id()))
            }
            (None | Some("patient"), None) if caller.principal.kind() == PrincipalKind::Patient => {
                Ok(Owner::Patient(caller.id()))
            }
            (Some("user"), Some(id)) => Ok(Owner::User(id)),
            (Some("patient"), Some(id)) => Ok(Owner::Patient(id)),
            (Some("user" | "patient"), None) | (None, _) => Err(RecordError::invalid(
                "owner_id",
                "names the user or patient the photo is of",
            )),
            (Some(_), _) => Err(RecordError::invalid("owner_kind", "is user or patient")),
        }
    }
}

/// A stored photo.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct MediaObject {
    pub id: Uuid,
    /// `user` or `patient`.
    pub owner_kind: String,
    pub owner_id: Uuid,
    pub org_id: Option<Uuid>,
    /// As read from the bytes: image/png, image/jpeg or image/webp.
    pub content_type: String,
    pub size_bytes: i64,
    /// SHA-256 of the stored bytes, hex (also the `ETag`).
    pub sha256: String,
    #[serde(skip)]
    pub storage_key: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl MediaObject {
    /// Where it is read.
    pub fn url(&self) -> String {
        format!("/media/{}", self.id)
    }
}

const COLUMNS: &str = "m.id, m.owner_kind, m.owner_id, m.org_id, m.content_type, m.size_bytes,
    encode(m.sha256, 'hex') as sha256, m.storage_key, m.created_by, m.created_at";

/// Whether the caller may upload or delete `owner`'s photo; returns the photo's organization
/// (a patient's; none for a user). Someone they may not see is 404.
pub async fn may_manage(
    conn: &mut PgConnection,
    caller: &Caller,
    owner: Owner,
) -> Result<Option<Uuid>, RecordError> {
    match owner {
        Owner::User(id) => {
            if caller.principal.kind() == PrincipalKind::User
                && (id == caller.id() || caller.is_superadmin())
            {
                return Ok(None);
            }
            Err(RecordError::NotFound(
                "HG-USER-NOT-FOUND",
                "no such user among those whose photo you may change",
            ))
        }
        Owner::Patient(id) => {
            let p = crate::patient::visible(conn, caller, id).await?;
            let own = caller.principal.kind() == PrincipalKind::Patient && caller.id() == id;
            if !own {
                caller.require(Permission::MediaManage, Some(p.org_id))?;
            }
            Ok(Some(p.org_id))
        }
    }
}

/// What [`record`] stores.
pub struct NewMedia<'a> {
    pub id: Uuid,
    pub owner: Owner,
    pub org_id: Option<Uuid>,
    pub checked: &'a image::Checked,
    pub sha256: [u8; 32],
    pub storage_key: &'a str,
}

/// Records a stored photo, points its owner's record at it and audits the upload, on `tx`.
pub async fn record(
    tx: &mut PgConnection,
    caller: &Caller,
    m: NewMedia<'_>,
) -> Result<MediaObject, RecordError> {
    let mut qb = QueryBuilder::new(
        "insert into media_objects (id, owner_kind, owner_id, org_id, content_type, size_bytes,
                                    sha256, storage_key, created_by) values (",
    );
    let mut v = qb.separated(", ");
    v.push_bind(m.id)
        .push_bind(m.owner.kind())
        .push_bind(m.owner.id())
        .push_bind(m.org_id)
        .push_bind(m.checked.kind.content_type())
        .push_bind(m.checked.bytes.len() as i64)
        .push_bind(m.sha256.to_vec())
        .push_bind(m.storage_key.to_owned())
        .push_bind(caller.id());
    qb.push(format!(") returning {}", COLUMNS.replace("m.", "")));
    let row: MediaObject = qb.build_query_as().fetch_one(&mut *tx).await?;
    point(tx, m.owner, Some(&row.url())).await?;
    caller
        .audit(Action::MediaUpload)
        .entity("media", row.id)
        .org(row.org_id)
        .details(
            json!({"owner_kind": row.owner_kind, "owner_id": row.owner_id,
                        "content_type": row.content_type, "size_bytes": row.size_bytes,
                        "width": m.checked.width, "height": m.checked.height}),
        )
        .record(tx)
        .await?;
    Ok(row)
}

/// Sets (or clears) the owner's `profile_photo_url`.
async fn point(tx: &mut PgConnection, owner: Owner, url: Option<&str>) -> Result<(), RecordError> {
    match owner {
        Owner::User(id) => {
            sqlx::query!(
                "update users set profile_photo_url = $2, updated_at = now() where id = $1",
                id,
                url
            )
            .execute(tx)
            .await
            .map_err(hg_platform::db::DbError::from)?;
        }
        Owner::Patient(id) => {
            sqlx::query!(
                "update patients set profile_photo_url = $2, updated_at = now() where id = $1",
                id,
                url
            )
            .execute(tx)
            .await
            .map_err(hg_platform::db::DbError::from)?;
        }
    }
    Ok(())
}

/// A photo the caller may see.
pub async fn visible(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<MediaObject, RecordError> {
    let row: MediaObject = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from media_objects m where m.id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(hg_platform::db::DbError::from)?
    .ok_or(NOT_FOUND)?;
    let seen = match row.owner_kind.as_str() {
        "user" => {
            row.owner_id == caller.id() && caller.principal.kind() == PrincipalKind::User
                || caller.is_superadmin()
                || sqlx::query_scalar!(
                    r#"select exists (select 1 from user_org_membership
                                       where user_id = $1 and org_id = any($2)) as "shared!""#,
                    row.owner_id,
                    &caller.scope.member_orgs
                )
                .fetch_one(&mut *conn)
                .await
                .map_err(hg_platform::db::DbError::from)?
        }
        "patient" => crate::patient::visible(conn, caller, row.owner_id)
            .await
            .is_ok(),
        _ => false,
    };
    if !seen {
        return Err(NOT_FOUND);
    }
    Ok(row)
}

/// Deletes a photo the caller may manage (the row, the owner's pointer if it is this photo, an
/// audit entry) on `tx`; returns it, so the caller removes its bytes after the commit.
pub async fn delete(
    tx: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<MediaObject, RecordError> {
    let row = visible(tx, caller, id).await?;
    let owner = match row.owner_kind.as_str() {
        "user" => Owner::User(row.owner_id),
        _ => Owner::Patient(row.owner_id),
    };
    may_manage(tx, caller, owner).await.map_err(|e| match e {
        RecordError::NotFound(..) => NOT_FOUND,
        other => other,
    })?;
    sqlx::query!("delete from media_objects where id = $1", id)
        .execute(&mut *tx)
        .await
        .map_err(hg_platform::db::DbError::from)?;
    let url = row.url();
    match owner {
        Owner::User(u) => {
            sqlx::query!(
                "update users set profile_photo_url = null, updated_at = now()
                  where id = $1 and profile_photo_url = $2",
                u,
                url
            )
            .execute(&mut *tx)
            .await
            .map_err(hg_platform::db::DbError::from)?;
        }
        Owner::Patient(p) => {
            sqlx::query!(
                "update patients set profile_photo_url = null, updated_at = now()
                  where id = $1 and profile_photo_url = $2",
                p,
                url
            )
            .execute(&mut *tx)
            .await
            .map_err(hg_platform::db::DbError::from)?;
        }
    }
    caller
        .audit(Action::MediaDelete)
        .entity("media", row.id)
        .org(row.org_id)
        .details(json!({"owner_kind": row.owner_kind, "owner_id": row.owner_id}))
        .record(tx)
        .await?;
    Ok(row)
}
