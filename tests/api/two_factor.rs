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

/// Turns two-factor sign-in on for the holder of `token`; answers the otpauth URI the
/// authenticator read.
async fn turn_on_totp(t: &TestApp, token: &str) -> String {
    let uri = t
        .ok(
            Some(token),
            "mutation($p: String!) { setupTotp(password: $p) }",
            json!({ "p": PASSWORD }),
        )
        .await["setupTotp"]
        .as_str()
        .unwrap()
        .to_owned();
    t.ok(
        Some(token),
        "mutation($c: String!) { confirmTotp(code: $c) }",
        json!({ "c": code_at(t, &uri) }),
    )
    .await;
    uri
}

#[tokio::test(flavor = "multi_thread")]
async fn a_company_requiring_two_factor_keeps_members_without_it_out_of_its_data() {
    let t = TestApp::spawn().await;
    let olga = t.verified_user("olga@example.com", "Olga").await;
    let company = t.create_company(&olga, "Acme").await;
    let project = t.create_project(&olga, &company, "Carbon").await;
    let bob = t
        .member(&olga, &company, "bob@example.com", "Bob", "Editor")
        .await;
    let carol = t
        .member(&olga, &company, "carol@example.com", "Carol", "Viewer")
        .await;
    let require = "mutation($c: ID!, $r: Boolean) { updateCompany(input: { companyId: $c, requireTwoFactor: $r }) { requireTwoFactor } }";

    let not_yourself = t
        .gql(Some(&olga), require, json!({ "c": company.id, "r": true }))
        .await;
    assert_eq!(
        error_fields(&not_yourself),
        ["input.requireTwoFactor"],
        "{not_yourself}"
    );
    let editor = t
        .gql(Some(&bob), require, json!({ "c": company.id, "r": true }))
        .await;
    assert_eq!(error_code(&editor), "FORBIDDEN", "{editor}");

    turn_on_totp(&t, &olga).await;
    let required = t
        .ok(Some(&olga), require, json!({ "c": company.id, "r": true }))
        .await;
    assert_eq!(required["updateCompany"]["requireTwoFactor"], true);

    // Bob still signs in and sees his membership, but none of the company's data.
    let read = "query($c: ID!, $p: ID!) { company(id: $c) { name } project(id: $p) { name } }";
    let vars = json!({ "c": company.id, "p": project });
    let held_back = t.gql(Some(&bob), read, vars.clone()).await;
    assert_eq!(
        (error_code(&held_back), reason(&held_back)),
        ("FORBIDDEN", "TWO_FACTOR_REQUIRED"),
        "{held_back}"
    );
    assert!(held_back["data"]["company"].is_null(), "{held_back}");
    let errors = held_back["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "both roots refused: {held_back}");
    let write = t
        .gql(
            Some(&bob),
            "mutation($c: ID!) { createProject(companyId: $c, name: \"Sneaky\") { id } }",
            json!({ "c": company.id }),
        )
        .await;
    assert_eq!(reason(&write), "TWO_FACTOR_REQUIRED", "{write}");
    let mine = t
        .ok(
            Some(&bob),
            "{ me { memberships { role { name } company { id requireTwoFactor } } } }",
            json!({}),
        )
        .await;
    assert_eq!(mine["me"]["memberships"][0]["company"]["requireTwoFactor"], true);
    assert_eq!(mine["me"]["memberships"][0]["role"]["name"], "Editor");
    let projects = t
        .gql(
            Some(&bob),
            "{ me { memberships { company { projects { totalCount } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(reason(&projects), "TWO_FACTOR_REQUIRED", "{projects}");

    // A member held back may still leave.
    t.ok(
        Some(&carol),
        "mutation($c: ID!) { leaveCompany(companyId: $c) }",
        json!({ "c": company.id }),
    )
    .await;

    turn_on_totp(&t, &bob).await;
    let reached = t.ok(Some(&bob), read, vars).await;
    assert_eq!(reached["company"]["name"], "Acme");
    assert_eq!(reached["project"]["name"], "Carbon");

    // Both changes of the rule are in the company's activity (and so its audit log).
    t.ok(Some(&olga), require, json!({ "c": company.id, "r": false }))
        .await;
    let log = t
        .ok(
            Some(&olga),
            "query($c: ID!) { company(id: $c) { activity(first: 5) { edges { node { summary } } } } }",
            json!({ "c": company.id }),
        )
        .await;
    let summaries = log["company"]["activity"]["edges"].to_string();
    assert!(
        summaries.contains("no longer requires two-factor sign-in"),
        "{summaries}"
    );
    assert!(
        summaries.contains("now requires two-factor sign-in"),
        "{summaries}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_second_factor_is_recovered_by_mail_after_a_wait_unless_called_off() {
    let t = TestApp::spawn().await;
    let olga = t.verified_user("olga@example.com", "Olga").await;
    let uri = turn_on_totp(&t, &olga).await;
    let request = "mutation($e: String!, $p: String!) { requestTwoFactorRecovery(email: $e, password: $p) }";
    let complete = "mutation($t: String!) { completeTwoFactorRecovery(token: $t) }";
    let subject = "Someone asked to turn off two-factor sign-in on your Guildhall account";

    let guessed = t
        .gql(
            None,
            request,
            json!({ "e": "olga@example.com", "p": "a guess at it" }),
        )
        .await;
    assert_eq!(error_code(&guessed), "UNAUTHENTICATED", "{guessed}");
    t.ok(None, request, json!({ "e": "olga@example.com", "p": PASSWORD }))
        .await;
    let first = t.smtp.wait_for("olga@example.com", subject).await;
    assert!(
        first.link().contains("/recover-two-factor?token="),
        "{}",
        first.link()
    );
    let too_soon = t.gql(None, complete, json!({ "t": first.token() })).await;
    assert_eq!(error_fields(&too_soon), ["token"], "{too_soon}");
    assert!(too_soon.to_string().contains("works from"), "{too_soon}");

    // Olga still has her phone: signing in with it calls the recovery off.
    t.advance(chrono::Duration::seconds(30));
    assert!(login(&t, Some(&code_at(&t, &uri))).await["errors"].is_null());
    t.advance(chrono::Duration::hours(73));
    let called_off = t.gql(None, complete, json!({ "t": first.token() })).await;
    assert_eq!(error_fields(&called_off), ["token"], "{called_off}");
    assert_eq!(reason(&login(&t, None).await), "TOTP_REQUIRED");

    // Whoever replaces the recovery codes holds the account: a recovery under way dies too.
    let before = t.smtp.mails_to("olga@example.com").len();
    t.ok(None, request, json!({ "e": "olga@example.com", "p": PASSWORD }))
        .await;
    let pending = t.smtp.wait_for_count("olga@example.com", before + 1).await[before].token();
    t.advance(chrono::Duration::seconds(30));
    let signed_in = login(&t, Some(&code_at(&t, &uri))).await;
    let holder = signed_in["data"]["login"]["accessToken"].as_str().unwrap();
    t.ok(
        Some(holder),
        "mutation($p: String!) { regenerateRecoveryCodes(password: $p) }",
        json!({ "p": PASSWORD }),
    )
    .await;
    t.smtp
        .wait_for(
            "olga@example.com",
            "Two-factor sign-in on your Guildhall account was given new recovery codes",
        )
        .await;
    t.advance(chrono::Duration::hours(73));
    let moot = t.gql(None, complete, json!({ "t": pending })).await;
    assert_eq!(error_fields(&moot), ["token"], "{moot}");

    // Lost for real this time: after the wait the link turns it off and signs out everyone.
    let signed_in = login(&t, Some(&code_at(&t, &uri))).await;
    let session = signed_in["data"]["login"]["accessToken"].as_str().unwrap();
    let before = t.smtp.mails_to("olga@example.com").len();
    t.ok(None, request, json!({ "e": "olga@example.com", "p": PASSWORD }))
        .await;
    let mails = t.smtp.wait_for_count("olga@example.com", before + 1).await;
    let second = &mails[before];
    assert_eq!(second.subject, subject);
    t.advance(chrono::Duration::hours(72));
    t.ok(None, complete, json!({ "t": second.token() })).await;
    let reused = t.gql(None, complete, json!({ "t": second.token() })).await;
    assert_eq!(error_fields(&reused), ["token"], "{reused}");
    t.smtp
        .wait_for(
            "olga@example.com",
            "Two-factor sign-in on your Guildhall account was turned off by the recovery you asked for",
        )
        .await;
    let me = "{ me { user { totpEnabled } } }";
    assert_eq!(
        error_code(&t.gql(Some(session), me, json!({})).await),
        "UNAUTHENTICATED"
    );
    let signed_in = login(&t, None).await;
    let token = signed_in["data"]["login"]["accessToken"].as_str().unwrap();
    assert_eq!(
        t.ok(Some(token), me, json!({})).await["me"]["user"]["totpEnabled"],
        false
    );

    let events = t
        .ok(
            Some(token),
            "{ me { securityEvents(first: 30) { edges { node { action } } } } }",
            json!({}),
        )
        .await["me"]["securityEvents"]
        .to_string();
    for action in [
        "totp.recovery_requested",
        "totp.recovery_called_off",
        "totp.disabled_by_recovery",
    ] {
        assert!(events.contains(action), "{action} in {events}");
    }
}
