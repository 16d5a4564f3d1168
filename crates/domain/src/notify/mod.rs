//! Reaching people (spec/05 "Notifications"): when an alert is raised, escalates or rises in level,
//! [`plan`] resolves who must hear of it and queues one `alert_delivery` row per channel and target
//! their [`prefs`] choose; the notification component's sender hands each due row to its channel
//! and records the outcome with [`deliver`] — retries with exponential backoff and jitter, FAILED
//! after the last attempt, and the alert created → notified on its first successful delivery.
//! [`push`] keeps the Web Push subscriptions; [`message`] words what is sent, in Spanish or English.
//!
//! Messages carry no patient data (names, values): e-mail, SMS and push services are outside the
//! platform's protection, so a message says which kind of alert, its level and where to open it.

pub mod deliver;
pub mod message;
pub mod plan;
pub mod prefs;
pub mod push;

hg_platform::code_enum! {
    /// A way to reach a person (catalog `alert_channels`).
    pub enum Channel {
        Push => "PUSH",
        Sms => "SMS",
        Email => "EMAIL",
    }
}

use hg_platform::audit::Action;
use hg_platform::auth::PrincipalKind;
use hg_platform::db::DbError;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::records::{Caller, RecordError};

/// Notification settings are a staff or caregiver account's own: the caller's user id, or
/// `Forbidden` for a patient or a device.
pub fn account(caller: &Caller) -> Result<Uuid, RecordError> {
    if caller.principal.kind() == PrincipalKind::User {
        Ok(caller.id())
    } else {
        Err(RecordError::Forbidden(
            "notification settings belong to staff and caregiver accounts".into(),
        ))
    }
}

/// The caller's preferences.
pub async fn my_preferences(
    conn: &mut PgConnection,
    caller: &Caller,
) -> Result<prefs::Preferences, RecordError> {
    let me = account(caller)?;
    Ok(prefs::get(conn, me).await.map_err(DbError::from)?)
}

/// Replaces the caller's preferences, audited (`NOTIFICATION_PREFERENCES_CHANGE`, without the number).
pub async fn set_preferences(
    pool: &PgPool,
    caller: &Caller,
    input: prefs::PreferencesInput,
) -> Result<prefs::Preferences, RecordError> {
    let me = account(caller)?;
    let mut tx = pool.begin().await.map_err(DbError::from)?;
    let stored = prefs::put(&mut tx, me, input).await?;
    caller
        .audit(Action::NotificationPreferencesChange)
        .entity("user", me)
        .details(
            json!({"channels": stored.channels, "quiet_hours": stored.quiet_hours,
                        "sms_number_set": stored.sms_number.is_some()}),
        )
        .record(&mut tx)
        .await?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(stored)
}

/// The caller's push devices, newest first.
pub async fn my_push_devices(
    conn: &mut PgConnection,
    caller: &Caller,
) -> Result<Vec<push::PushDevice>, RecordError> {
    push::list(conn, account(caller)?).await
}

/// Registers (or refreshes) one of the caller's push subscriptions, audited.
pub async fn register_push_device(
    pool: &PgPool,
    caller: &Caller,
    d: push::NewPushDevice,
) -> Result<push::PushDevice, RecordError> {
    let me = account(caller)?;
    let mut tx = pool.begin().await.map_err(DbError::from)?;
    let device = push::register(&mut tx, me, d).await?;
    caller
        .audit(Action::PushDeviceRegister)
        .entity("push_device", device.id)
        .record(&mut tx)
        .await?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(device)
}

/// Stops pushing to one of the caller's devices (another user's is 404), audited.
pub async fn remove_push_device(
    pool: &PgPool,
    caller: &Caller,
    id: Uuid,
) -> Result<(), RecordError> {
    let me = account(caller)?;
    let mut tx = pool.begin().await.map_err(DbError::from)?;
    push::deactivate(&mut tx, me, id).await?;
    caller
        .audit(Action::PushDeviceRemove)
        .entity("push_device", id)
        .record(&mut tx)
        .await?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(())
}

/// The language `user` reads (`users.locale`), when set.
pub async fn locale(conn: &mut PgConnection, user: Uuid) -> Result<Option<String>, DbError> {
    Ok(
        sqlx::query_scalar!("select locale from users where id = $1", user)
            .fetch_optional(conn)
            .await?
            .flatten(),
    )
}
