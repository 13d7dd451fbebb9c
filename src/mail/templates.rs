//! Mail templates, compiled into the binary; `.html` templates auto-escape their values.

use minijinja::Environment;
use serde::Serialize;

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../../templates/mail/layout.html")),
    (
        "verify_email.html",
        include_str!("../../templates/mail/verify_email.html"),
    ),
    (
        "verify_email.txt",
        include_str!("../../templates/mail/verify_email.txt"),
    ),
    (
        "account_exists.html",
        include_str!("../../templates/mail/account_exists.html"),
    ),
    (
        "account_exists.txt",
        include_str!("../../templates/mail/account_exists.txt"),
    ),
    (
        "password_reset.html",
        include_str!("../../templates/mail/password_reset.html"),
    ),
    (
        "password_reset.txt",
        include_str!("../../templates/mail/password_reset.txt"),
    ),
    (
        "password_changed.html",
        include_str!("../../templates/mail/password_changed.html"),
    ),
    (
        "password_changed.txt",
        include_str!("../../templates/mail/password_changed.txt"),
    ),
    (
        "email_change.html",
        include_str!("../../templates/mail/email_change.html"),
    ),
    (
        "email_change.txt",
        include_str!("../../templates/mail/email_change.txt"),
    ),
    (
        "email_change_notice.html",
        include_str!("../../templates/mail/email_change_notice.html"),
    ),
    (
        "email_change_notice.txt",
        include_str!("../../templates/mail/email_change_notice.txt"),
    ),
    (
        "invitation.html",
        include_str!("../../templates/mail/invitation.html"),
    ),
    (
        "invitation.txt",
        include_str!("../../templates/mail/invitation.txt"),
    ),
    (
        "company_deleted.html",
        include_str!("../../templates/mail/company_deleted.html"),
    ),
    (
        "company_deleted.txt",
        include_str!("../../templates/mail/company_deleted.txt"),
    ),
    (
        "two_factor_changed.html",
        include_str!("../../templates/mail/two_factor_changed.html"),
    ),
    (
        "two_factor_changed.txt",
        include_str!("../../templates/mail/two_factor_changed.txt"),
    ),
    (
        "two_factor_recovery.html",
        include_str!("../../templates/mail/two_factor_recovery.html"),
    ),
    (
        "two_factor_recovery.txt",
        include_str!("../../templates/mail/two_factor_recovery.txt"),
    ),
];

/// The compiled template set.
pub struct MailTemplates {
    env: Environment<'static>,
}

impl MailTemplates {
    /// Compiles every template; a syntax error fails startup, not a request.
    pub fn new() -> anyhow::Result<Self> {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        Ok(Self { env })
    }

    /// The (text, html) bodies of mail `name`.
    pub fn render(&self, name: &str, context: &impl Serialize) -> anyhow::Result<(String, String)> {
        let text = self.env.get_template(&format!("{name}.txt"))?.render(context)?;
        let html = self.env.get_template(&format!("{name}.html"))?.render(context)?;
        Ok((text, html))
    }
}
