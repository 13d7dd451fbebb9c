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

#[tokio::test(flavor = "multi_thread")]
async fn two_people_see_each_others_changes_live_in_the_dashboard() {
    let t = TestApp::spawn_with(|config| config.access_token_ttl_secs = TOKEN_SECONDS).await;
    let alice = t.verified_user("alice@example.com", "Alice").await;
    let company = t.create_company(&alice, "Acme").await;
    t.member(&alice, &company, "bob@example.com", "Bob", "Editor")
        .await;
    let project = t.create_project(&alice, &company, "Footprint").await;
    let fields = json!([
        { "key": "site", "label": "Site", "type": "TEXT" },
        { "key": "day", "label": "Day", "type": "DATE" },
        { "key": "co2e_kg", "label": "CO2e (kg)", "type": "DECIMAL" },
    ]);
    let table = t
        .ok(
            Some(&alice),
            "mutation($p: ID!, $f: [FieldInput!]) { createDataTable(projectId: $p, name: \"Fuel use\", fields: $f) { id } }",
            json!({ "p": project, "f": fields }),
        )
        .await["createDataTable"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    t.ok(
        Some(&alice),
        "mutation($t: ID!, $r: [JSON!]!) { insertRows(tableId: $t, rows: $r) { id } }",
        json!({ "t": table, "r": [
            { "site": "York", "day": "2026-03-01", "co2e_kg": 12.5 },
            { "site": "Hull", "day": "2026-03-03", "co2e_kg": 7 },
        ] }),
    )
    .await;
    let carol = t.verified_user("carol@example.com", "Carol").await;
    let other = t.create_company(&carol, "Other Ltd").await;
    let screenshots = screenshots_folder();
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        json!({
            "api": t.base_url(),
            "password": crate::helpers::PASSWORD,
            "alice": "alice@example.com",
            "bob": "bob@example.com",
            "inviter": { "token": carol, "companyId": other.id, "roleId": other.role("Viewer") },
            "tokenSeconds": TOKEN_SECONDS,
            "screenshots": screenshots,
        })
        .to_string(),
    )
    .unwrap();
    node::chromium().await;
    node::dashboard().await;

    let report = node::run("dashboard.mjs", &[config.path().to_str().unwrap()]).await;

    assert_eq!(report["outside"], json!([]), "{report}");
    assert_eq!(report["pageErrors"], json!([]), "{report}");
    assert_eq!(report["rowsShown"], 2, "{report}");
    assert_eq!(report["chart"], "CO2e (kg) by Day", "{report}");
    // Each step waits up to 10 s; on an idle machine each took 0.1–0.3 s.
    for step in [
        "insertSeenMs",
        "editSeenMs",
        "deleteSeenMs",
        "bellSeenMs",
        "afterExpirySeenMs",
    ] {
        assert!(report[step].as_u64().is_some(), "{step}: {report}");
    }
    assert_eq!(
        report["reconnects"], 0,
        "the socket was renewed in place past its token's expiry: {report}"
    );
    assert!(
        report["conflict"]
            .as_str()
            .unwrap()
            .contains("Someone changed this row"),
        "{report}"
    );
    assert_eq!(report["afterConflict"], "55", "Alice's value stands: {report}");
    assert_eq!(
        report["unreadAfter"].as_u64(),
        report["unreadBefore"].as_u64().map(|n| n + 1),
        "{report}"
    );
    assert!(
        report["notification"].as_str().unwrap().contains("Other Ltd"),
        "{report}"
    );
    assert_eq!(report["unreadAfterMarking"], 0, "{report}");
    let feed = report["feed"].as_array().unwrap();
    assert!(
        feed.iter().any(|line| line.as_str().unwrap().contains("Alice")),
        "Alice's changes are in her feed: {report}"
    );
    for shot in ["dashboard.png", "notifications.png", "conflict.png"] {
        assert!(std::path::Path::new(&screenshots).join(shot).exists(), "{shot}");
    }
}

/// The access token lifetime in the dashboard test: short, so the test outlives the first
/// tokens and sees them refreshed.
const TOKEN_SECONDS: u64 = 6;

/// Where the dashboard test saves its screenshots: the example's README folder with
/// `UPDATE_SCREENSHOTS=1` (to refresh what the README shows), else under target/.
fn screenshots_folder() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let folder = if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
        root.join("frontend-examples/dashboard/screenshots")
    } else {
        root.join("target/dashboard-screenshots")
    };
    std::fs::create_dir_all(&folder).unwrap();
    folder.to_string_lossy().into_owned()
}
