//! The clients people use, driven by Node against the real server: GraphiQL in headless
//! Chromium with no network beyond 127.0.0.1, the GraphQL-over-HTTP audit suite, Apollo
//! Client and urql over graphql-ws, and the legacy subscriptions-transport-ws protocol.

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::helpers::node;

#[tokio::test(flavor = "multi_thread")]
async fn the_playground_runs_a_query_and_a_subscription_in_a_browser_without_internet() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    node::chromium().await;

    let report = node::run("playground.mjs", &[&t.base_url(), &owner, &company.id]).await;

    assert_eq!(report["outside"], json!([]), "the page reached out: {report}");
    assert_eq!(report["pageErrors"], json!([]), "{report}");
    assert_eq!(report["typename"], json!({ "data": { "__typename": "Query" } }));
    assert_eq!(
        report["event"]["data"]["activity"]["verb"], "project.created",
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_graphql_over_http_audit_suite_passes_every_audit() {
    let t = TestApp::spawn().await;
    let url = format!("{}/graphql", t.base_url());

    let report = node::run("audit.mjs", &[&url]).await;

    assert!(report["ran"].as_u64().unwrap() >= 50, "{report}");
    // MUST audits fail as errors, SHOULD audits as warnings; a MAY audit that chose the
    // other allowed answer is a notice (a 200 for invalid parameters asked as JSON).
    let failed: Vec<&Value> = report["failures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|failure| failure["status"] != "notice")
        .collect();
    assert!(failed.is_empty(), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn apollo_urql_and_the_legacy_protocol_query_and_hear_events() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    let url = format!("{}/graphql", t.base_url());

    let report = node::run("subscribers.mjs", &[&url, &owner, &company.id]).await;

    for client in ["apollo", "urql", "legacy"] {
        assert_eq!(
            report[client]["query"]["me"]["user"]["email"], "owner@example.com",
            "{client}: {report}"
        );
        assert_eq!(
            report[client]["event"]["activity"]["verb"], "project.created",
            "{client}: {report}"
        );
    }
}
