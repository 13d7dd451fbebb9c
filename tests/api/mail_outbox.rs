//! Mail goes through the outbox: an SMTP outage delays it, never loses it.

use chrono::Duration;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use guildhall::db::schema::mail_outbox;
use guildhall::mail::worker::{MAX_ATTEMPTS, retry_delay};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn mail_queued_during_an_smtp_outage_arrives_after_it_ends() {
    let mut t = TestApp::spawn().await;
    t.smtp.stop().await;
    t.ok(
        None,
        "mutation($input: RegisterInput!) { register(input: $input) }",
        json!({ "input": { "email": "amy@example.com", "password": PASSWORD, "name": "Amy" } }),
    )
    .await;

    // The first attempt fails and is recorded, with a retry scheduled.
    let mut conn = t.db.connect().await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let (attempts, last_error, sent) = loop {
        let row: (i32, Option<String>, Option<chrono::DateTime<chrono::Utc>>) = mail_outbox::table
            .select((
                mail_outbox::attempts,
                mail_outbox::last_error,
                mail_outbox::sent_at,
            ))
            .first(&mut conn)
            .await
            .unwrap();
        if row.0 > 0 || tokio::time::Instant::now() > deadline {
            break row;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(attempts, 1);
    assert!(last_error.is_some());
    assert!(sent.is_none());

    t.smtp.restart().await;
    t.advance(retry_delay(1) + Duration::seconds(1));
    let mail = t.smtp.wait_for("amy@example.com", "Verify your email").await;
    t.ok(
        None,
        "mutation($t: String!) { verifyEmail(token: $t) { id } }",
        json!({ "t": mail.token() }),
    )
    .await;

    let sent: Option<chrono::DateTime<chrono::Utc>> = mail_outbox::table
        .select(mail_outbox::sent_at)
        .first(&mut conn)
        .await
        .unwrap();
    assert!(sent.is_some());
}

#[test]
fn retries_back_off_exponentially_over_about_a_day() {
    const { assert!(MAX_ATTEMPTS >= 8) };
    let waits: Vec<i64> = (1..MAX_ATTEMPTS).map(|n| retry_delay(n).num_minutes()).collect();
    assert!(waits.windows(2).all(|w| w[1] >= w[0]), "never shorter: {waits:?}");
    assert_eq!(waits[0], 2);
    assert_eq!(waits[1], 4);
    let total_hours = waits.iter().sum::<i64>() / 60;
    assert!((20..=36).contains(&total_hours), "retries span {total_hours} h");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivered_or_given_up_mail_keeps_no_usable_link() {
    let t = TestApp::spawn().await;
    t.verified_user("ned@example.com", "Ned").await;
    t.ok(
        None,
        "mutation($e: String!) { requestPasswordReset(email: $e) }",
        json!({ "e": "ned@example.com" }),
    )
    .await;
    let reset = t.smtp.wait_for("ned@example.com", "Reset").await;
    let token = reset.token();

    let mut conn = t.db.connect().await;
    let delivered = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    type Kept = (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        bool,
    );
    let rows: Vec<Kept> = loop {
        let rows: Vec<Kept> = mail_outbox::table
            .filter(mail_outbox::recipient.eq("ned@example.com"))
            .select((
                mail_outbox::kind,
                mail_outbox::subject,
                mail_outbox::action_url,
                mail_outbox::text_body,
                mail_outbox::html_body,
                mail_outbox::sent_at.is_not_null(),
            ))
            .load(&mut conn)
            .await
            .unwrap();
        if rows.iter().all(|row| row.5) || tokio::time::Instant::now() > delivered {
            break rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(rows.len(), 2, "verification and reset mail");
    for (kind, subject, link, text, html, sent) in &rows {
        assert!(sent, "{kind} was delivered");
        assert!(!subject.is_empty(), "who, what kind and when stay");
        assert_eq!(
            (link, text, html),
            (&None, &None, &None),
            "{kind} keeps no link or body"
        );
    }
    let leaked: i64 = mail_outbox::table
        .filter(mail_outbox::text_body.like(format!("%{token}%")))
        .or_filter(mail_outbox::html_body.like(format!("%{token}%")))
        .or_filter(mail_outbox::action_url.like(format!("%{token}%")))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(leaked, 0);

    let kept_body = diesel::update(mail_outbox::table)
        .set(mail_outbox::text_body.eq(Some("a link: http://x/?token=1")))
        .execute(&mut conn)
        .await;
    assert!(
        kept_body.is_err(),
        "the database refuses a finished mail with a body"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mail_given_up_after_its_last_attempt_is_erased_too() {
    let mut t = TestApp::spawn().await;
    t.smtp.stop().await;
    t.ok(
        None,
        "mutation($input: RegisterInput!) { register(input: $input) }",
        json!({ "input": { "email": "ola@example.com", "password": PASSWORD, "name": "Ola" } }),
    )
    .await;
    let mut conn = t.db.connect().await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (failed, link): (bool, Option<String>) = mail_outbox::table
            .select((mail_outbox::failed_at.is_not_null(), mail_outbox::action_url))
            .first(&mut conn)
            .await
            .unwrap();
        if failed {
            assert_eq!(link, None, "a given-up mail keeps no link");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the mail is given up in time"
        );
        t.advance(Duration::hours(9));
        t.app.mailer.wake();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (attempts, error): (i32, Option<String>) = mail_outbox::table
        .select((mail_outbox::attempts, mail_outbox::last_error))
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(attempts, MAX_ATTEMPTS, "the outcome stays");
    assert!(error.is_some());
}
