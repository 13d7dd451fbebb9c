//! Delivers outbox mail: claims one due row at a time (`FOR UPDATE SKIP LOCKED`, so several
//! instances share the work), sends it, and on failure retries with exponential backoff.

use futures_util::FutureExt;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::model::MailRow;
use super::store;
use crate::app::App;
use crate::db::scope::Scope;
use crate::db::tx::{self, Touches, Work};
use crate::error::AppResult;

/// Attempts before a mail is given up (about a day of retries).
pub const MAX_ATTEMPTS: i32 = 11;
const FIRST_RETRY_MINUTES: i64 = 2;
const LONGEST_RETRY_MINUTES: i64 = 8 * 60;

/// When to try again after `attempts` failed attempts: 2, 4, 8 ... minutes, at most 8 hours.
pub fn retry_delay(attempts: i32) -> chrono::Duration {
    let doublings = u32::try_from(attempts.clamp(1, 16) - 1).unwrap_or(0);
    let minutes = FIRST_RETRY_MINUTES.saturating_mul(1 << doublings);
    chrono::Duration::minutes(minutes.min(LONGEST_RETRY_MINUTES))
}

/// Where mail goes: an SMTP server, or the log when none is configured.
pub enum Transport {
    Smtp {
        transport: Box<AsyncSmtpTransport<Tokio1Executor>>,
        from: Mailbox,
    },
    Log,
}

impl Transport {
    /// The transport for `smtp_url` (None: log only).
    pub fn new(smtp_url: Option<&str>, from: &str) -> anyhow::Result<Self> {
        let Some(url) = smtp_url.filter(|u| !u.is_empty()) else {
            return Ok(Self::Log);
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .context("SMTP_URL is not a valid smtp:// or smtps:// URL")?
            .timeout(Some(Duration::from_secs(15)))
            .build();
        let from = from.parse().context("MAIL_FROM is not a valid mailbox")?;
        Ok(Self::Smtp {
            transport: Box::new(transport),
            from,
        })
    }

    async fn send(&self, mail: &MailRow) -> Result<(), String> {
        match self {
            Self::Log => {
                tracing::info!(
                    to = %mail.recipient,
                    subject = %mail.subject,
                    link = mail.action_url.as_deref().unwrap_or("-"),
                    "mail not sent: SMTP_URL is not set"
                );
                Ok(())
            }
            Self::Smtp { transport, from } => {
                let (Some(text), Some(html)) = (&mail.text_body, &mail.html_body) else {
                    return Err("the mail has no body (it was erased)".to_owned());
                };
                let to: Mailbox = mail
                    .recipient
                    .parse()
                    .map_err(|err| format!("recipient: {err}"))?;
                let message = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(mail.subject.clone())
                    .multipart(MultiPart::alternative_plain_html(text.clone(), html.clone()))
                    .map_err(|err| err.to_string())?;
                transport
                    .send(message)
                    .await
                    .map(|_| ())
                    .map_err(|err| err.to_string())
            }
        }
    }
}

/// Starts the worker; it stops when `shutdown` turns true.
pub fn spawn(app: App, transport: Transport, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let poll = Duration::from_millis(app.config.mail_poll_ms.max(10));
    tokio::spawn(async move {
        loop {
            loop {
                match deliver_next(&app, &transport).await {
                    // A stopping server sends the mail in hand, and leaves the rest queued.
                    Ok(true) if !*shutdown.borrow() => continue,
                    Ok(_) => break,
                    Err(err) => {
                        tracing::error!(error = ?err, "mail worker cannot reach the outbox");
                        break;
                    }
                }
            }
            tokio::select! {
                () = app.mailer.woken() => {}
                () = tokio::time::sleep(poll) => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
        }
    })
}

/// Sends the next due mail, if any; true when one was handled.
async fn deliver_next(app: &App, transport: &Transport) -> AppResult<bool> {
    tx::transaction(app, Scope::Nobody, Touches::ROWS, |Work { conn, now, .. }| async move {
        let Some(mail) = store::claim_due(conn, now).await? else {
            return Ok(false);
        };
        match transport.send(&mail).await {
            Ok(()) => {
                store::mark_sent(conn, mail.id, now).await?;
                tracing::info!(mail_id = mail.id, kind = %mail.kind, "mail sent");
            }
            Err(error) => {
                let attempts = mail.attempts + 1;
                let retry_at = next_attempt(attempts, now);
                tracing::warn!(mail_id = mail.id, attempts, %error, retry_at = ?retry_at, "mail delivery failed");
                store::mark_attempt_failed(conn, mail.id, &error, retry_at, now).await?;
            }
        }
        Ok(true)
    }.boxed()).await
}

fn next_attempt(attempts: i32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (attempts < MAX_ATTEMPTS).then(|| now + retry_delay(attempts))
}
