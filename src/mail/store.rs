//! SQL for the mail outbox.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::model::{MailRow, NewMail};
use crate::db::schema::mail_outbox;

/// Queues a mail.
pub async fn insert(conn: &mut AsyncPgConnection, mail: &NewMail<'_>) -> QueryResult<()> {
    diesel::insert_into(mail_outbox::table)
        .values(mail)
        .execute(conn)
        .await
        .map(|_| ())
}

/// How many mails wait to be sent (neither sent nor given up on), and when the oldest
/// was queued: the outbox's backlog, for the metrics.
pub async fn backlog(conn: &mut AsyncPgConnection) -> QueryResult<(i64, Option<DateTime<Utc>>)> {
    mail_outbox::table
        .filter(mail_outbox::sent_at.is_null())
        .filter(mail_outbox::failed_at.is_null())
        .select((
            diesel::dsl::count_star(),
            diesel::dsl::min(mail_outbox::created_at),
        ))
        .get_result(conn)
        .await
}

/// Locks the oldest due mail that no other worker holds (call inside a transaction).
pub async fn claim_due(conn: &mut AsyncPgConnection, now: DateTime<Utc>) -> QueryResult<Option<MailRow>> {
    mail_outbox::table
        .filter(mail_outbox::sent_at.is_null())
        .filter(mail_outbox::failed_at.is_null())
        .filter(mail_outbox::next_attempt_at.le(now))
        .order(mail_outbox::next_attempt_at)
        .select(MailRow::as_select())
        .for_update()
        .skip_locked()
        .first(conn)
        .await
        .optional()
}

/// Setting the columns that may hold a usable token to null.
type Erasure = (
    diesel::dsl::Eq<mail_outbox::text_body, Option<String>>,
    diesel::dsl::Eq<mail_outbox::html_body, Option<String>>,
    diesel::dsl::Eq<mail_outbox::action_url, Option<String>>,
);

/// The columns that may hold a usable token, erased once a mail is done with.
fn erased() -> Erasure {
    (
        mail_outbox::text_body.eq(None),
        mail_outbox::html_body.eq(None),
        mail_outbox::action_url.eq(None),
    )
}

/// Records a successful delivery and erases the mail's bodies and link.
pub async fn mark_sent(conn: &mut AsyncPgConnection, id: i64, now: DateTime<Utc>) -> QueryResult<()> {
    diesel::update(mail_outbox::table.find(id))
        .set((
            mail_outbox::sent_at.eq(now),
            mail_outbox::attempts.eq(mail_outbox::attempts + 1),
            mail_outbox::last_error.eq(None::<String>),
            erased(),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Records a failed attempt; with `retry_at` the mail is tried again then, without it the
/// mail is given up (and its bodies and link erased).
pub async fn mark_attempt_failed(
    conn: &mut AsyncPgConnection,
    id: i64,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    let target = mail_outbox::table.find(id);
    let attempts = mail_outbox::attempts.eq(mail_outbox::attempts + 1);
    let last_error = mail_outbox::last_error.eq(error);
    match retry_at {
        Some(at) => {
            diesel::update(target)
                .set((attempts, last_error, mail_outbox::next_attempt_at.eq(at)))
                .execute(conn)
                .await
        }
        None => {
            diesel::update(target)
                .set((attempts, last_error, mail_outbox::failed_at.eq(now), erased()))
                .execute(conn)
                .await
        }
    }
    .map(|_| ())
}

/// Deletes every mail, sent or queued, to `recipient` (their data is being erased).
pub async fn delete_for_recipient(conn: &mut AsyncPgConnection, recipient: &str) -> QueryResult<()> {
    diesel::delete(mail_outbox::table.filter(mail_outbox::recipient.eq(recipient)))
        .execute(conn)
        .await
        .map(|_| ())
}
