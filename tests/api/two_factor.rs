//! Two-factor sign-in: turning TOTP on with an authenticator's code, signing in with a
//! code and with a recovery code, neither accepted twice, and turning it off again.

use serde_json::{Value, json};
use totp_rs::Totp;

use crate::helpers::{PASSWORD, TestApp, error_code, error_fields};

const LOGIN: &str = "mutation($i: LoginInput!) { login(input: $i) { accessToken } }";

/// The code the authenticator that read `uri` shows at the server's clock.
fn code_at(t: &TestApp, uri: &str) -> String {
    let totp = Totp::from_url(uri).expect("an otpauth URI");
    let seconds = u64::try_from(t.clock_now().timestamp()).unwrap();
    totp.generate(seconds).to_string()
}

async fn login(t: &TestApp, code: Option<&str>) -> Value {
    let input = json!({ "email": "olga@example.com", "password": PASSWORD, "totpCode": code });
    t.gql(None, LOGIN, json!({ "i": input })).await
}

fn reason(response: &Value) -> &str {
    response["errors"][0]["extensions"]["reason"]
        .as_str()
        .unwrap_or("<no reason>")
}

#[tokio::test(flavor = "multi_thread")]
async fn totp_guards_sign_in_and_no_code_works_twice() {
    let t = TestApp::spawn().await;
    let olga = t.verified_user("olga@example.com", "Olga").await;
    let (other_session, _) = t.login("olga@example.com", PASSWORD).await;

    let wrong_password = t
        .gql(
            Some(&olga),
            "mutation { setupTotp(password: \"not it\") }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&wrong_password), "BAD_USER_INPUT", "{wrong_password}");
    let uri = t
        .ok(
            Some(&olga),
            "mutation($p: String!) { setupTotp(password: $p) }",
            json!({ "p": PASSWORD }),
        )
        .await["setupTotp"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(
        uri.contains("olga%40example.com") || uri.contains("olga@example.com"),
        "{uri}"
    );

    let confirm = "mutation($c: String!) { confirmTotp(code: $c) }";
    let refused = t.gql(Some(&olga), confirm, json!({ "c": "000000" })).await;
    assert_eq!(error_fields(&refused), ["code"], "{refused}");
    let first_code = code_at(&t, &uri);
    let confirmed = t.ok(Some(&olga), confirm, json!({ "c": first_code })).await;
    let recovery: Vec<String> = confirmed["confirmTotp"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);
    t.smtp
        .wait_for(
            "olga@example.com",
            "Two-factor sign-in on your Guildhall account was turned on",
        )
        .await;
    let me = "{ me { user { totpEnabled } } }";
    assert_eq!(
        t.ok(Some(&olga), me, json!({})).await["me"]["user"]["totpEnabled"],
        true
    );
    // Turning it on signed out every other session.
    let gone = t.gql(Some(&other_session), me, json!({})).await;
    assert_eq!(error_code(&gone), "UNAUTHENTICATED", "{gone}");

    let without = login(&t, None).await;
    assert_eq!(
        (error_code(&without), reason(&without)),
        ("UNAUTHENTICATED", "TOTP_REQUIRED"),
        "{without}"
    );
    // The code that turned it on was used in its step: refused.
    let replayed = login(&t, Some(&first_code)).await;
    assert_eq!(reason(&replayed), "TOTP_INVALID", "{replayed}");

    t.advance(chrono::Duration::seconds(30));
    let code = code_at(&t, &uri);
    assert!(login(&t, Some(&code)).await["errors"].is_null());
    let again = login(&t, Some(&code)).await;
    assert_eq!(
        (error_code(&again), reason(&again)),
        ("UNAUTHENTICATED", "TOTP_INVALID"),
        "{again}"
    );

    let recovered = login(&t, Some(&recovery[3].to_uppercase())).await;
    assert!(recovered["errors"].is_null(), "{recovered}");
    let reused = login(&t, Some(&recovery[3])).await;
    assert_eq!(reason(&reused), "TOTP_INVALID", "{reused}");

    let events = t
        .ok(
            Some(&olga),
            "{ me { securityEvents(first: 20) { edges { node { action changes } } } } }",
            json!({}),
        )
        .await;
    let actions: Vec<&str> = events["me"]["securityEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"]["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"totp.enabled"), "{actions:?}");
    assert!(
        actions.iter().filter(|a| **a == "session.sign_in_failed").count() >= 3,
        "{actions:?}"
    );

    let regenerated = t
        .ok(
            Some(&olga),
            "mutation($p: String!) { regenerateRecoveryCodes(password: $p) }",
            json!({ "p": PASSWORD }),
        )
        .await;
    assert_eq!(
        regenerated["regenerateRecoveryCodes"].as_array().unwrap().len(),
        10
    );
    let old = login(&t, Some(&recovery[5])).await;
    assert_eq!(
        reason(&old),
        "TOTP_INVALID",
        "the old codes stopped working: {old}"
    );

    t.ok(
        Some(&olga),
        "mutation($p: String!) { disableTotp(password: $p) }",
        json!({ "p": PASSWORD }),
    )
    .await;
    t.smtp
        .wait_for(
            "olga@example.com",
            "Two-factor sign-in on your Guildhall account was turned off",
        )
        .await;
    assert!(login(&t, None).await["errors"].is_null());
}
