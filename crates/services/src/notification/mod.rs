//! The notification component (5009): reaching people (spec/05 "Notifications").
//!
//! * the `notifier` consumer turns `alert.created`, `alert.escalated` and level rises
//!   (`alert.updated` with `level_raised`) into queued deliveries (`hg_domain::notify::plan`);
//! * the [`sender`] sends due deliveries over the [`channels`] — SMTP e-mail, an SMS webhook, Web
//!   Push — with retries, and moves alerts created → notified;
//! * the `account-mail` consumer sends the account e-mails (password reset, verification,
//!   invitations), each with its one-time token made here, at sending time
//!   (`hg_domain::identity::mail`), through the same mail transport;
//! * the routes of [`handlers`]: preferences, push devices, an alert's deliveries, a test.

mod channels;
mod handlers;
mod sender;

use std::sync::Arc;

use async_trait::async_trait;
use hg_domain::alert::EscalationPolicy;
use hg_domain::identity::{Identity, mail};
use hg_domain::notify::message::Why;
use hg_domain::notify::plan::{self, Circle};
use hg_platform::events::{Consumer, ConsumerError, ConsumerSpec, EventMessage};
use hg_platform::mail::{DirMailer, Mailer, SmtpMailer};
use hg_platform::{Component, Platform};
use sqlx::PgConnection;
use utoipa_axum::routes;
use uuid::Uuid;

pub use channels::{Channel, Channels, SendError, Target, new_vapid_keys};

use crate::api::Api;
use crate::component::{Descriptor, Started};

/// The account-mail consumer's queue and the events it gets.
pub const ACCOUNT_MAIL: ConsumerSpec = ConsumerSpec {
    max_attempts: 8,
    ..ConsumerSpec::new("account-mail", mail::EVENT_TYPES)
};

/// The notifier's queue: alerts raised, escalated or risen in level.
pub const NOTIFIER: ConsumerSpec = ConsumerSpec {
    prefetch: 32,
    retry_delay: std::time::Duration::from_secs(2),
    ..ConsumerSpec::new(
        "notifier",
        &["alert.created", "alert.escalated", "alert.updated"],
    )
};

/// Every route of the notification component.
pub fn api() -> Api {
    Api::new()
        .with(routes!(handlers::preferences, handlers::set_preferences))
        .with(routes!(
            handlers::push_devices,
            handlers::register_push_device
        ))
        .with(routes!(handlers::remove_push_device))
        .with(routes!(handlers::vapid_key))
        .with(routes!(handlers::deliveries))
        .with(routes!(handlers::test))
}

/// What the routes need: the channels and how messages are worded.
#[derive(Clone)]
pub struct State {
    pub channels: Channels,
    pub base_url: String,
}

/// The notification component.
pub const DESCRIPTOR: Descriptor = Descriptor {
    consumers: &[&ACCOUNT_MAIL, &NOTIFIER],
    start: |platform, _| {
        let mut started = Started::routes(axum::Router::new());
        let mailer = mailer(platform)?;
        match &mailer {
            Some(mailer) => {
                tracing::info!(transport = mailer.kind(), "e-mails are sent");
                started.consumers.push(Arc::new(AccountMail {
                    identity: Identity::of(platform),
                    mailer: mailer.clone(),
                }));
            }
            None => tracing::warn!(
                "no mail transport configured (SMTP_URL or MAIL_SINK_DIR): account e-mails wait in their queue until one is"
            ),
        }
        let notify = &platform.settings.notify;
        let channels = Channels::configured(notify, mailer, reqwest::Client::new())?;
        let available = channels.available();
        tracing::info!(channels = ?available, "notification channels");
        let base_url = platform
            .settings
            .backend
            .https_url
            .as_ref()
            .map(|u| u.as_str().trim_end_matches('/').to_owned())
            .unwrap_or_else(|| "http://localhost:8080".to_owned());
        started.consumers.push(Arc::new(Notifier {
            policy: crate::alert::policy(platform),
            available,
        }));
        let sender = Arc::new(sender::Sender {
            pool: platform.db.clone(),
            channels: channels.clone(),
            base_url: base_url.clone(),
            retry_base: notify.retry_base,
            max_attempts: notify.max_attempts,
        });
        started
            .tasks
            .push(Box::pin(sender.run(platform.shutdown.clone())));
        let state = State { channels, base_url };
        started.inner = Box::new(move |r| r.layer(axum::Extension(state)));
        Ok(started)
    },
    ..Descriptor::api(Component::Notification, api)
};

/// The mail transport configured for this process: SMTP (`SMTP_URL`), else the mail directory
/// (`MAIL_SINK_DIR`), else none.
pub fn mailer(platform: &Platform) -> Result<Option<Arc<dyn Mailer>>, String> {
    let notify = &platform.settings.notify;
    if let Some(url) = &notify.smtp_url {
        let smtp = SmtpMailer::new(
            url.expose(),
            notify.smtp_ca_cert.as_deref(),
            notify.mail_from.clone(),
        )?;
        return Ok(Some(Arc::new(smtp)));
    }
    Ok(notify.mail_sink_dir.as_ref().map(|dir| {
        Arc::new(DirMailer::new(dir.clone(), notify.mail_from.clone())) as Arc<dyn Mailer>
    }))
}

/// Turns account-mail events into e-mails.
pub struct AccountMail {
    identity: Identity,
    mailer: Arc<dyn Mailer>,
}

#[async_trait]
impl Consumer for AccountMail {
    fn spec(&self) -> &ConsumerSpec {
        &ACCOUNT_MAIL
    }

    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &EventMessage,
    ) -> Result<(), ConsumerError> {
        let outcome = mail::deliver(
            conn,
            &self.identity,
            self.mailer.as_ref(),
            &event.event_type,
            &event.data,
        )
        .await
        .map_err(|e| ConsumerError::Retry(e.to_string()))?;
        metrics::counter!("account_emails_total", "type" => event.event_type.clone(), "outcome" => match outcome {
            mail::Outcome::Sent => "sent",
            mail::Outcome::Nothing => "nothing",
        })
        .increment(1);
        Ok(())
    }
}

/// Plans the deliveries of alerts raised, escalated or risen in level.
pub struct Notifier {
    policy: EscalationPolicy,
    available: Vec<hg_domain::notify::Channel>,
}

#[async_trait]
impl Consumer for Notifier {
    fn spec(&self) -> &ConsumerSpec {
        &NOTIFIER
    }

    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &EventMessage,
    ) -> Result<(), ConsumerError> {
        let d = &event.data;
        let why = match event.event_type.as_str() {
            "alert.created" => Why::Created,
            "alert.escalated" => Why::Escalated,
            "alert.updated" if d["level_raised"] == true => Why::LevelRaised,
            // Acknowledged, notified, closed: nobody is told again.
            _ => return Ok(()),
        };
        let alert: Uuid = d["alert_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                ConsumerError::Reject(format!("{} without alert_id", event.event_type))
            })?;
        let circle = d["circle"].as_str().and_then(Circle::parse);
        let planned = plan::plan(
            conn,
            alert,
            why,
            circle,
            self.policy.critical,
            chrono::Utc::now(),
            &self.available,
        )
        .await?;
        metrics::counter!("notifications_planned_total").increment(planned.queued as u64);
        metrics::counter!("notifications_silenced_total").increment(planned.silenced as u64);
        Ok(())
    }
}
