//! Web Push subscriptions (RFC 8030): a browser subscribes with the platform's VAPID public key and
//! registers the subscription (`endpoint`, `keys.p256dh`, `keys.auth`); the sender encrypts each
//! notification to it (RFC 8291). A user sees and removes only their own.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::records::RecordError;

const NOT_FOUND: RecordError =
    RecordError::NotFound("HG-PUSH-DEVICE-NOT-FOUND", "no such push device");

/// A browser's push subscription, as `PushSubscription.toJSON()` gives it.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
pub struct Subscription {
    pub endpoint: String,
    pub keys: SubscriptionKeys,
}

/// The subscription's keys (base64url).
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
pub struct SubscriptionKeys {
    pub p256dh: String,
    pub auth: String,
}

/// A registration.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPushDevice {
    /// `web` (browser push); `android` and `ios` need FCM/APNs, not configured here.
    pub platform: String,
    pub subscription: Subscription,
}

/// A registered push device.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PushDevice {
    pub id: Uuid,
    pub platform: String,
    /// The push service endpoint.
    pub endpoint: String,
    pub active: bool,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// Registers (or refreshes) a subscription of `user` (callers go through
/// [`super::register_push_device`], which audits).
pub(crate) async fn register(
    conn: &mut PgConnection,
    user: Uuid,
    d: NewPushDevice,
) -> Result<PushDevice, RecordError> {
    if d.platform != "web" {
        return Err(RecordError::invalid(
            "platform",
            "is web: only browser push (Web Push) is delivered",
        ));
    }
    let s = &d.subscription;
    match url::Url::parse(&s.endpoint) {
        Ok(u)
            if matches!(u.scheme(), "https" | "http")
                && u.host_str().is_some()
                && s.endpoint.len() <= 2048 => {}
        _ => {
            return Err(RecordError::invalid(
                "subscription.endpoint",
                "is the push service's https URL",
            ));
        }
    }
    let p256dh = URL_SAFE_NO_PAD.decode(s.keys.p256dh.trim_end_matches('='));
    if !matches!(&p256dh, Ok(k) if k.len() == 65 && k[0] == 4) {
        return Err(RecordError::invalid(
            "subscription.keys.p256dh",
            "is the base64url of an uncompressed P-256 public key (65 bytes)",
        ));
    }
    let auth = URL_SAFE_NO_PAD.decode(s.keys.auth.trim_end_matches('='));
    if !matches!(&auth, Ok(k) if k.len() == 16) {
        return Err(RecordError::invalid(
            "subscription.keys.auth",
            "is the base64url of the 16-byte authentication secret",
        ));
    }
    let subscription =
        json!({"endpoint": s.endpoint, "keys": {"p256dh": s.keys.p256dh, "auth": s.keys.auth}});
    Ok(sqlx::query_as!(
        PushDevice,
        r#"insert into push_devices (user_id, platform, push_token, subscription, last_seen_at, active)
           values ($1, 'web', $2, $3, now(), true)
           on conflict (user_id, platform, push_token) do update
              set subscription = excluded.subscription, last_seen_at = now(), active = true, updated_at = now()
           returning id, platform, push_token as endpoint, active, last_seen_at, created_at"#,
        user,
        s.endpoint,
        subscription,
    )
    .fetch_one(conn)
    .await
    .map_err(hg_platform::db::DbError::from)?)
}

/// `user`'s push devices, newest first.
pub async fn list(conn: &mut PgConnection, user: Uuid) -> Result<Vec<PushDevice>, RecordError> {
    Ok(sqlx::query_as!(
        PushDevice,
        r#"select id, platform, push_token as endpoint, active, last_seen_at, created_at
             from push_devices where user_id = $1 order by created_at desc"#,
        user
    )
    .fetch_all(conn)
    .await
    .map_err(hg_platform::db::DbError::from)?)
}

/// Deactivates one of `user`'s push devices (another user's is 404).
pub(crate) async fn deactivate(
    conn: &mut PgConnection,
    user: Uuid,
    id: Uuid,
) -> Result<(), RecordError> {
    let n = sqlx::query!(
        "update push_devices set active = false, updated_at = now() where id = $1 and user_id = $2",
        id,
        user
    )
    .execute(conn)
    .await
    .map_err(hg_platform::db::DbError::from)?
    .rows_affected();
    if n == 0 {
        return Err(NOT_FOUND);
    }
    Ok(())
}

/// The stored subscription of push device `id`.
pub async fn subscription(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<serde_json::Value>, sqlx::Error> {
    Ok(
        sqlx::query_scalar!("select subscription from push_devices where id = $1", id)
            .fetch_optional(conn)
            .await?
            .flatten(),
    )
}

/// Deactivates a subscription the push service says is gone (404/410).
pub async fn gone(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update push_devices set active = false, updated_at = now() where id = $1",
        id
    )
    .execute(conn)
    .await?;
    Ok(())
}
