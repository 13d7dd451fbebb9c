//! Profile, preferences, email change and account deletion.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use guildhall::db::schema::{mail_outbox, rate_limit_hits, sessions, users};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, error_code, error_fields};

const UPDATE_PROFILE: &str =
    "mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { name phone bio avatarUrl } }";

#[tokio::test(flavor = "multi_thread")]
async fn profile_fields_can_be_set_cleared_and_are_validated() {
    let t = TestApp::spawn().await;
    let token = t.verified_user("uma@example.com", "Uma").await;
    let set = t
        .ok(
            Some(&token),
            UPDATE_PROFILE,
            json!({ "input": { "name": "Uma B.", "phone": "+44 20 7946 0958", "bio": "Carbon analyst", "avatarUrl": "https://img.example.com/u.png" } }),
        )
        .await;
    assert_eq!(
        set["updateProfile"],
        json!({ "name": "Uma B.", "phone": "+44 20 7946 0958", "bio": "Carbon analyst", "avatarUrl": "https://img.example.com/u.png" })
    );

    let cleared = t
        .ok(
            Some(&token),
            UPDATE_PROFILE,
            json!({ "input": { "phone": null } }),
        )
        .await;
    assert_eq!(cleared["updateProfile"]["phone"], json!(null));
    assert_eq!(
        cleared["updateProfile"]["bio"], "Carbon analyst",
        "absent fields are kept"
    );

    let invalid = t
        .gql(
            Some(&token),
            UPDATE_PROFILE,
            json!({ "input": { "name": null, "avatarUrl": "javascript:alert(1)", "phone": "call me" } }),
        )
        .await;
    assert_eq!(error_code(&invalid), "BAD_USER_INPUT");
    assert_eq!(
        error_fields(&invalid),
        ["input.name", "input.phone", "input.avatarUrl"]
    );
    let unchanged = t
        .ok(Some(&token), "{ me { user { name bio } } }", json!({}))
        .await;
    assert_eq!(
        unchanged["me"]["user"],
        json!({ "name": "Uma B.", "bio": "Carbon analyst" })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn preferences_are_a_json_object_of_at_most_16_kib() {
    let t = TestApp::spawn().await;
    let token = t.verified_user("val@example.com", "Val").await;
    let prefs = json!({ "theme": "dark", "language": "de", "notifications": { "email": false } });
    let stored = t
        .ok(
            Some(&token),
            "mutation($p: JSON!) { updatePreferences(preferences: $p) }",
            json!({ "p": prefs }),
        )
        .await;
    assert_eq!(stored["updatePreferences"], prefs);
    let me = t.ok(Some(&token), "{ me { preferences } }", json!({})).await;
    assert_eq!(me["me"]["preferences"], prefs);

    let big = json!({ "blob": "x".repeat(16 * 1024) });
    let too_big = t
        .gql(
            Some(&token),
            "mutation($p: JSON!) { updatePreferences(preferences: $p) }",
            json!({ "p": big }),
        )
        .await;
    assert_eq!(error_fields(&too_big), ["preferences"]);
    let not_object = t
        .gql(
            Some(&token),
            "mutation($p: JSON!) { updatePreferences(preferences: $p) }",
            json!({ "p": [1, 2] }),
        )
        .await;
    assert_eq!(error_fields(&not_object), ["preferences"]);
    let me = t.ok(Some(&token), "{ me { preferences } }", json!({})).await;
    assert_eq!(
        me["me"]["preferences"], prefs,
        "nothing stored by the refused updates"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_address_changes_only_when_the_new_one_is_confirmed() {
    let t = TestApp::spawn().await;
    let token = t.verified_user("wes@example.com", "Wes").await;
    let change = "mutation($e: String!, $p: String!) { requestEmailChange(newEmail: $e, password: $p) }";

    let wrong = t
        .gql(
            Some(&token),
            change,
            json!({ "e": "wes@new.example.com", "p": "wrong password!" }),
        )
        .await;
    assert_eq!(error_fields(&wrong), ["password"]);

    t.ok(
        Some(&token),
        change,
        json!({ "e": "Wes@New.example.com", "p": PASSWORD }),
    )
    .await;
    let confirm = t
        .smtp
        .wait_for("wes@new.example.com", "Confirm your new email address")
        .await;
    let notice = t.smtp.wait_for("wes@example.com", "about to change").await;
    assert!(notice.text.contains("wes@new.example.com"));
    let me = t.ok(Some(&token), "{ me { user { email } } }", json!({})).await;
    assert_eq!(
        me["me"]["user"]["email"], "wes@example.com",
        "unchanged until confirmed"
    );

    t.ok(
        None,
        "mutation($t: String!) { verifyEmail(token: $t) { id } }",
        json!({ "t": confirm.token() }),
    )
    .await;
    let me = t
        .ok(Some(&token), "{ me { user { email emailVerified } } }", json!({}))
        .await;
    assert_eq!(
        me["me"]["user"],
        json!({ "email": "wes@new.example.com", "emailVerified": true })
    );
    t.login("wes@new.example.com", PASSWORD).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn asking_for_a_taken_address_tells_its_owner_and_the_caller_nothing() {
    let t = TestApp::spawn().await;
    let token = t.verified_user("xia@example.com", "Xia").await;
    t.verified_user("yan@example.com", "Yan").await;
    let change = "mutation($e: String!, $p: String!) { requestEmailChange(newEmail: $e, password: $p) }";
    let data = t
        .ok(
            Some(&token),
            change,
            json!({ "e": "yan@example.com", "p": PASSWORD }),
        )
        .await;
    assert_eq!(data["requestEmailChange"], true);
    let notice = t
        .smtp
        .wait_for("yan@example.com", "already have a Guildhall account")
        .await;
    assert!(notice.text.contains("Hello Yan"));
    assert!(
        t.smtp
            .mails_to("yan@example.com")
            .iter()
            .all(|m| !m.subject.contains("Confirm your new"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_the_account_erases_personal_data_and_ends_every_session() {
    let t = TestApp::spawn().await;
    let token = t.verified_user("zoe@example.com", "Zoe").await;
    t.ok(
        Some(&token),
        UPDATE_PROFILE,
        json!({ "input": { "phone": "+1 555 0100", "bio": "hello" } }),
    )
    .await;

    let wrong = t
        .gql(
            Some(&token),
            "mutation { deleteAccount(password: \"not it at all\") }",
            json!({}),
        )
        .await;
    assert_eq!(error_fields(&wrong), ["password"]);
    let failed = t.try_login("zoe@example.com", "a wrong password").await;
    assert_eq!(error_code(&failed), "UNAUTHENTICATED");

    t.ok(
        Some(&token),
        "mutation($p: String!) { deleteAccount(password: $p) }",
        json!({ "p": PASSWORD }),
    )
    .await;
    let mut conn = t.db.connect().await;
    let kept: Vec<String> = rate_limit_hits::table
        .select(rate_limit_hits::key)
        .load(&mut conn)
        .await
        .unwrap();
    assert!(
        kept.iter().all(|key| !key.contains("zoe@example.com")),
        "no throttle remembers the address, alone or with a client address: {kept:?}"
    );
    assert_eq!(
        error_code(&t.gql(Some(&token), "{ me { user { id } } }", json!({})).await),
        "UNAUTHENTICATED"
    );
    let login = t.try_login("zoe@example.com", PASSWORD).await;
    assert_eq!(error_code(&login), "UNAUTHENTICATED");

    let row: (
        Option<String>,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    ) = users::table
        .select((
            users::email,
            users::name,
            users::password_hash,
            users::phone,
            users::bio,
        ))
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(row, (None, "Deleted user".to_owned(), None, None, None));
    let addresses: Vec<Option<String>> = sessions::table
        .select(sessions::ip)
        .load(&mut conn)
        .await
        .unwrap();
    assert!(addresses.iter().all(Option::is_none), "session addresses erased");
    let mails: i64 = mail_outbox::table
        .filter(mail_outbox::recipient.eq("zoe@example.com"))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(mails, 0, "mail to the deleted address erased");
    let live: i64 = sessions::table
        .filter(sessions::revoked_at.is_null())
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(live, 0);
    // The address is free for a new account.
    t.register("zoe@example.com", "Zoe again").await;
}
