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
