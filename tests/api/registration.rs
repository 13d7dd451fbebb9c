//! Sign-up and email verification.

use chrono::Duration;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use guildhall::db::schema::{user_tokens, users};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, error_code, error_fields};

const REGISTER: &str = "mutation($input: RegisterInput!) { register(input: $input) }";
const VERIFY: &str = "mutation($token: String!) { verifyEmail(token: $token) { id name emailVerified } }";
const RESEND: &str = "mutation($email: String!) { resendVerificationEmail(email: $email) }";

fn input(email: &str, password: &str, name: &str) -> serde_json::Value {
    json!({ "input": { "email": email, "password": password, "name": name } })
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_mails_a_link_that_verifies_the_address_once() {
    let t = TestApp::spawn().await;
    let data = t
        .ok(None, REGISTER, input(" Ann@Example.com ", PASSWORD, "Ann"))
        .await;
    assert_eq!(data["register"], true);

    let mail = t
        .smtp
        .wait_for("ann@example.com", "Verify your email for Guildhall")
        .await;
    assert!(
        mail.link()
            .starts_with("http://app.guildhall.test/verify-email?token="),
        "{}",
        mail.link()
    );
    assert!(mail.html.contains("Verify email address"), "HTML part present");
    assert!(mail.text.contains("expires in 24 hours"), "text part present");

    let mut conn = t.db.connect().await;
    let (email, hash, verified): (
        Option<String>,
        Option<String>,
        Option<chrono::DateTime<chrono::Utc>>,
    ) = users::table
        .select((users::email, users::password_hash, users::email_verified_at))
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(email.as_deref(), Some("ann@example.com"));
    assert!(hash.unwrap().starts_with("$argon2id$"));
    assert!(verified.is_none());
    // Only the token's SHA-256 is stored.
    let stored: Vec<Vec<u8>> = user_tokens::table
        .select(user_tokens::token_hash)
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], mail.token().as_bytes());
    assert_eq!(stored[0].len(), 32);

    let verified = t.ok(None, VERIFY, json!({ "token": mail.token() })).await;
    assert_eq!(verified["verifyEmail"]["emailVerified"], true);
    assert_eq!(verified["verifyEmail"]["name"], "Ann");

    let again = t.gql(None, VERIFY, json!({ "token": mail.token() })).await;
    assert_eq!(error_code(&again), "BAD_USER_INPUT");
    assert_eq!(error_fields(&again), ["token"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn registering_a_taken_address_answers_the_same_and_mails_a_notice() {
    let t = TestApp::spawn().await;
    t.register("bea@example.com", "Bea").await;

    let second = t
        .gql(
            None,
            REGISTER,
            input("bea@example.com", "another long password", "Impostor"),
        )
        .await;
    assert_eq!(second, json!({ "data": { "register": true } }));
    let notice = t
        .smtp
        .wait_for("bea@example.com", "You already have a Guildhall account")
        .await;
    assert!(notice.text.contains("No second account was created"));
    assert!(notice.text.contains("Hello Bea"), "greets the existing owner");

    let mut conn = t.db.connect().await;
    let count: i64 = users::table.count().get_result(&mut conn).await.unwrap();
    assert_eq!(count, 1);
    // The original password still works; the impostor's does not.
    t.login("bea@example.com", PASSWORD).await;
    let impostor = t
        .gql(
            None,
            "mutation { login(input: { email: \"bea@example.com\", password: \"another long password\" }) { accessToken } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&impostor), "UNAUTHENTICATED");
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_sign_up_input_names_every_bad_field_and_stores_nothing() {
    let t = TestApp::spawn().await;
    let response = t
        .gql(None, REGISTER, input("not-an-address", "short", "  "))
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    assert_eq!(
        error_fields(&response),
        ["input.email", "input.name", "input.password"]
    );

    for common in ["qwertyuiop", "1234567890", "Password123"] {
        let response = t.gql(None, REGISTER, input("cy@example.com", common, "Cy")).await;
        assert_eq!(error_fields(&response), ["input.password"], "{common} is refused");
        assert!(
            response["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("common")
        );
    }
    let too_long = "x".repeat(1025);
    let response = t
        .gql(None, REGISTER, input("cy@example.com", &too_long, "Cy"))
        .await;
    assert_eq!(error_fields(&response), ["input.password"]);

    let mut conn = t.db.connect().await;
    let count: i64 = users::table.count().get_result(&mut conn).await.unwrap();
    assert_eq!(count, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn long_passwords_are_accepted_whole_and_never_truncated() {
    let t = TestApp::spawn().await;
    let long = "é".repeat(1024);
    t.ok(None, REGISTER, input("dee@example.com", &long, "Dee")).await;
    t.login("dee@example.com", &long).await;
    let truncated = "é".repeat(1023);
    let response = t.try_login("dee@example.com", &truncated).await;
    assert_eq!(error_code(&response), "UNAUTHENTICATED");
}

#[tokio::test(flavor = "multi_thread")]
async fn verification_links_expire_after_a_day_and_a_new_one_replaces_the_old() {
    let t = TestApp::spawn().await;
    let first = t.register("eve@example.com", "Eve").await;

    t.ok(None, RESEND, json!({ "email": "eve@example.com" })).await;
    let mails = t.smtp.wait_for_count("eve@example.com", 2).await;
    let second = mails[1].token();
    assert_ne!(first, second);
    let stale = t.gql(None, VERIFY, json!({ "token": first })).await;
    assert_eq!(
        error_code(&stale),
        "BAD_USER_INPUT",
        "a new link kills the old one"
    );

    t.advance(Duration::hours(24) + Duration::minutes(1));
    let expired = t.gql(None, VERIFY, json!({ "token": second })).await;
    assert_eq!(error_code(&expired), "BAD_USER_INPUT");

    t.ok(None, RESEND, json!({ "email": "eve@example.com" })).await;
    let third = t.smtp.wait_for_count("eve@example.com", 3).await[2].token();
    t.ok(None, VERIFY, json!({ "token": third })).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn resending_verification_never_reveals_whether_an_address_exists_and_is_rate_limited() {
    let t = TestApp::spawn().await;
    let unknown = t.ok(None, RESEND, json!({ "email": "nobody@example.com" })).await;
    assert_eq!(unknown["resendVerificationEmail"], true);

    for _ in 0..2 {
        t.ok(None, RESEND, json!({ "email": "nobody@example.com" })).await;
    }
    let limited = t
        .gql(None, RESEND, json!({ "email": "nobody@example.com" }))
        .await;
    assert_eq!(error_code(&limited), "RATE_LIMITED");
    let retry_after = limited["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap();
    assert!((1..=900).contains(&retry_after), "retryAfter {retry_after}");

    t.advance(Duration::minutes(15) + Duration::seconds(1));
    t.ok(None, RESEND, json!({ "email": "nobody@example.com" })).await;
    assert!(
        t.smtp.mails_to("nobody@example.com").is_empty(),
        "no mail to an unknown address"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mail_requests_are_limited_per_client_address_too() {
    let t = TestApp::spawn_with(|config| config.auth_rate_limit_per_ip = 4).await;
    for n in 0..4 {
        t.ok(None, RESEND, json!({ "email": format!("p{n}@example.com") }))
            .await;
    }
    let limited = t.gql(None, RESEND, json!({ "email": "p9@example.com" })).await;
    assert_eq!(error_code(&limited), "RATE_LIMITED");
}
