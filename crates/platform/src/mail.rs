//! Sending e-mail behind a trait. Today's transport is a mail directory (`MAIL_SINK_DIR`): each
//! message is written as an RFC 5322 file (mode 600) for a development mailbox, a test, or a local
//! MTA's pickup directory. SMTP delivery arrives with the notifier (issue 14) behind the same trait.

use std::path::PathBuf;

use async_trait::async_trait;
use base64::Engine;
use chrono::Utc;

/// One plain-text message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailMessage {
    /// Recipient address.
    pub to: String,
    /// Subject line (any text; encoded as needed).
    pub subject: String,
    /// Plain-text body.
    pub text: String,
}

/// The message could not be handed over; the caller retries later.
#[derive(Debug, thiserror::Error)]
#[error("mail not sent: {0}")]
pub struct MailError(pub String);

/// Where e-mail goes.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Hands `msg` over for delivery.
    async fn send(&self, msg: &MailMessage) -> Result<(), MailError>;
    /// What kind of transport this is, for logs.
    fn kind(&self) -> &'static str;
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
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

/// A header value on one line: line breaks in user-supplied text (an organization's name) cannot
/// add headers.
fn one_line(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// RFC 2047 encoding for a header with non-ASCII text.
fn encode_header(value: &str) -> String {
    let value = one_line(value);
    if value.is_ascii() {
        value
    } else {
        format!(
            "=?utf-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(value.as_bytes())
        )
    }
}

/// The message as RFC 5322 text.
pub fn render(from: &str, msg: &MailMessage, id: &str) -> String {
    let mut text = msg.text.replace("\r\n", "\n").replace('\n', "\r\n");
    if !text.ends_with("\r\n") {
        text.push_str("\r\n");
    }
    format!(
        "From: {}\r\nTo: {}\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: <{id}@heartguard>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}",
        one_line(from),
        one_line(&msg.to),
        encode_header(&msg.subject),
        Utc::now().to_rfc2822(),
    )
}

#[async_trait]
impl Mailer for DirMailer {
    async fn send(&self, msg: &MailMessage) -> Result<(), MailError> {
        let id = uuid::Uuid::now_v7().simple().to_string();
        let text = render(&self.from, msg, &id);
        let dir = self.dir.clone();
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
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&tmp, dir.join(format!("{id}.eml")))
        })
        .await
        .map_err(|e| MailError(e.to_string()))?
        .map_err(|e| MailError(format!("{}: {e}", self.dir.display())))
    }

    fn kind(&self) -> &'static str {
        "directory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_stay_on_one_line_and_non_ascii_subjects_are_encoded() {
        let msg = MailMessage {
            to: "ana@example.org".into(),
            subject: "Invitación a\r\nBcc: evil@example.org".into(),
            text: "Hola\nmundo".into(),
        };
        let text = render("HeartGuard <no-reply@example.org>", &msg, "1");
        let head = text.split("\r\n\r\n").next().unwrap();
        assert!(!head.contains("\nBcc:"), "{head}");
        assert!(head.contains("Subject: =?utf-8?B?"), "{head}");
        assert!(text.ends_with("Hola\r\nmundo\r\n"));
    }

    #[tokio::test]
    async fn messages_are_written_whole_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("hg-mail-{}", uuid::Uuid::new_v4().simple()));
        let mailer = DirMailer::new(dir.clone(), "a@example.org".into());
        let msg = MailMessage {
            to: "b@example.org".into(),
            subject: "s".into(),
            text: "t".into(),
        };
        mailer.send(&msg).await.unwrap();
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
        assert!(text.contains("To: b@example.org\r\n"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
