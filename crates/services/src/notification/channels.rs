//! The channels, each behind [`Channel`] and speaking a real protocol: e-mail over SMTP (or the mail
//! directory), SMS through a provider webhook (provider-agnostic JSON or a Twilio-compatible form),
//! and Web Push (RFC 8030) with VAPID (RFC 8292) and payload encryption (RFC 8291).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hg_domain::notify::Channel as Code;
use hg_domain::notify::message::Notice;
use hg_platform::config::{NotifyConfig, SmsFormat};
use hg_platform::mail::{MailMessage, Mailer};
use serde_json::{Value, json};
use web_push_native::jwt_simple::algorithms::ES256KeyPair;
use web_push_native::p256::PublicKey;
use web_push_native::{Auth, WebPushBuilder};

/// Why a send did not work.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError {
    /// It may work later (a server down, a timeout, a 5xx or 429).
    Retry(String),
    /// It never will (refused as malformed, not configured).
    Permanent(String),
    /// The push subscription no longer exists (404/410): it is deactivated.
    Gone(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Retry(e) | SendError::Permanent(e) | SendError::Gone(e) => f.write_str(e),
        }
    }
}

/// Where one message goes.
pub struct Target<'a> {
    /// An e-mail address, a phone number, a push endpoint.
    pub address: &'a str,
    /// A push subscription (`endpoint`, `keys`).
    pub subscription: Option<&'a Value>,
    /// The alert's level, for push urgency.
    pub level: &'a str,
    /// The delivery, as a reference for the provider.
    pub reference: String,
}

/// A way to reach a person.
#[async_trait]
pub trait Channel: Send + Sync {
    /// Sends `notice` to `target`; returns what the server answered.
    async fn send(&self, target: &Target<'_>, notice: &Notice) -> Result<Value, SendError>;
}

/// The channels this process can use.
#[derive(Clone, Default)]
pub struct Channels {
    pub email: Option<Arc<dyn Channel>>,
    pub sms: Option<Arc<dyn Channel>>,
    pub push: Option<Arc<dyn Channel>>,
    /// The VAPID public key browsers subscribe with (base64url).
    pub vapid_public_key: Option<String>,
}

impl Channels {
    /// The configured channels: e-mail with a mailer, SMS with `SMS_WEBHOOK_URL`, push with the
    /// VAPID keys.
    pub fn configured(
        cfg: &NotifyConfig,
        mailer: Option<Arc<dyn Mailer>>,
        http: reqwest::Client,
    ) -> Result<Self, String> {
        let email = mailer.map(|m| Arc::new(Email(m)) as Arc<dyn Channel>);
        let sms = cfg.sms_webhook_url.clone().map(|url| {
            Arc::new(Sms {
                http: http.clone(),
                url,
                format: cfg.sms_webhook_format,
                from: cfg.sms_from.clone(),
            }) as Arc<dyn Channel>
        });
        let (push, vapid_public_key) = match (&cfg.vapid_private_key, &cfg.vapid_subject) {
            (Some(key), Some(subject)) => {
                let raw = URL_SAFE_NO_PAD
                    .decode(key.expose().trim_end_matches('='))
                    .map_err(|_| "VAPID_PRIVATE_KEY is not base64url".to_owned())?;
                let keys = ES256KeyPair::from_bytes(&raw)
                    .map_err(|e| format!("VAPID_PRIVATE_KEY is not a P-256 private key: {e}"))?;
                let public = web_push_native::p256::SecretKey::from_slice(&raw)
                    .map(|k| {
                        use web_push_native::p256::elliptic_curve::sec1::ToEncodedPoint as _;
                        URL_SAFE_NO_PAD.encode(k.public_key().to_encoded_point(false).as_bytes())
                    })
                    .map_err(|_| "VAPID_PRIVATE_KEY is not a P-256 private key".to_owned())?;
                if let Some(given) = &cfg.vapid_public_key
                    && given.trim_end_matches('=') != public
                {
                    return Err(
                        "VAPID_PUBLIC_KEY is not the public key of VAPID_PRIVATE_KEY".into(),
                    );
                }
                (
                    Some(Arc::new(Push {
                        http,
                        keys,
                        subject: subject.clone(),
                    }) as Arc<dyn Channel>),
                    Some(public),
                )
            }
            (Some(_), None) => {
                return Err(
                    "VAPID_SUBJECT (mailto: or https: contact) is required with VAPID_PRIVATE_KEY"
                        .into(),
                );
            }
            _ => (None, None),
        };
        Ok(Self {
            email,
            sms,
            push,
            vapid_public_key,
        })
    }

    /// The channel of `code`, when configured.
    pub fn get(&self, code: Code) -> Option<&Arc<dyn Channel>> {
        match code {
            Code::Email => self.email.as_ref(),
            Code::Sms => self.sms.as_ref(),
            Code::Push => self.push.as_ref(),
        }
    }

    /// The configured channels' codes.
    pub fn available(&self) -> Vec<Code> {
        [Code::Push, Code::Sms, Code::Email]
            .into_iter()
            .filter(|c| self.get(*c).is_some())
            .collect()
    }
}

/// A new VAPID key pair (RFC 8292): the private key (`VAPID_PRIVATE_KEY`) and the public key
/// (`VAPID_PUBLIC_KEY`, the browsers' `applicationServerKey`), both base64url without padding.
pub fn new_vapid_keys() -> (String, String) {
    use web_push_native::p256::elliptic_curve::sec1::ToEncodedPoint as _;
    loop {
        let mut raw = [0u8; 32];
        rand::fill(&mut raw);
        if let Ok(k) = web_push_native::p256::SecretKey::from_slice(&raw) {
            return (
                URL_SAFE_NO_PAD.encode(raw),
                URL_SAFE_NO_PAD.encode(k.public_key().to_encoded_point(false).as_bytes()),
            );
        }
    }
}

/// E-mail: the notice's subject, plain text and HTML alternative, through the mailer.
struct Email(Arc<dyn Mailer>);

#[async_trait]
impl Channel for Email {
    async fn send(&self, target: &Target<'_>, notice: &Notice) -> Result<Value, SendError> {
        let msg = MailMessage {
            to: target.address.to_owned(),
            subject: notice.subject.clone(),
            text: notice.text.clone(),
            html: Some(notice.html.clone()),
        };
        self.0
            .send(&msg)
            .await
            .map(|reply| json!({"transport": self.0.kind(), "reply": reply}))
            .map_err(|e| SendError::Retry(e.to_string()))
    }
}

/// What an HTTP answer means for a delivery.
async fn judged(resp: reqwest::Response, what: &str) -> Result<Value, SendError> {
    let status = resp.status();
    let body: String = resp
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(500)
        .collect();
    let receipt = json!({"status": status.as_u16(), "body": body});
    match status.as_u16() {
        200..=299 => Ok(receipt),
        404 | 410 if what == "push service" => Err(SendError::Gone(format!(
            "{what} answered {status}: the subscription is gone"
        ))),
        408 | 429 | 500..=599 => Err(SendError::Retry(format!(
            "{what} answered {status}: {body}"
        ))),
        _ => Err(SendError::Permanent(format!(
            "{what} answered {status}: {body}"
        ))),
    }
}

fn transport(e: reqwest::Error, what: &str) -> SendError {
    SendError::Retry(format!("{what} unreachable: {e}"))
}

/// SMS through the provider's webhook.
struct Sms {
    http: reqwest::Client,
    url: url::Url,
    format: SmsFormat,
    from: Option<String>,
}

#[async_trait]
impl Channel for Sms {
    async fn send(&self, target: &Target<'_>, notice: &Notice) -> Result<Value, SendError> {
        // Credentials in the URL become Basic authentication, never part of the address called.
        let mut url = self.url.clone();
        let user = percent_encoding::percent_decode_str(url.username())
            .decode_utf8_lossy()
            .into_owned();
        let password = url.password().map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned()
        });
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let mut req = self.http.post(url).timeout(Duration::from_secs(15));
        if !user.is_empty() {
            req = req.basic_auth(user, password);
        }
        req = match self.format {
            SmsFormat::Json => req.json(&json!({
                "to": target.address,
                "from": self.from,
                "body": notice.sms,
                "reference": target.reference,
            })),
            SmsFormat::Twilio => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                form.append_pair("To", target.address);
                if let Some(from) = &self.from {
                    form.append_pair("From", from);
                }
                form.append_pair("Body", &notice.sms);
                req.header(
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(form.finish())
            }
        };
        let resp = req.send().await.map_err(|e| transport(e, "SMS webhook"))?;
        judged(resp, "SMS webhook").await
    }
}

/// Web Push with VAPID.
struct Push {
    http: reqwest::Client,
    keys: ES256KeyPair,
    subject: String,
}

#[async_trait]
impl Channel for Push {
    async fn send(&self, target: &Target<'_>, notice: &Notice) -> Result<Value, SendError> {
        let bad = |what: &str| SendError::Permanent(format!("push subscription: {what}"));
        let sub = target.subscription.ok_or_else(|| bad("missing"))?;
        let endpoint = sub["endpoint"].as_str().ok_or_else(|| bad("no endpoint"))?;
        let decode = |field: &str| {
            sub["keys"][field]
                .as_str()
                .and_then(|k| URL_SAFE_NO_PAD.decode(k.trim_end_matches('=')).ok())
                .ok_or_else(|| bad(field))
        };
        let p256dh = PublicKey::from_sec1_bytes(&decode("p256dh")?).map_err(|_| bad("p256dh"))?;
        let raw_auth = decode("auth")?;
        if raw_auth.len() != 16 {
            return Err(bad("auth"));
        }
        let mut auth = Auth::default();
        auth.copy_from_slice(&raw_auth);
        let request =
            WebPushBuilder::new(endpoint.parse().map_err(|_| bad("endpoint"))?, p256dh, auth)
                .with_valid_duration(Duration::from_secs(3600))
                .with_vapid(&self.keys, &self.subject)
                .build(notice.push.to_string())
                .map_err(|e| SendError::Permanent(format!("push encryption: {e}")))?;
        let (parts, body) = request.into_parts();
        let mut req = self
            .http
            .post(endpoint)
            .timeout(Duration::from_secs(15))
            .body(body);
        for (name, value) in &parts.headers {
            req = req.header(name.as_str(), value.as_bytes());
        }
        let urgency = match target.level {
            "critical" | "high" => "high",
            "medium" => "normal",
            _ => "low",
        };
        let resp = req
            .header("Urgency", urgency)
            .send()
            .await
            .map_err(|e| transport(e, "push service"))?;
        judged(resp, "push service").await
    }
}
