//! Device credentials: issued or rotated by org admins, shown once, stored hashed; telemetry presents them.

use super::*;
use sqlx::PgPool;

/// A device credential, shown once: `Authorization: Device <credential>` on telemetry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Credential {
    pub device_id: Uuid,
    /// `<device id>.<secret>`.
    pub credential: String,
    pub rotated_at: DateTime<Utc>,
}

/// Issues (or rotates: the old one stops working) the device's credential.
pub async fn rotate_credential(
    db: &PgPool,
    caller: &Caller,
    id: Uuid,
) -> Result<Credential, RecordError> {
    let mut tx = db.begin().await?;
    let d = administered(&mut tx, caller, id).await?;
    if !d.active {
        return Err(RecordError::Unprocessable {
            id: "HG-DEVICE-INACTIVE",
            message: "activate the device first".into(),
        });
    }
    let (secret, digest) = opaque_token();
    let rotated_at: DateTime<Utc> = sqlx::query_scalar!(
        "update devices set credential_hash = $2, credential_rotated_at = now() where id = $1
         returning credential_rotated_at as \"rotated_at!\"",
        id,
        digest,
    )
    .fetch_one(&mut *tx)
    .await?;
    caller
        .audit(Action::DeviceCredentialRotate)
        .entity("device", id)
        .org(d.org_id)
        .details(json!({"had_credential": d.has_credential}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(Credential {
        device_id: id,
        credential: format!("{id}.{secret}"),
        rotated_at,
    })
}

/// Checks a presented `<device id>.<secret>` credential; returns the device's id and organization.
pub async fn authenticate(
    conn: &mut PgConnection,
    presented: &str,
) -> Result<Option<(Uuid, Uuid)>, RecordError> {
    let Some((id, secret)) = presented.trim().split_once('.') else {
        return Ok(None);
    };
    let Ok(id) = id.parse::<Uuid>() else {
        return Ok(None);
    };
    let digest = token_digest(secret);
    let row = sqlx::query!(
        "select id, org_id from devices
          where id = $1 and credential_hash = $2 and active and archived_at is null",
        id,
        digest
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.id, r.org_id)))
}
