//! Login, access tokens, refresh rotation, logout and session management.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, error_code};

const LOGIN: &str = "mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken expiresIn user { email } } }";
const REFRESH: &str =
    "mutation($token: String!) { refreshSession(refreshToken: $token) { accessToken refreshToken } }";
const ME: &str = "{ me { user { email } } }";

fn credentials(email: &str, password: &str) -> Value {
    json!({ "input": { "email": email, "password": password } })
}

fn claims(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let header = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
    let payload = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
    (
        serde_json::from_slice(&header).unwrap(),
        serde_json::from_slice(&payload).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn login_returns_a_short_lived_hs256_token_with_every_claim() {
    let t = TestApp::spawn().await;
    t.verified_user("fay@example.com", "Fay").await;
    let data = t.ok(None, LOGIN, credentials("FAY@example.com", PASSWORD)).await;
    assert_eq!(data["login"]["expiresIn"], 900);
    assert_eq!(data["login"]["user"]["email"], "fay@example.com");
    let (header, payload) = claims(data["login"]["accessToken"].as_str().unwrap());
    assert_eq!(header["alg"], "HS256");
    for claim in ["sub", "sid", "iat", "exp", "iss", "aud", "typ"] {
        assert!(payload.get(claim).is_some(), "claim {claim} present in {payload}");
    }
    assert_eq!(
        payload["exp"].as_i64().unwrap() - payload["iat"].as_i64().unwrap(),
        900
    );
    assert_eq!(payload["typ"], "access");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_and_an_unknown_address_fail_alike() {
    let t = TestApp::spawn().await;
    t.verified_user("gus@example.com", "Gus").await;
    let wrong = t
        .gql(
            None,
            LOGIN,
            credentials("gus@example.com", "not the password at all"),
        )
        .await;
    let unknown = t
        .gql(None, LOGIN, credentials("nobody@example.com", PASSWORD))
        .await;
    assert_eq!(error_code(&wrong), "UNAUTHENTICATED");
    assert_eq!(wrong["errors"][0]["message"], unknown["errors"][0]["message"]);
    assert_eq!(
        wrong["errors"][0]["extensions"],
        unknown["errors"][0]["extensions"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_failed_logins_from_one_address_hold_it_back_but_not_the_owner_elsewhere() {
    let t = TestApp::spawn().await;
    t.verified_user("hal@example.com", "Hal").await;
    let stranger = "203.0.113.66";
    for _ in 0..10 {
        let response = t
            .gql_from(
                stranger,
                None,
                LOGIN,
                credentials("hal@example.com", "wrong password here"),
            )
            .await;
        assert_eq!(error_code(&response), "UNAUTHENTICATED");
    }
    let locked = t
        .gql_from(stranger, None, LOGIN, credentials("hal@example.com", PASSWORD))
        .await;
    assert_eq!(
        error_code(&locked),
        "RATE_LIMITED",
        "even the right password waits at that address"
    );
    assert!(locked["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap() > 0);
    let owner = t.gql(None, LOGIN, credentials("hal@example.com", PASSWORD)).await;
    assert!(
        owner["data"]["login"]["accessToken"].is_string(),
        "the owner at their own address is not locked out: {owner}"
    );

    t.advance(Duration::minutes(15) + Duration::seconds(1));
    let later = t
        .gql_from(stranger, None, LOGIN, credentials("hal@example.com", PASSWORD))
        .await;
    assert!(later["data"]["login"]["accessToken"].is_string(), "{later}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guesser_spread_over_many_addresses_meets_the_account_ceiling_but_the_owner_still_signs_in() {
    let t = TestApp::spawn().await;
    t.verified_user("ivy@example.com", "Ivy").await;
    let home = "192.0.2.10";
    let first = t
        .gql_from(home, None, LOGIN, credentials("ivy@example.com", PASSWORD))
        .await;
    assert!(first["data"]["login"]["accessToken"].is_string(), "{first}");
    for n in 0..100 {
        let guess = t
            .gql_from(
                &format!("10.1.{}.{}", n / 200, n % 200),
                None,
                LOGIN,
                credentials("ivy@example.com", "a wrong guess"),
            )
            .await;
        assert_eq!(error_code(&guess), "UNAUTHENTICATED", "guess {n}: {guess}");
    }
    let next_guess = t
        .gql_from(
            "10.9.9.9",
            None,
            LOGIN,
            credentials("ivy@example.com", "another guess"),
        )
        .await;
    assert_eq!(
        error_code(&next_guess),
        "RATE_LIMITED",
        "the distributed guesser is slowed"
    );
    let owner = t
        .gql_from(home, None, LOGIN, credentials("ivy@example.com", PASSWORD))
        .await;
    assert!(
        owner["data"]["login"]["accessToken"].is_string(),
        "the owner at an address they signed in from is not locked out: {owner}"
    );
    let wrong_at_home = t
        .gql_from(
            home,
            None,
            LOGIN,
            credentials("ivy@example.com", "a typo at home"),
        )
        .await;
    assert_eq!(
        error_code(&wrong_at_home),
        "UNAUTHENTICATED",
        "still checked, never let through"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn several_sign_ins_in_one_document_or_batch_are_refused_whole_and_count_nothing() {
    let t = TestApp::spawn().await;
    t.verified_user("jon@example.com", "Jon").await;
    let fields: String = (0..10)
        .map(|i| format!("a{i}: login(input: {{ email: \"jon@example.com\", password: \"guess {i}\" }}) {{ accessToken }} "))
        .collect();
    let many = t.gql(None, &format!("mutation {{ {fields} }}"), json!({})).await;
    assert_eq!(error_code(&many), "BAD_USER_INPUT", "{many}");
    assert!(many["data"].is_null(), "nothing ran: {many}");
    assert!(
        many["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("at most 1"),
        "{many}"
    );
    let duplicates = "invitationPreview(token: \"x\") { email } ".repeat(2);
    let previews = t.gql(None, &format!("{{ {duplicates} }}"), json!({})).await;
    assert_eq!(error_code(&previews), "BAD_USER_INPUT", "{previews}");

    let one = json!({ "query": LOGIN, "variables": credentials("jon@example.com", "guess") });
    let batch: Value = t.post(None, json!([one, one])).await.json().await.unwrap();
    for answer in batch.as_array().unwrap() {
        assert_eq!(error_code(answer), "BAD_USER_INPUT", "{batch}");
        assert!(answer.get("data").is_none_or(Value::is_null), "{batch}");
    }

    let named = "mutation A($input: LoginInput!) { login(input: $input) { accessToken } } \
                 mutation B { register(input: { email: \"x@example.com\", password: \"long enough password\", name: \"X\" }) }";
    let one_that_runs = json!([
        { "query": named, "operationName": "A", "variables": credentials("nobody@example.com", "a guess") },
        { "query": "{ __typename }" },
    ]);
    let batch: Value = t.post(None, one_that_runs).await.json().await.unwrap();
    assert_eq!(
        error_code(&batch[0]),
        "UNAUTHENTICATED",
        "only the operation that runs counts: {batch}"
    );
    assert_eq!(batch[1]["data"]["__typename"], "Query");

    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use guildhall::db::schema::rate_limit_hits;
    let mut conn = t.app.pool.get().await.unwrap();
    let hits: i64 = rate_limit_hits::table
        .filter(rate_limit_hits::bucket.like("login%"))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        hits, 3,
        "only the one sign-in that ran counted (per account and address, account, address)"
    );
    t.login("jon@example.com", PASSWORD).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn over_long_credentials_are_refused_without_a_lookup() {
    let t = TestApp::spawn().await;
    let long_email = format!("{}@example.com", "a".repeat(100_000));
    let response = t.gql(None, LOGIN, credentials(&long_email, PASSWORD)).await;
    assert_eq!(error_code(&response), "UNAUTHENTICATED");
    let long_password = "p".repeat(100_000);
    let response = t
        .gql(None, LOGIN, credentials("kit@example.com", &long_password))
        .await;
    assert_eq!(error_code(&response), "UNAUTHENTICATED");
}

#[tokio::test(flavor = "multi_thread")]
async fn access_tokens_expire_after_fifteen_minutes() {
    let t = TestApp::spawn().await;
    let token = t.verified_user("ida@example.com", "Ida").await;
    t.ok(Some(&token), ME, json!({})).await;
    t.advance(Duration::minutes(15) + Duration::seconds(31));
    let expired = t.gql(Some(&token), ME, json!({})).await;
    assert_eq!(error_code(&expired), "UNAUTHENTICATED");
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_and_tampered_tokens_are_refused() {
    let t = TestApp::spawn().await;
    let token = t.verified_user("jon@example.com", "Jon").await;
    let (_, payload) = claims(&token);
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(payload.to_string());
    let unsigned = format!("{none_header}.{body}.");
    assert_eq!(
        error_code(&t.gql(Some(&unsigned), ME, json!({})).await),
        "UNAUTHENTICATED"
    );

    let mut parts: Vec<&str> = token.split('.').collect();
    let mut changed = payload.clone();
    changed["exp"] = json!(payload["exp"].as_i64().unwrap() + 3600);
    let changed = URL_SAFE_NO_PAD.encode(changed.to_string());
    parts[1] = &changed;
    assert_eq!(
        error_code(&t.gql(Some(&parts.join(".")), ME, json!({})).await),
        "UNAUTHENTICATED"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_rotates_and_reuse_signs_the_session_out() {
    let t = TestApp::spawn().await;
    t.verified_user("kim@example.com", "Kim").await;
    let (_, first_refresh) = t.login("kim@example.com", PASSWORD).await;

    let rotated = t.ok(None, REFRESH, json!({ "token": first_refresh })).await;
    let access = rotated["refreshSession"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let second_refresh = rotated["refreshSession"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(first_refresh, second_refresh);
    t.ok(Some(&access), ME, json!({})).await;

    // The first token is dead; presenting it again revokes the whole session.
    let reused = t.gql(None, REFRESH, json!({ "token": first_refresh })).await;
    assert_eq!(error_code(&reused), "UNAUTHENTICATED");
    assert_eq!(
        error_code(&t.gql(Some(&access), ME, json!({})).await),
        "UNAUTHENTICATED"
    );
    let after = t.gql(None, REFRESH, json!({ "token": second_refresh })).await;
    assert_eq!(error_code(&after), "UNAUTHENTICATED");

    let garbage = t.gql(None, REFRESH, json!({ "token": "not-a-token" })).await;
    assert_eq!(error_code(&garbage), "UNAUTHENTICATED");
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_ends_the_session_at_once() {
    let t = TestApp::spawn().await;
    let token = t.verified_user("lea@example.com", "Lea").await;
    let (_, refresh) = t.login("lea@example.com", PASSWORD).await;
    t.ok(Some(&token), "mutation { logout }", json!({})).await;
    assert_eq!(
        error_code(&t.gql(Some(&token), ME, json!({})).await),
        "UNAUTHENTICATED"
    );
    // Another session of the same user is untouched.
    t.ok(None, REFRESH, json!({ "token": refresh })).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn users_list_their_sessions_and_revoke_others() {
    let t = TestApp::spawn().await;
    let laptop = t.verified_user("max@example.com", "Max").await;
    let (phone, _) = t.login("max@example.com", PASSWORD).await;
    let data = t
        .ok(
            Some(&laptop),
            "{ me { sessions { id current userAgent ip lastUsedAt createdAt } } }",
            json!({}),
        )
        .await;
    let sessions = data["me"]["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(
        sessions
            .iter()
            .all(|s| s["userAgent"] == "guildhall-tests" && s["ip"] == "127.0.0.1")
    );
    let other = sessions.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    t.ok(
        Some(&laptop),
        "mutation($id: ID!) { revokeSession(id: $id) }",
        json!({ "id": other }),
    )
    .await;
    assert_eq!(
        error_code(&t.gql(Some(&phone), ME, json!({})).await),
        "UNAUTHENTICATED"
    );
    t.ok(Some(&laptop), ME, json!({})).await;

    let unknown = t
        .gql(
            Some(&laptop),
            "mutation($id: ID!) { revokeSession(id: $id) }",
            json!({ "id": uuid::Uuid::new_v4() }),
        )
        .await;
    assert_eq!(error_code(&unknown), "NOT_FOUND");
    // Someone else's session is as unknown as a missing one.
    let stranger = t.verified_user("ned@example.com", "Ned").await;
    let mine =
        t.ok(Some(&laptop), "{ me { sessions { id } } }", json!({})).await["me"]["sessions"][0]["id"].clone();
    let foreign = t
        .gql(
            Some(&stranger),
            "mutation($id: ID!) { revokeSession(id: $id) }",
            json!({ "id": mine }),
        )
        .await;
    assert_eq!(error_code(&foreign), "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread")]
async fn unverified_users_may_only_use_what_the_contract_allows() {
    let t = TestApp::spawn().await;
    t.register("ola@example.com", "Ola").await;
    let (token, _) = t.login("ola@example.com", PASSWORD).await;

    let me = t
        .ok(Some(&token), "{ me { user { emailVerified } } }", json!({}))
        .await;
    assert_eq!(me["me"]["user"]["emailVerified"], false);
    t.ok(
        Some(&token),
        "mutation { updateProfile(input: { bio: \"hi\" }) { bio } }",
        json!({}),
    )
    .await;
    t.ok(
        Some(&token),
        "mutation($e: String!) { resendVerificationEmail(email: $e) }",
        json!({ "e": "ola@example.com" }),
    )
    .await;

    for operation in [
        "mutation { updatePreferences(preferences: { theme: \"dark\" }) }",
        "mutation { changePassword(input: { currentPassword: \"correct horse battery staple\", newPassword: \"a brand new passphrase\" }) }",
        "mutation { requestEmailChange(newEmail: \"ola2@example.com\", password: \"correct horse battery staple\") }",
        "mutation { deleteAccount(password: \"correct horse battery staple\") }",
        "mutation { revokeSession(id: \"00000000-0000-0000-0000-000000000000\") }",
    ] {
        let response = t.gql(Some(&token), operation, json!({})).await;
        assert_eq!(error_code(&response), "EMAIL_NOT_VERIFIED", "{operation}");
    }
    t.ok(Some(&token), "mutation { logout }", json!({})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_callers_cannot_read_me() {
    let t = TestApp::spawn().await;
    assert_eq!(error_code(&t.gql(None, ME, json!({})).await), "UNAUTHENTICATED");
    assert_eq!(
        error_code(&t.gql(None, "mutation { logout }", json!({})).await),
        "UNAUTHENTICATED"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_guesses_cannot_get_past_the_login_limit() {
    let t = TestApp::spawn().await;
    t.verified_user("par@example.com", "Par").await;
    let guesses = (0..16).map(|n| {
        let t = &t;
        async move {
            t.gql(
                None,
                LOGIN,
                credentials("par@example.com", &format!("wrong guess number {n}")),
            )
            .await
        }
    });
    let responses = futures_util::future::join_all(guesses).await;
    let checked = responses
        .iter()
        .filter(|r| error_code(r) == "UNAUTHENTICATED")
        .count();
    let refused = responses
        .iter()
        .filter(|r| error_code(r) == "RATE_LIMITED")
        .count();
    assert_eq!(checked + refused, 16);
    assert!(checked <= 10, "{checked} guesses were checked");
}
