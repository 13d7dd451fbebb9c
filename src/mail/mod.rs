//! Outgoing mail: rendered from templates into outbox rows inside the business transaction,
//! then delivered by the worker, so a crash or an SMTP outage delays mail but never loses it.

pub mod model;
pub mod store;
pub mod templates;
pub mod worker;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use tokio::sync::Notify;

use crate::error::{AppError, AppResult};
use model::NewMail;
use templates::MailTemplates;

/// What a mail is about; each kind has a subject and an HTML and a text template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    VerifyEmail,
    AccountExists,
    PasswordReset,
    PasswordChanged,
    EmailChange,
    EmailChangeNotice,
    Invitation,
    CompanyDeleted,
    TwoFactorChanged,
    TwoFactorRecovery,
}

impl MailKind {
    /// Template base name and outbox `kind` column.
    pub fn name(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::AccountExists => "account_exists",
            Self::PasswordReset => "password_reset",
            Self::PasswordChanged => "password_changed",
            Self::EmailChange => "email_change",
            Self::EmailChangeNotice => "email_change_notice",
            Self::Invitation => "invitation",
            Self::CompanyDeleted => "company_deleted",
            Self::TwoFactorChanged => "two_factor_changed",
            Self::TwoFactorRecovery => "two_factor_recovery",
        }
    }

    fn subject(self, product: &str, details: &[(&'static str, String)]) -> String {
        let detail = |key: &str| {
            details
                .iter()
                .find(|(k, _)| *k == key)
                .map_or("", |(_, v)| v.as_str())
                .to_owned()
        };
        match self {
            Self::VerifyEmail => format!("Verify your email for {product}"),
            Self::AccountExists => format!("You already have a {product} account"),
            Self::PasswordReset => format!("Reset your {product} password"),
            Self::PasswordChanged => format!("Your {product} password was changed"),
            Self::EmailChange => format!("Confirm your new email address for {product}"),
            Self::EmailChangeNotice => format!("Your {product} email address is about to change"),
            Self::Invitation => format!(
                "{} invited you to join {} on {product}",
                detail("inviter"),
                detail("company")
            ),
            Self::CompanyDeleted => format!("{} was deleted from {product}", detail("company")),
            Self::TwoFactorChanged => format!(
                "Two-factor sign-in on your {product} account was {}",
                detail("change")
            ),
            Self::TwoFactorRecovery => {
                format!("Someone asked to turn off two-factor sign-in on your {product} account")
            }
        }
    }
}

/// One mail to queue.
pub struct Letter<'a> {
    pub kind: MailKind,
    pub to: &'a str,
    /// The recipient's name, for the greeting.
    pub name: &'a str,
    /// The link the mail asks the reader to open.
    pub link: String,
    /// Further template values: the new address, the company, the inviter...
    pub details: Vec<(&'static str, String)>,
}

impl<'a> Letter<'a> {
    /// A mail of `kind` to `to`, greeting `name`, asking them to open `link`.
    pub fn new(kind: MailKind, to: &'a str, name: &'a str, link: String) -> Self {
        Self {
            kind,
            to,
            name,
            link,
            details: Vec::new(),
        }
    }

    /// Adds a template value.
    #[must_use]
    pub fn with(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.details.push((key, value.into()));
        self
    }
}

/// Renders and queues mail, and wakes the worker when there is some.
pub struct Mailer {
    templates: MailTemplates,
    wakeup: Notify,
    product: String,
    app_url: String,
}

impl Mailer {
    /// A mailer whose links point at `app_url`.
    pub fn new(product: &str, app_url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            templates: MailTemplates::new()?,
            wakeup: Notify::new(),
            product: product.to_owned(),
            app_url: app_url.to_owned(),
        })
    }

    /// The link to `path` on the frontend carrying `token` (tokens are URL-safe base64).
    pub fn link(&self, path: &str, token: &str) -> String {
        format!("{}/{path}?token={token}", self.app_url)
    }

    /// A link to `path` on the frontend without a token.
    pub fn page(&self, path: &str) -> String {
        format!("{}/{path}", self.app_url)
    }

    /// Renders `letter` and writes it to the outbox in the caller's transaction.
    pub async fn queue(
        &self,
        conn: &mut AsyncPgConnection,
        letter: Letter<'_>,
        now: DateTime<Utc>,
    ) -> AppResult<()> {
        let subject = letter.kind.subject(&self.product, &letter.details);
        let mut context: BTreeMap<&str, &str> =
            letter.details.iter().map(|(k, v)| (*k, v.as_str())).collect();
        context.extend([
            ("product", self.product.as_str()),
            ("app_url", self.app_url.as_str()),
            ("subject", subject.as_str()),
            ("name", letter.name),
            ("link", letter.link.as_str()),
        ]);
        let (text_body, html_body) = self
            .templates
            .render(letter.kind.name(), &context)
            .map_err(AppError::internal)?;
        let mail = NewMail {
            kind: letter.kind.name(),
            recipient: letter.to,
            subject: &subject,
            text_body: &text_body,
            html_body: &html_body,
            action_url: Some(&letter.link),
            created_at: now,
            next_attempt_at: now,
        };
        store::insert(conn, &mail).await?;
        Ok(())
    }

    /// Tells the worker that mail was committed; call after the transaction commits.
    pub fn wake(&self) {
        self.wakeup.notify_one();
    }

    /// Resolves when [`Mailer::wake`] is called.
    pub async fn woken(&self) {
        self.wakeup.notified().await;
    }
}
