//! The notification component (5009). Its routes arrive with issue 14; today it runs the account-mail
//! consumer: password-reset, verification and invitation e-mails (and the note to an address someone
//! tried to register again), each with its one-time token made here, at sending time
//! (`hg_domain::identity::mail`), and the token's digest stored in the same transaction as the
//! event's `processed_events` row. The mail transport (`MAIL_SINK_DIR`) belongs to this component.

use std::sync::Arc;

use async_trait::async_trait;
use hg_domain::identity::{Identity, mail};
use hg_platform::events::{Consumer, ConsumerError, ConsumerSpec, EventMessage};
use hg_platform::mail::{DirMailer, Mailer};
use hg_platform::{Component, Platform};
use sqlx::PgConnection;

use crate::component::{Descriptor, Started};

/// The account-mail consumer's queue and the events it gets.
pub const ACCOUNT_MAIL: ConsumerSpec = ConsumerSpec {
    max_attempts: 8,
    ..ConsumerSpec::new("account-mail", mail::EVENT_TYPES)
};

/// The notification component.
pub const DESCRIPTOR: Descriptor = Descriptor {
    consumers: &[&ACCOUNT_MAIL],
    start: |platform, _| {
        let mut started = Started::routes(axum::Router::new());
        match mailer(platform) {
            Some(mailer) => {
                tracing::info!(transport = mailer.kind(), "account e-mails are sent");
                started.consumers.push(Arc::new(AccountMail {
                    identity: Identity::of(platform),
                    mailer,
                }));
            }
            None => tracing::warn!(
                "no mail transport configured (MAIL_SINK_DIR): account e-mails wait in their queue until one is"
            ),
        }
        Ok(started)
    },
    ..Descriptor::bare(Component::Notification)
};

/// The mail transport configured for this process: `MAIL_SINK_DIR`, or none.
pub fn mailer(platform: &Platform) -> Option<Arc<dyn Mailer>> {
    let notify = &platform.settings.notify;
    notify.mail_sink_dir.as_ref().map(|dir| {
        Arc::new(DirMailer::new(dir.clone(), notify.mail_from.clone())) as Arc<dyn Mailer>
    })
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
