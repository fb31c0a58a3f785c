//! Sending account emails: SMTP when configured, else files under
//! `<data_dir>/mail/` (so a laptop install works with no mail server).

use std::path::PathBuf;

use async_trait::async_trait;
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use townhall_access::Mailer;

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    pub fn new(url: &str, from: &str) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("mail.smtp_url is not usable: {e}"))?
            .timeout(Some(std::time::Duration::from_secs(10)))
            .build();
        let from = from
            .parse()
            .map_err(|e| format!("mail.from `{from}` is not an address: {e}"))?;
        Ok(Self { transport, from })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), String> {
        let to: Mailbox = to.parse().map_err(|e| format!("bad recipient: {e}"))?;
        let msg = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|e| e.to_string())?;
        self.transport.send(msg).await.map(|_| ()).map_err(|e| e.to_string())
    }
}

/// Writes each email to a file (development and laptop installs).
pub struct FileMailer {
    dir: PathBuf,
}

impl FileMailer {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), String> {
        tokio::fs::create_dir_all(&self.dir).await.map_err(|e| e.to_string())?;
        let path = self.dir.join(format!("{}.eml", uuid::Uuid::now_v7()));
        let text = format!("To: {to}\nSubject: {subject}\n\n{body}");
        tokio::fs::write(&path, text).await.map_err(|e| e.to_string())?;
        tracing::info!(path = %path.display(), "email written to file (no SMTP server configured)");
        Ok(())
    }
}
