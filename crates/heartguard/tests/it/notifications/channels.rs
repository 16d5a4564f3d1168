//! Each channel over its real protocol, retries and quiet hours.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::HashSet;
use web_push_native::jwt_simple::prelude::{
    ECDSAP256PublicKeyLike, ES256PublicKey, NoCustomClaims, VerificationOptions,
};
use web_push_native::p256;

use super::*;

#[tokio::test]
async fn an_alert_e_mail_arrives_over_starttls_with_both_parts_and_notifies_the_alert() {
    let smtp = SmtpServer::start(SmtpTls::StartTls);
    let env = smtp_env(&smtp);
    let w = world(&pairs(&env)).await;
    let alert = raise(&w, "TACHY", "high").await;
    // Doctor A (the care team) has the defaults: high → push (no device) and e-mail.
    let got = smtp.wait_for(1, 20).await;
    let m = &got[0];
    assert_eq!(m.rcpt_tos, ["doctor.a@example.org"]);
    assert!(m.tls && m.authenticated, "STARTTLS and AUTH");
    assert!(
        m.data.contains("Subject: [HeartGuard] Alerta alta: TACHY"),
        "{}",
        m.data
    );
    let parts = parts(&m.data);
    let types: Vec<&str> = parts.iter().map(|(t, _)| t.as_str()).collect();
    assert!(
        types[0].starts_with("text/plain") && types[1].starts_with("text/html"),
        "{types:?}"
    );
    assert!(
        parts[0].1.contains(&format!("/alerts/{alert}")),
        "{}",
        parts[0].1
    );
    assert!(
        !m.data.contains("Ana Uno"),
        "no patient data in the message"
    );

    let d = deliveries_until(&w, alert, 10, |d| d.iter().any(|x| x["status"] == "SENT")).await;
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(
        (
            d[0]["channel"].as_str(),
            d[0]["target"].as_str(),
            d[0]["attempts"].as_i64()
        ),
        (Some("EMAIL"), Some("doctor.a@example.org"), Some(1))
    );
    let (_, detail) = w
        .request(Method::GET, &format!("/alerts/{alert}"))
        .on(ALERT)
        .token(&w.doctor_a)
        .send()
        .await;
    assert_eq!(detail["data"]["status"], "notified");
    let actions: Vec<&str> = detail["data"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"notified"), "{actions:?}");
    assert_eq!(detail["data"]["deliveries"][0]["status"], "SENT");

    // Triggered again at the same level: no new notification. The level rises: a new one.
    raise(&w, "TACHY", "high").await;
    notifier_caught_up(&w).await;
    assert_eq!(
        deliveries(&w, alert).await.len(),
        1,
        "a repeat notifies nobody"
    );
    let (status, _) = w
        .request(Method::POST, "/alerts")
        .on(ALERT)
        .token(&w.root)
        .json(json!({"patient_id": w.p1, "alert_type": "DESAT", "alert_level": "medium"}))
        .send()
        .await;
    assert_eq!(status, 201);
    let desat = raise(&w, "DESAT", "high").await;
    let d = deliveries_until(&w, desat, 10, |d| {
        d.iter().filter(|x| x["status"] == "SENT").count() == 2
    })
    .await;
    // Both may go out in one batch of the sender, in either order.
    let mut reasons: Vec<&str> = d.iter().map(|x| x["reason"].as_str().unwrap()).collect();
    reasons.sort();
    assert_eq!(reasons, ["created", "level_raised"]);
}

#[tokio::test]
async fn e_mail_goes_over_implicit_tls_too() {
    let smtp = SmtpServer::start(SmtpTls::Implicit);
    let env = smtp_env(&smtp);
    let w = world(&pairs(&env)).await;
    raise(&w, "BRADY", "medium").await;
    let got = smtp.wait_for(1, 20).await;
    assert!(got[0].tls && got[0].authenticated);
    assert!(
        got[0].data.contains("Alerta media: BRADY"),
        "{}",
        got[0].data
    );
}

#[tokio::test]
async fn an_sms_webhook_that_keeps_failing_ends_failed_after_growing_retries() {
    let sink = HttpSink::start(vec![], 503).await;
    let url = sink.url("/sms");
    let w = world(&[
        ("SMS_WEBHOOK_URL", url.as_str()),
        ("SMS_FROM", "HeartGuard"),
        ("NOTIFY_RETRY_BASE_MS", "1000"),
        ("NOTIFY_MAX_ATTEMPTS", "3"),
    ])
    .await;
    prefer(
        &w,
        &w.doctor_a,
        json!({"channels": {"high": ["SMS"]}, "sms_number": "+34600111222"}),
    )
    .await;
    let alert = raise(&w, "TACHY", "high").await;
    let got = sink.wait_for(3, 20).await;
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["to"], "+34600111222");
    assert_eq!(body["from"], "HeartGuard");
    assert!(body["body"].as_str().unwrap().contains("TACHY"), "{body}");
    assert!(body["reference"].is_string());
    // Retry after ~1 s, then ~2 s (±20 %, plus the sender's polling).
    let (first, second) = (got[1].at - got[0].at, got[2].at - got[1].at);
    assert!(
        first >= Duration::from_millis(750) && second > first,
        "{first:?} then {second:?}"
    );
    let d = deliveries_until(&w, alert, 10, |d| d[0]["status"] == "FAILED").await;
    assert_eq!(d[0]["attempts"], 3);
    assert!(
        d[0]["last_error"].as_str().unwrap().contains("503"),
        "{}",
        d[0]
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.requests().len(), 3, "no attempt after the last");
    let (_, a) = w
        .request(Method::GET, &format!("/alerts/{alert}"))
        .on(ALERT)
        .token(&w.doctor_a)
        .send()
        .await;
    assert_eq!(a["data"]["status"], "created", "nothing reached anyone");
}

#[tokio::test]
async fn a_twilio_style_webhook_gets_a_form_with_basic_authentication() {
    let sink = HttpSink::start(vec![], 201).await;
    let url = format!(
        "http://AC123:s3cret@{}/2010-04-01/Accounts/AC123/Messages.json",
        sink.addr
    );
    let w = world(&[
        ("SMS_WEBHOOK_URL", url.as_str()),
        ("SMS_WEBHOOK_FORMAT", "twilio"),
        ("SMS_FROM", "+15005550006"),
    ])
    .await;
    prefer(
        &w,
        &w.doctor_a,
        json!({"channels": {"high": ["SMS"]}, "sms_number": "+34600111222"}),
    )
    .await;
    let alert = raise(&w, "TACHY", "high").await;
    let got = sink.wait_for(1, 20).await;
    assert_eq!(got[0].path, "/2010-04-01/Accounts/AC123/Messages.json");
    assert_eq!(
        got[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("AC123:s3cret")
    );
    assert_eq!(got[0].header("authorization"), Some(expected.as_str()));
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&got[0].body)
        .into_owned()
        .collect();
    assert_eq!(form["To"], "+34600111222");
    assert_eq!(form["From"], "+15005550006");
    assert!(form["Body"].contains("TACHY"));
    deliveries_until(&w, alert, 10, |d| d[0]["status"] == "SENT").await;
}

/// A browser's subscription: its private key and auth secret, and what it registers.
pub(super) struct Browser {
    pub secret: p256::SecretKey,
    pub auth: [u8; 16],
}

impl Browser {
    pub fn new() -> Self {
        let mut raw = [0u8; 32];
        loop {
            rand::fill(&mut raw);
            if let Ok(secret) = p256::SecretKey::from_slice(&raw) {
                let mut auth = [0u8; 16];
                rand::fill(&mut auth);
                return Self { secret, auth };
            }
        }
    }

    pub fn registration(&self, endpoint: &str) -> Value {
        use p256::elliptic_curve::sec1::ToEncodedPoint as _;
        json!({"platform": "web", "subscription": {"endpoint": endpoint, "keys": {
            "p256dh": URL_SAFE_NO_PAD.encode(self.secret.public_key().to_encoded_point(false).as_bytes()),
            "auth": URL_SAFE_NO_PAD.encode(self.auth),
        }}})
    }

    /// Decrypts a push message body (RFC 8291).
    pub fn decrypt(&self, body: &[u8]) -> Value {
        let mut auth = web_push_native::Auth::default();
        auth.copy_from_slice(&self.auth);
        let plain = web_push_native::decrypt(body.to_vec(), &self.secret, &auth).expect("decrypts");
        serde_json::from_slice(&plain).unwrap()
    }
}

/// The VAPID keys of a test process.
pub(super) fn vapid() -> (String, String) {
    hg_services::notification::new_vapid_keys()
}

#[tokio::test]
async fn a_web_push_arrives_encrypted_to_the_subscription_with_a_valid_vapid_signature() {
    let push = HttpSink::start(vec![], 201).await;
    let (private, public) = vapid();
    let w = world(&[
        ("VAPID_PRIVATE_KEY", private.as_str()),
        ("VAPID_PUBLIC_KEY", public.as_str()),
        ("VAPID_SUBJECT", "mailto:ops@heartguard.example"),
    ])
    .await;
    let (status, key) = w
        .request(Method::GET, "/notifications/vapid-key")
        .on(NOTIFY)
        .token(&w.doctor_a)
        .send()
        .await;
    assert_eq!(
        (status, key["data"]["public_key"].as_str()),
        (200, Some(public.as_str()))
    );
    let browser = Browser::new();
    let (status, body) = w
        .request(Method::POST, "/notifications/push-devices")
        .on(NOTIFY)
        .token(&w.doctor_a)
        .json(browser.registration(&push.url("/push/sub-1")))
        .send()
        .await;
    assert_eq!(status, 201, "{body}");
    let alert = raise(&w, "TACHY", "high").await;
    let got = push.wait_for(1, 20).await;
    let r = &got[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/push/sub-1")
    );
    assert_eq!(r.header("content-encoding"), Some("aes128gcm"));
    assert_eq!(r.header("urgency"), Some("high"));
    assert!(r.header("ttl").is_some());
    let payload = browser.decrypt(&r.body);
    assert_eq!(payload["alert_id"], alert.to_string());
    assert_eq!(payload["level"], "high");
    assert!(
        payload["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/alerts/{alert}"))
    );

    // Authorization: vapid t=<JWT>, k=<public key> (RFC 8292), signed by the configured key.
    let auth = r.header("authorization").unwrap();
    let (t, k) = auth
        .strip_prefix("vapid t=")
        .and_then(|rest| rest.split_once(", k="))
        .unwrap_or_else(|| panic!("{auth}"));
    assert_eq!(k, public);
    let key = ES256PublicKey::from_bytes(&URL_SAFE_NO_PAD.decode(k).unwrap()).unwrap();
    // The origin of the endpoint. web-push-native writes scheme://host without the port — the same
    // origin for real push services, which listen on 443; this one listens on a loopback port.
    let audience = format!("http://{}", push.addr.ip());
    let claims = key
        .verify_token::<NoCustomClaims>(
            t,
            Some(VerificationOptions {
                allowed_audiences: Some(HashSet::from([audience.clone()])),
                ..Default::default()
            }),
        )
        .expect("the VAPID JWT verifies with the public key");
    assert_eq!(
        claims.subject.as_deref(),
        Some("mailto:ops@heartguard.example")
    );
    let expires = claims.expires_at.unwrap().as_secs() as i64 - chrono::Utc::now().timestamp();
    assert!(
        (0..=24 * 3600).contains(&expires),
        "exp within 24 h: {expires}"
    );
    deliveries_until(&w, alert, 10, |d| d[0]["status"] == "SENT").await;

    // A subscription the push service says is gone is deactivated and fails at once.
    let gone = HttpSink::start(vec![], 410).await;
    let other = Browser::new();
    let (status, _) = w
        .request(Method::POST, "/notifications/push-devices")
        .on(NOTIFY)
        .token(&w.doctor_a)
        .json(other.registration(&gone.url("/push/gone")))
        .send()
        .await;
    assert_eq!(status, 201);
    let (_, list) = w
        .request(Method::GET, "/notifications/push-devices")
        .on(NOTIFY)
        .token(&w.doctor_a)
        .send()
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    let second = raise(&w, "BRADY", "high").await;
    gone.wait_for(1, 20).await;
    let d = deliveries_until(&w, second, 10, |d| {
        d.iter().any(|x| x["status"] == "FAILED") && d.iter().any(|x| x["status"] == "SENT")
    })
    .await;
    let failed = d.iter().find(|x| x["status"] == "FAILED").unwrap();
    assert_eq!(failed["attempts"], 1, "gone is not retried");
    let (_, list) = w
        .request(Method::GET, "/notifications/push-devices")
        .on(NOTIFY)
        .token(&w.doctor_a)
        .send()
        .await;
    let active: Vec<bool> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["active"] == true)
        .collect();
    assert_eq!(active.iter().filter(|a| **a).count(), 1, "{list}");
}

#[tokio::test]
async fn quiet_hours_hold_back_a_high_alert_but_not_a_critical_one() {
    let smtp = SmtpServer::start(SmtpTls::StartTls);
    let env = smtp_env(&smtp);
    let w = world(&pairs(&env)).await;
    // Quiet from an hour ago to an hour from now, in UTC.
    let now = chrono::Utc::now();
    let hm = |t: chrono::DateTime<chrono::Utc>| t.format("%H:%M").to_string();
    prefer(
        &w,
        &w.doctor_a,
        json!({"channels": {"high": ["EMAIL"], "critical": ["EMAIL"]},
               "quiet_hours": {"start": hm(now - chrono::Duration::hours(1)),
                               "end": hm(now + chrono::Duration::hours(1)), "timezone": "UTC"}}),
    )
    .await;
    let high = raise(&w, "TACHY", "high").await;
    notifier_caught_up(&w).await;
    assert!(
        deliveries(&w, high).await.is_empty(),
        "silenced by quiet hours"
    );
    let critical = raise(&w, "DESAT", "critical").await;
    let got = smtp.wait_for(1, 20).await;
    assert!(got[0].data.contains("DESAT"), "{}", got[0].data);
    assert_eq!(deliveries(&w, critical).await.len(), 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.received().len(), 1, "nothing for the high alert");
}
