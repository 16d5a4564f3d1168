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
