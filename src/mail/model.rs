//! Outbox rows.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::mail_outbox;

/// A queued mail. Its bodies and link are erased once it is delivered or given up (so
/// they are absent only then).
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = mail_outbox)]
pub struct MailRow {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    pub action_url: Option<String>,
    pub attempts: i32,
}

/// A mail to queue.
#[derive(Debug, Insertable)]
#[diesel(table_name = mail_outbox)]
pub struct NewMail<'a> {
    pub kind: &'a str,
    pub recipient: &'a str,
    pub subject: &'a str,
    pub text_body: &'a str,
    pub html_body: &'a str,
    pub action_url: Option<&'a str>,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
}
