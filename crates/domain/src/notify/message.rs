//! What a notification says, in Spanish (the default) or English (a user whose locale starts with
//! `en`): a subject and a plain-text and HTML body for e-mail, a short text for SMS, a JSON payload
//! for push. No patient data: the alert's kind and level, when, and the link to open it.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::catalog::AlertLevel;

/// Why someone is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// A new alert.
    Created,
    /// Nobody acknowledged it in time.
    Escalated,
    /// Its level rose.
    LevelRaised,
    /// A test the user asked for.
    Test,
}

impl Why {
    /// `alert_delivery.reason` (a fallback delivery keeps the reason of its first wave's text).
    pub fn code(self) -> &'static str {
        match self {
            Why::Created | Why::Test => "created",
            Why::Escalated => "escalated",
            Why::LevelRaised => "level_raised",
        }
    }

    /// From `alert_delivery.reason`.
    pub fn parse(code: &str) -> Self {
        match code {
            "escalated" => Why::Escalated,
            "level_raised" => Why::LevelRaised,
            _ => Why::Created,
        }
    }
}

/// The words of one notification.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    pub subject: String,
    pub text: String,
    pub html: String,
    pub sms: String,
    pub push: Value,
}

fn english(locale: Option<&str>) -> bool {
    locale.is_some_and(|l| l.to_ascii_lowercase().starts_with("en"))
}

fn level_word(level: AlertLevel, en: bool) -> &'static str {
    match (level, en) {
        (AlertLevel::Low, false) => "baja",
        (AlertLevel::Medium, false) => "media",
        (AlertLevel::High, false) => "alta",
        (AlertLevel::Critical, false) => "crítica",
        (AlertLevel::Low, true) => "low",
        (AlertLevel::Medium, true) => "medium",
        (AlertLevel::High, true) => "high",
        (AlertLevel::Critical, true) => "critical",
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The notice of alert `id` (`alert_type` at `level`, raised `at`) for a reader in `locale`;
/// `base` is the platform's public URL (links end in `/alerts/{id}`).
pub fn alert_notice(
    id: Uuid,
    alert_type: &str,
    level: AlertLevel,
    at: DateTime<Utc>,
    why: Why,
    locale: Option<&str>,
    base: &str,
) -> Notice {
    let en = english(locale);
    let word = level_word(level, en);
    let link = format!("{}/alerts/{id}", base.trim_end_matches('/'));
    let when = at.format("%Y-%m-%d %H:%M UTC");
    let (lead, subject, open, privacy, sms) = if en {
        (
            match why {
                Why::Created => format!("A {word} alert ({alert_type}) was raised at {when}."),
                Why::Escalated => format!(
                    "The {word} alert ({alert_type}) raised at {when} has not been acknowledged: it is escalated to you."
                ),
                Why::LevelRaised => {
                    format!("The alert ({alert_type}) raised at {when} is now {word}.")
                }
                Why::Test => "This is a test notification you asked for.".to_owned(),
            },
            match why {
                Why::Escalated => format!("[HeartGuard] Escalated {word} alert: {alert_type}"),
                Why::Test => "[HeartGuard] Test notification".to_owned(),
                _ => format!("[HeartGuard] {} alert: {alert_type}", capitalise(word)),
            },
            "Review and acknowledge it in HeartGuard:",
            "For privacy this message carries no patient data.",
            format!("HeartGuard: {word} alert {alert_type}. Open {link}"),
        )
    } else {
        (
            match why {
                Why::Created => {
                    format!("Se ha generado una alerta {word} ({alert_type}) a las {when}.")
                }
                Why::Escalated => format!(
                    "La alerta {word} ({alert_type}) generada a las {when} no ha sido reconocida: se le escala a usted."
                ),
                Why::LevelRaised => {
                    format!("La alerta ({alert_type}) generada a las {when} es ahora {word}.")
                }
                Why::Test => "Esta es la notificación de prueba que ha pedido.".to_owned(),
            },
            match why {
                Why::Escalated => format!("[HeartGuard] Alerta {word} escalada: {alert_type}"),
                Why::Test => "[HeartGuard] Notificación de prueba".to_owned(),
                _ => format!("[HeartGuard] Alerta {word}: {alert_type}"),
            },
            "Revísela y reconózcala en HeartGuard:",
            "Por privacidad, este mensaje no incluye datos del paciente.",
            format!("HeartGuard: alerta {word} {alert_type}. Abra {link}"),
        )
    };
    let text = format!("{lead}\n\n{open}\n{link}\n\n{privacy}\n");
    let html = format!(
        "<!doctype html><html><body><p>{}</p><p>{} <a href=\"{}\">{}</a></p><p><small>{}</small></p></body></html>",
        escape(&lead),
        escape(open),
        escape(&link),
        escape(&link),
        escape(privacy)
    );
    Notice {
        push: json!({
            "title": subject.trim_start_matches("[HeartGuard] "),
            "body": lead,
            "url": link,
            "alert_id": id,
            "level": level.code(),
            "alert_type": alert_type,
        }),
        subject,
        text,
        html,
        sms,
    }
}

fn capitalise(word: &str) -> String {
    let mut c = word.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spanish_by_default_english_for_an_english_locale_and_no_patient_data() {
        let id = Uuid::nil();
        let at = DateTime::from_timestamp(1_764_000_000, 0).unwrap();
        let es = alert_notice(
            id,
            "TACHY",
            AlertLevel::Critical,
            at,
            Why::Created,
            None,
            "https://hg.example/",
        );
        assert_eq!(es.subject, "[HeartGuard] Alerta crítica: TACHY");
        assert!(
            es.text
                .contains("https://hg.example/alerts/00000000-0000-0000-0000-000000000000"),
            "{}",
            es.text
        );
        assert!(
            es.html.contains("<a href=\"https://hg.example/alerts/"),
            "{}",
            es.html
        );
        let en = alert_notice(
            id,
            "TACHY",
            AlertLevel::High,
            at,
            Why::Escalated,
            Some("en-GB"),
            "https://hg.example",
        );
        assert_eq!(en.subject, "[HeartGuard] Escalated high alert: TACHY");
        assert!(en.sms.len() < 160, "{}", en.sms);
        assert_eq!(en.push["level"], "high");
    }
}
