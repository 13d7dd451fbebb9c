//! Forgotten and changed passwords.

use chrono::Duration;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, error_code, error_fields};

const REQUEST_RESET: &str = "mutation($email: String!) { requestPasswordReset(email: $email) }";
const RESET: &str =
    "mutation($token: String!, $password: String!) { resetPassword(token: $token, newPassword: $password) }";
const CHANGE: &str = "mutation($input: ChangePasswordInput!) { changePassword(input: $input) }";
const ME: &str = "{ me { user { name } } }";
const NEW_PASSWORD: &str = "a completely new passphrase";

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_link_sets_a_new_password_and_signs_out_everywhere() {
    let t = TestApp::spawn().await;
    let session = t.verified_user("pia@example.com", "Pia").await;

    let data = t
        .ok(None, REQUEST_RESET, json!({ "email": "pia@example.com" }))
        .await;
    assert_eq!(data["requestPasswordReset"], true);
    let mail = t
        .smtp
        .wait_for("pia@example.com", "Reset your Guildhall password")
        .await;
    assert!(
        mail.link()
            .starts_with("http://app.guildhall.test/reset-password?token=")
    );
    assert!(mail.html.contains("Choose a new password"));

    t.ok(
        None,
        RESET,
        json!({ "token": mail.token(), "password": NEW_PASSWORD }),
    )
    .await;
    assert_eq!(
        error_code(&t.gql(Some(&session), ME, json!({})).await),
        "UNAUTHENTICATED"
    );
    t.smtp.wait_for("pia@example.com", "password was changed").await;
    t.login("pia@example.com", NEW_PASSWORD).await;
    let old = t.try_login("pia@example.com", PASSWORD).await;
    assert_eq!(error_code(&old), "UNAUTHENTICATED");

    let reused = t
        .gql(
            None,
            RESET,
            json!({ "token": mail.token(), "password": "yet another passphrase" }),
        )
        .await;
    assert_eq!(error_code(&reused), "BAD_USER_INPUT");
    assert_eq!(error_fields(&reused), ["token"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_links_expire_after_thirty_minutes() {
    let t = TestApp::spawn().await;
    t.verified_user("quin@example.com", "Quin").await;
    t.ok(None, REQUEST_RESET, json!({ "email": "quin@example.com" }))
        .await;
    let token = t.smtp.wait_for("quin@example.com", "Reset your").await.token();
    t.advance(Duration::minutes(31));
    let expired = t
        .gql(None, RESET, json!({ "token": token, "password": NEW_PASSWORD }))
        .await;
    assert_eq!(error_code(&expired), "BAD_USER_INPUT");
    t.login("quin@example.com", PASSWORD).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_requests_reveal_nothing_and_are_rate_limited_per_address() {
    let t = TestApp::spawn().await;
    t.verified_user("rex@example.com", "Rex").await;
    let unknown = t
        .ok(None, REQUEST_RESET, json!({ "email": "ghost@example.com" }))
        .await;
    assert_eq!(unknown["requestPasswordReset"], true);

    for _ in 0..3 {
        t.ok(None, REQUEST_RESET, json!({ "email": "rex@example.com" }))
            .await;
    }
    let limited = t
        .gql(None, REQUEST_RESET, json!({ "email": "rex@example.com" }))
        .await;
    assert_eq!(error_code(&limited), "RATE_LIMITED");
    assert!(
        limited["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .is_some()
    );
    t.smtp.wait_for_count("rex@example.com", 4).await; // verification + 3 resets
    assert!(t.smtp.mails_to("ghost@example.com").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_weak_new_password_keeps_the_reset_link_usable() {
    let t = TestApp::spawn().await;
    t.verified_user("sam@example.com", "Sam").await;
    t.ok(None, REQUEST_RESET, json!({ "email": "sam@example.com" }))
        .await;
    let token = t.smtp.wait_for("sam@example.com", "Reset your").await.token();
    let weak = t
        .gql(None, RESET, json!({ "token": token, "password": "short" }))
        .await;
    assert_eq!(error_fields(&weak), ["newPassword"]);
    t.ok(None, RESET, json!({ "token": token, "password": NEW_PASSWORD }))
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn changing_the_password_needs_the_current_one_and_keeps_only_this_session() {
    let t = TestApp::spawn().await;
    let here = t.verified_user("tia@example.com", "Tia").await;
    let (elsewhere, _) = t.login("tia@example.com", PASSWORD).await;

    let wrong = t
        .gql(
            Some(&here),
            CHANGE,
            json!({ "input": { "currentPassword": "not my password", "newPassword": "abc" } }),
        )
        .await;
    assert_eq!(error_code(&wrong), "BAD_USER_INPUT");
    assert_eq!(
        error_fields(&wrong),
        ["input.newPassword", "input.currentPassword"]
    );

    t.ok(
        Some(&here),
        CHANGE,
        json!({ "input": { "currentPassword": PASSWORD, "newPassword": NEW_PASSWORD } }),
    )
    .await;
    t.ok(Some(&here), ME, json!({})).await;
    assert_eq!(
        error_code(&t.gql(Some(&elsewhere), ME, json!({})).await),
        "UNAUTHENTICATED"
    );
    let mail = t.smtp.wait_for("tia@example.com", "password was changed").await;
    assert!(mail.text.contains("other sessions were signed out"));
    t.login("tia@example.com", NEW_PASSWORD).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_reset_kills_pending_email_change_links() {
    let t = TestApp::spawn().await;
    let token = t.verified_user("vic@example.com", "Vic").await;
    t.ok(
        Some(&token),
        "mutation($e: String!, $p: String!) { requestEmailChange(newEmail: $e, password: $p) }",
        json!({ "e": "attacker@example.com", "p": PASSWORD }),
    )
    .await;
    let change = t
        .smtp
        .wait_for("attacker@example.com", "Confirm your new")
        .await
        .token();

    t.ok(None, REQUEST_RESET, json!({ "email": "vic@example.com" }))
        .await;
    let reset = t.smtp.wait_for("vic@example.com", "Reset your").await.token();
    t.ok(None, RESET, json!({ "token": reset, "password": NEW_PASSWORD }))
        .await;

    let late = t
        .gql(
            None,
            "mutation($t: String!) { verifyEmail(token: $t) { id } }",
            json!({ "t": change }),
        )
        .await;
    assert_eq!(error_code(&late), "BAD_USER_INPUT");
    t.login("vic@example.com", NEW_PASSWORD).await;
}
