//! Outgoing mail (invites, password resets) over SMTP when `[mail]` is configured.

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::MailSettings;
use crate::error::{Error, Result};

#[derive(Clone)]
pub struct Mailer(Option<Inner>);

#[derive(Clone)]
struct Inner {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(s: &MailSettings) -> Result<Self> {
        if s.smtp_url.is_empty() {
            return Ok(Self(None));
        }
        let bad = |e: &dyn std::fmt::Display| Error::internal(format!("mail.smtp_url: {e}"));
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::from_url(&s.smtp_url).map_err(|e| bad(&e))?;
        if !s.username.is_empty() {
            builder = builder.credentials(Credentials::new(
                s.username.clone(),
                s.password.expose().to_string(),
            ));
        }
        let from = s
            .from
            .parse::<Mailbox>()
            .map_err(|e| Error::internal(format!("mail.from: {e}")))?;
        Ok(Self(Some(Inner {
            transport: builder.build(),
            from,
        })))
    }

    pub fn is_configured(&self) -> bool {
        self.0.is_some()
    }

    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<()> {
        let Some(inner) = &self.0 else {
            return Err(Error::internal("mail is not configured"));
        };
        let to = to
            .parse::<Mailbox>()
            .map_err(|e| Error::invalid_field("invalid_email", "email", e.to_string()))?;
        let msg = Message::builder()
            .from(inner.from.clone())
            .to(to)
            .subject(subject)
            .body(body)
            .map_err(Error::internal)?;
        inner
            .transport
            .send(msg)
            .await
            .map_err(|e| Error::internal(format!("sending mail failed: {e}")))?;
        Ok(())
    }
}
