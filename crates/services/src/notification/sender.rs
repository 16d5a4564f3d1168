//! The sender: a background task of the notification component that hands each due delivery to
//! its channel and records the outcome (`hg_domain::notify::deliver`). Deliveries are claimed with
//! a lease, so several notification processes share the work and a process that dies mid-send
//! hands its deliveries back.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hg_domain::catalog::AlertLevel;
use hg_domain::notify::deliver::{self, Due};
use hg_domain::notify::message::{self, Why};
use hg_domain::notify::{Channel as Code, push};
use rand::RngExt as _;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::channels::{Channels, SendError, Target};

/// How the sender runs.
#[derive(Clone)]
pub struct Sender {
    pub pool: PgPool,
    pub channels: Channels,
    /// Links in messages start with this (the platform's public URL).
    pub base_url: String,
    pub retry_base: Duration,
    pub max_attempts: u32,
}

/// How long a claimed delivery is ours before another sender may take it.
const LEASE_S: i64 = 60;
/// Deliveries claimed at once.
const BATCH: i64 = 32;

impl Sender {
    /// Sends due deliveries until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            let sent = match self.once().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "notification sender could not claim deliveries");
                    0
                }
            };
            if sent == 0 {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
            } else if shutdown.is_cancelled() {
                return;
            }
        }
    }

    /// Claims and settles one batch; returns how many deliveries it handled.
    pub async fn once(&self) -> Result<usize, hg_platform::db::DbError> {
        let due = deliver::claim(&self.pool, BATCH, chrono::Duration::seconds(LEASE_S)).await?;
        let n = due.len();
        futures::future::join_all(due.iter().map(|d| self.settle(d))).await;
        Ok(n)
    }

    async fn settle(&self, due: &Due) {
        let outcome = self.attempt(due).await;
        let channel = due.channel.clone();
        let recorded = match outcome {
            Ok(None) => {
                metrics::counter!("notifications_total", "channel" => channel, "outcome" => "cancelled").increment(1);
                deliver::cancel(
                    &self.pool,
                    due,
                    "the alert was acknowledged before this delivery",
                )
                .await
            }
            Ok(Some(receipt)) => {
                metrics::counter!("notifications_total", "channel" => channel, "outcome" => "sent")
                    .increment(1);
                deliver::sent(&self.pool, due, receipt).await.map(|_| ())
            }
            Err(e) => {
                let retry_at = match &e {
                    SendError::Retry(_) if (due.attempts as u32) < self.max_attempts => {
                        let jitter = rand::rng().random_range(0.8..1.2);
                        Some(Utc::now() + deliver::backoff(self.retry_base, due.attempts, jitter))
                    }
                    _ => None,
                };
                if let (SendError::Gone(_), Some(device)) = (&e, due.push_device_id)
                    && let Ok(mut c) = self.pool.acquire().await
                {
                    let _ = push::gone(&mut c, device).await;
                }
                let outcome = if retry_at.is_some() {
                    "retry"
                } else {
                    "failed"
                };
                metrics::counter!("notifications_total", "channel" => channel, "outcome" => outcome).increment(1);
                tracing::warn!(delivery = %due.id, alert = %due.alert_id, channel = %due.channel,
                               attempt = due.attempts, error = %e, outcome, "notification not delivered");
                deliver::failed(&self.pool, due, &e.to_string(), retry_at).await
            }
        };
        if let Err(e) = recorded {
            // The lease runs out and the delivery comes due again.
            tracing::error!(delivery = %due.id, error = %e, "could not record a delivery's outcome");
        }
    }

    /// Sends `due`; `Ok(None)` when it is no longer needed.
    async fn attempt(&self, due: &Due) -> Result<Option<serde_json::Value>, SendError> {
        if !due.still_needed() {
            return Ok(None);
        }
        let code = Code::parse(&due.channel)
            .ok_or_else(|| SendError::Permanent(format!("unknown channel {}", due.channel)))?;
        let channel = self.channels.get(code).ok_or_else(|| {
            SendError::Permanent(format!(
                "the {} channel is not configured in this process",
                due.channel
            ))
        })?;
        let level = AlertLevel::parse(&due.alert_level).unwrap_or(AlertLevel::High);
        let notice = message::alert_notice(
            due.alert_id,
            &due.alert_type,
            level,
            due.alert_created_at,
            Why::parse(&due.reason),
            due.locale.as_deref(),
            &self.base_url,
        );
        let target = Target {
            address: &due.target,
            subscription: due.subscription.as_ref(),
            level: &due.alert_level,
            reference: due.id.to_string(),
        };
        channel.send(&target, &notice).await.map(Some)
    }
}
