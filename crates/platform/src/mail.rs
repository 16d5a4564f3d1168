//! Sending e-mail behind a trait, with two transports: SMTP (`SMTP_URL`: STARTTLS on `smtp://`,
//! implicit TLS on `smtps://`, with the URL's credentials; lettre) and a mail directory
//! (`MAIL_SINK_DIR`: each message an RFC 5322 file, mode 600, for a development mailbox or a local
//! MTA's pickup directory). Messages are built once, by lettre, for both.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// One message: a plain-text body, and an HTML alternative when there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailMessage {
    /// Recipient address.
    pub to: String,
    /// Subject line (any text; encoded as needed).
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML alternative of the same content.
    pub html: Option<String>,
}

impl MailMessage {
    /// A plain-text message.
    pub fn text(to: &str, subject: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            to: to.to_owned(),
            subject: subject.into(),
            text: text.into(),
            html: None,
        }
    }
}

/// The message could not be handed over; the caller retries later.
#[derive(Debug, thiserror::Error)]
#[error("mail not sent: {0}")]
pub struct MailError(pub String);

/// Where e-mail goes.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Hands `msg` over for delivery; returns what the transport said (an SMTP reply, a file name).
    async fn send(&self, msg: &MailMessage) -> Result<String, MailError>;
    /// What kind of transport this is, for logs.
    fn kind(&self) -> &'static str;
}

/// A header value on one line: line breaks in user-supplied text (an organization's name) cannot
/// add headers.
fn one_line(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The message as lettre builds it: `From` `from`, UTF-8 parts, multipart/alternative with an HTML
/// alternative.
pub fn build(from: &str, msg: &MailMessage) -> Result<Message, MailError> {
    let from: Mailbox = from
        .parse()
        .map_err(|e| MailError(format!("sender {from:?}: {e}")))?;
    let to: Mailbox = one_line(&msg.to)
        .parse()
        .map_err(|e| MailError(format!("recipient {:?}: {e}", msg.to)))?;
    let builder = Message::builder()
        .from(from)
        .to(to)
        .subject(one_line(&msg.subject));
    let built = match &msg.html {
        None => builder.singlepart(part(ContentType::TEXT_PLAIN, &msg.text)),
        Some(html) => builder.multipart(
            MultiPart::alternative()
                .singlepart(part(ContentType::TEXT_PLAIN, &msg.text))
                .singlepart(part(ContentType::TEXT_HTML, html)),
        ),
    };
    built.map_err(|e| MailError(e.to_string()))
}

/// A UTF-8 part, sent as 8-bit text (readable as it is, in a mailbox file or a test) when its lines
/// allow it, else in the encoding lettre picks.
fn part(content_type: ContentType, text: &str) -> SinglePart {
    let body = Body::new_with_encoding(text.to_owned(), ContentTransferEncoding::EightBit)
        .unwrap_or_else(|_| Body::new(text.to_owned()));
    SinglePart::builder().header(content_type).body(body)
}

/// Writes each message to its own file in a directory.
pub struct DirMailer {
    dir: PathBuf,
    from: String,
}

impl DirMailer {
    /// A mailer writing to `dir` (created when missing, mode 700), sending as `from`.
    pub fn new(dir: PathBuf, from: String) -> Self {
        Self { dir, from }
    }

    /// The directory messages are written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait]
impl Mailer for DirMailer {
    async fn send(&self, msg: &MailMessage) -> Result<String, MailError> {
        let id = uuid::Uuid::now_v7().simple().to_string();
        let bytes = build(&self.from, msg)?.formatted();
        let dir = self.dir.clone();
        let name = format!("{id}.eml");
        let written = name.clone();
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)?;
            // Written under a temporary name and renamed, so a reader never sees half a message.
            let tmp = dir.join(format!(".{id}.tmp"));
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, dir.join(&written))
        })
        .await
        .map_err(|e| MailError(e.to_string()))?
        .map_err(|e| MailError(format!("{}: {e}", self.dir.display())))?;
        Ok(name)
    }

    fn kind(&self) -> &'static str {
        "directory"
    }
}

/// Sends over SMTP.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: String,
}

impl SmtpMailer {
    /// A mailer for `url` — `smtp://[user:password@]host[:587]` (STARTTLS, required: nothing is
    /// sent unless the connection is upgraded) or `smtps://…[:465]` (TLS from the first byte) —
    /// checking the server's certificate against `ca` (PEM) when given, else the system's roots.
    pub fn new(url: &str, ca: Option<&Path>, from: String) -> Result<Self, String> {
        let u = url::Url::parse(url).map_err(|e| format!("SMTP_URL: {e}"))?;
        let host = u
            .host_str()
            .ok_or("SMTP_URL: no host")?
            .trim_matches(|c| c == '[' || c == ']')
            .to_owned();
        let mut tls = TlsParameters::builder(host.clone());
        if let Some(ca) = ca {
            let pem = std::fs::read(ca).map_err(|e| format!("{}: {e}", ca.display()))?;
            let cert = Certificate::from_pem(&pem).map_err(|e| format!("{}: {e}", ca.display()))?;
            tls = tls.add_root_certificate(cert);
        }
        let tls = tls.build_rustls().map_err(|e| format!("SMTP TLS: {e}"))?;
        let (mode, default_port) = match u.scheme() {
            "smtps" => (Tls::Wrapper(tls), 465),
            "smtp" => (Tls::Required(tls), 587),
            other => return Err(format!("SMTP_URL: scheme {other} is not smtp or smtps")),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(u.port().unwrap_or(default_port))
            .tls(mode)
            .timeout(Some(Duration::from_secs(15)));
        if !u.username().is_empty() {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            builder = builder.credentials(Credentials::new(
                decode(u.username()),
                decode(u.password().unwrap_or("")),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, msg: &MailMessage) -> Result<String, MailError> {
        let message = build(&self.from, msg)?;
        let reply = self
            .transport
            .send(message)
            .await
            .map_err(|e| MailError(e.to_string()))?;
        Ok(format!(
            "{} {}",
            reply.code(),
            reply.message().collect::<Vec<_>>().join(" ")
        ))
    }

    fn kind(&self) -> &'static str {
        "smtp"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_stay_on_one_line_and_non_ascii_subjects_are_encoded() {
        let msg = MailMessage::text(
            "ana@example.org",
            "Invitación a\r\nBcc: evil@example.org",
            "Hola\nmundo",
        );
        let text = String::from_utf8(
            build("HeartGuard <no-reply@example.org>", &msg)
                .unwrap()
                .formatted(),
        )
        .unwrap();
        let head = text.split("\r\n\r\n").next().unwrap();
        assert!(!head.contains("\nBcc:"), "{head}");
        assert!(head.contains("Subject: =?utf-8?b?"), "{head}");
        assert!(text.contains("Hola\r\nmundo"), "{text}");
    }

    #[test]
    fn an_html_alternative_makes_a_multipart_message_with_its_plain_text() {
        let msg = MailMessage {
            html: Some("<p>Hola</p>".into()),
            ..MailMessage::text("ana@example.org", "s", "Hola")
        };
        let text = String::from_utf8(build("a@example.org", &msg).unwrap().formatted()).unwrap();
        assert!(text.contains("multipart/alternative"), "{text}");
        assert!(
            text.contains("text/plain") && text.contains("text/html"),
            "{text}"
        );
        assert!(
            build(
                "a@example.org",
                &MailMessage::text("not an address", "s", "t")
            )
            .is_err()
        );
    }

    #[tokio::test]
    async fn messages_are_written_whole_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("hg-mail-{}", uuid::Uuid::new_v4().simple()));
        let mailer = DirMailer::new(dir.clone(), "a@example.org".into());
        mailer
            .send(&MailMessage::text("b@example.org", "s", "t"))
            .await
            .unwrap();
        let files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        assert_eq!(files.len(), 1);
        assert_eq!(
            files[0].metadata().unwrap().permissions().mode() & 0o777,
            0o600
        );
        let text = std::fs::read_to_string(files[0].path()).unwrap();
        assert!(text.contains("To: b@example.org\r\n"), "{text}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn smtp_urls_are_checked() {
        assert!(
            SmtpMailer::new(
                "smtp://user:p%40ss@127.0.0.1:2525",
                None,
                "a@example.org".into()
            )
            .is_ok()
        );
        assert!(SmtpMailer::new("smtps://mail.example.org", None, "a@example.org".into()).is_ok());
        assert!(SmtpMailer::new("http://mail.example.org", None, "a@example.org".into()).is_err());
        assert!(
            SmtpMailer::new(
                "smtp://x",
                Some(Path::new("/nonexistent/ca.pem")),
                "a@example.org".into()
            )
            .is_err()
        );
    }
}
