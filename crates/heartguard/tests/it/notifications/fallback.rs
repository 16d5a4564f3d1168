//! A critical alert not acknowledged after its push falls back to SMS, then e-mail, one escalation
//! step apart; an acknowledgement stops what is left.

use super::channels::{Browser, vapid};
use super::*;

async fn fallback_world(push: &HttpSink, sms: &HttpSink, smtp: &SmtpServer) -> World {
    let (private, public) = vapid();
    let sms_url = sms.url("/sms");
    let mut env = smtp_env(smtp).to_vec();
    env.extend([
        ("SMS_WEBHOOK_URL".to_owned(), sms_url),
        ("VAPID_PRIVATE_KEY".to_owned(), private),
        ("VAPID_PUBLIC_KEY".to_owned(), public),
        (
            "VAPID_SUBJECT".to_owned(),
            "mailto:ops@heartguard.example".to_owned(),
        ),
        ("ALERT_ESCALATE_CRITICAL_S".to_owned(), "2".to_owned()),
    ]);
    let w = world(&pairs(&env)).await;
    prefer(
        &w,
        &w.doctor_a,
        json!({"channels": {"critical": ["PUSH", "SMS", "EMAIL"]}, "sms_number": "+34600111222"}),
    )
    .await;
    let browser = Browser::new();
    let (status, _) = w
        .request(Method::POST, "/notifications/push-devices")
        .on(NOTIFY)
        .token(&w.doctor_a)
        .json(browser.registration(&push.url("/push/a")))
        .send()
        .await;
    assert_eq!(status, 201);
    w
}

/// The messages doctor A got by e-mail.
fn mails_to_doctor(smtp: &SmtpServer) -> usize {
    smtp.received()
        .iter()
        .filter(|m| m.rcpt_tos == ["doctor.a@example.org"])
        .count()
}

#[tokio::test]
async fn an_unacknowledged_critical_alert_falls_back_from_push_to_sms_to_e_mail() {
    let (push, sms) = (
        HttpSink::start(vec![], 201).await,
        HttpSink::start(vec![], 200).await,
    );
    let smtp = SmtpServer::start(SmtpTls::StartTls);
    let w = fallback_world(&push, &sms, &smtp).await;
    let alert = raise(&w, "ARRHYTHMIA", "critical").await;
    let pushed = push.wait_for(1, 20).await[0].at;
    let texted = sms.wait_for(1, 20).await[0].at;
    assert!(
        texted - pushed >= Duration::from_millis(1500),
        "SMS one step after the push: {:?}",
        texted - pushed
    );
    for _ in 0..100 {
        if mails_to_doctor(&smtp) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(mails_to_doctor(&smtp), 1, "then e-mail");
    // Recorded once the server has answered, a moment after the message arrived.
    let doctor = w.doctor_a.id.to_string();
    let d = deliveries_until(&w, alert, 10, |d| {
        d.iter()
            .filter(|x| x["recipient_user_id"] == doctor.as_str())
            .take(3)
            .all(|x| x["status"] == "SENT")
    })
    .await;
    let mine: Vec<(&str, &str, &str)> = d
        .iter()
        .filter(|x| x["recipient_user_id"] == w.doctor_a.id.to_string())
        .take(3)
        .map(|x| {
            (
                x["channel"].as_str().unwrap(),
                x["reason"].as_str().unwrap(),
                x["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        mine,
        [
            ("PUSH", "created", "SENT"),
            ("SMS", "fallback", "SENT"),
            ("EMAIL", "fallback", "SENT")
        ]
    );
}

#[tokio::test]
async fn an_acknowledgement_after_the_push_stops_the_fallback() {
    let (push, sms) = (
        HttpSink::start(vec![], 201).await,
        HttpSink::start(vec![], 200).await,
    );
    let smtp = SmtpServer::start(SmtpTls::StartTls);
    let w = fallback_world(&push, &sms, &smtp).await;
    let alert = raise(&w, "ARRHYTHMIA", "critical").await;
    push.wait_for(1, 20).await;
    let (status, body) = w
        .request(Method::POST, &format!("/alerts/{alert}/ack"))
        .on(ALERT)
        .token(&w.doctor_a)
        .send()
        .await;
    assert_eq!(status, 200, "{body}");
    // Past both fallback steps: nothing more was sent, and the rest is cancelled.
    let d = deliveries_until(&w, alert, 15, |d| {
        d.iter().filter(|x| x["status"] == "CANCELLED").count() == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        sms.requests().is_empty(),
        "no SMS after the acknowledgement"
    );
    assert_eq!(
        mails_to_doctor(&smtp),
        0,
        "no e-mail after the acknowledgement"
    );
    let mut cancelled: Vec<&str> = d
        .iter()
        .filter(|x| x["status"] == "CANCELLED")
        .map(|x| x["channel"].as_str().unwrap())
        .collect();
    cancelled.sort();
    assert_eq!(cancelled, ["EMAIL", "SMS"]);
}
