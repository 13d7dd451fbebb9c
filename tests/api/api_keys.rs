//! API keys over real HTTP and websockets: a key acts in its one company with its role's
//! rights (changing as the role changes), everything it does names it, it can do nothing
//! that belongs to people, and revocation, expiry and its request budget apply on every
//! instance.

use std::net::SocketAddr;
use std::time::Duration;

use chrono::Duration as Span;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use guildhall::db::schema::api_keys;
use serde_json::{Value, json};

use crate::helpers::ws::{Received, WsClient};
use crate::helpers::{Company, TestApp, error_code};

const CREATE_KEY: &str = "mutation($c: ID!, $n: String!, $r: ID!, $e: DateTime, $p: Boolean) {
    createApiKey(companyId: $c, name: $n, roleId: $r, expiresAt: $e, persistedOnly: $p) {
        secret apiKey { id name prefix persistedOnly lastUsedAt revokedAt role { name } } } }";
const CREATE_TABLE: &str = "mutation($p: ID!) { createDataTable(projectId: $p, name: \"Fuel use\",
    fields: [{ key: \"site\", label: \"Site\", type: TEXT }]) { id } }";
const INSERT: &str = "mutation($t: ID!, $r: [JSON!]!) { insertRows(tableId: $t, rows: $r) {
    id createdBy { name } createdByApiKey { name prefix } } }";
const REPORTING: &str = "mutation($c: ID!, $p: [PermissionInput!]!) {
    createRole(input: { companyId: $c, name: \"Reporting\", permissions: $p }) { id } }";

/// POSTs an operation to the server at `addr` with `token` as bearer; (status, body).
async fn post_to(
    addr: SocketAddr,
    token: &str,
    query: &str,
    variables: Value,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("http request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.json().await.expect("json"), headers)
}

/// A company with a project holding one table; (owner token, company, table id).
async fn acme(t: &TestApp) -> (String, Company, String) {
    let owner = t.verified_user("owner@example.com", "Olga").await;
    let company = t.create_company(&owner, "Acme").await;
    let project = t.create_project(&owner, &company, "Footprint").await;
    let table = t.ok(Some(&owner), CREATE_TABLE, json!({ "p": project })).await["createDataTable"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (owner, company, table)
}

/// Creates a key as `token` and returns (secret, apiKey).
async fn create_key(t: &TestApp, token: &str, company: &str, name: &str, role: &str) -> (String, Value) {
    let data = t
        .ok(
            Some(token),
            CREATE_KEY,
            json!({ "c": company, "n": name, "r": role }),
        )
        .await;
    let created = &data["createApiKey"];
    (
        created["secret"].as_str().unwrap().to_owned(),
        created["apiKey"].clone(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_acts_with_its_role_and_everything_it_does_names_it() {
    let t = TestApp::spawn().await;
    let (owner, company, table) = acme(&t).await;
    let permissions = json!([
        { "resource": "COMPANY", "action": "VIEW" }, { "resource": "PROJECT", "action": "VIEW" },
        { "resource": "TABLE", "action": "VIEW" }, { "resource": "ROW", "action": "VIEW" },
        { "resource": "ROW", "action": "CREATE" }
    ]);
    let role = t
        .ok(
            Some(&owner),
            REPORTING,
            json!({ "c": company.id, "p": permissions }),
        )
        .await["createRole"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (secret, key) = create_key(&t, &owner, &company.id, "Nightly ETL", &role).await;
    assert!(secret.starts_with("gh_") && secret.len() == 64, "{secret}");
    assert_eq!(key["prefix"], format!("gh_…{}", &secret[60..]));
    assert_eq!(key["role"]["name"], "Reporting");
    assert_eq!(key["persistedOnly"], false);
    assert_eq!(key["lastUsedAt"], Value::Null);

    // What it does is the key's, not its creator's.
    let (status, inserted, _) = post_to(
        t.addr,
        &secret,
        INSERT,
        json!({ "t": table, "r": [{ "site": "Leeds" }] }),
    )
    .await;
    assert_eq!(status, 200, "{inserted}");
    let row = &inserted["data"]["insertRows"][0];
    assert_eq!(row["createdBy"], Value::Null, "{inserted}");
    assert_eq!(row["createdByApiKey"]["name"], "Nightly ETL");
    let feed = t
        .ok(
            Some(&owner),
            "query($c: ID!) { company(id: $c) { activity(first: 1) { edges { node { verb actor { name } apiKey { name } } } } } }",
            json!({ "c": company.id }),
        )
        .await;
    let event = &feed["company"]["activity"]["edges"][0]["node"];
    assert_eq!(event["verb"], "row.created");
    assert_eq!(event["actor"], Value::Null);
    assert_eq!(event["apiKey"]["name"], "Nightly ETL");

    // Its rights are its role's: what the role lacks is FORBIDDEN...
    let (_, deleted, _) = post_to(
        t.addr,
        &secret,
        "mutation($t: ID!) { deleteDataTable(id: $t) }",
        json!({ "t": table }),
    )
    .await;
    assert_eq!(error_code(&deleted), "FORBIDDEN", "{deleted}");
    // ...and editing the role changes the key at once.
    t.ok(
        Some(&owner),
        "mutation($r: ID!, $c: ID!, $p: [PermissionInput!]!) {
            updateRole(id: $r, input: { companyId: $c, name: \"Reporting\", permissions: $p }) { id } }",
        json!({ "r": role, "c": company.id, "p": [{ "resource": "COMPANY", "action": "VIEW" }, { "resource": "ROW", "action": "VIEW" }] }),
    )
    .await;
    let (_, refused, _) = post_to(
        t.addr,
        &secret,
        INSERT,
        json!({ "t": table, "r": [{ "site": "York" }] }),
    )
    .await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");

    // Acts that belong to people are not a key's.
    for (what, query) in [
        ("me", "{ me { user { id } } }"),
        (
            "createCompany",
            "mutation { createCompany(input: { name: \"Shadow\" }) { id } }",
        ),
        (
            "changePassword",
            "mutation { changePassword(input: { currentPassword: \"x\", newPassword: \"long enough password 1\" }) }",
        ),
        (
            "leaveCompany",
            &format!("mutation {{ leaveCompany(companyId: \"{}\") }}", company.id),
        ),
        (
            "createApiKey",
            &format!(
                "mutation {{ createApiKey(companyId: \"{}\", name: \"Child\", roleId: \"{role}\") {{ secret }} }}",
                company.id
            ),
        ),
    ] {
        let (_, answer, _) = post_to(t.addr, &secret, query, json!({})).await;
        assert_eq!(error_code(&answer), "FORBIDDEN", "{what}: {answer}");
    }

    // The owner sees the key with its last use; its secret is nowhere.
    let listed = t
        .ok(
            Some(&owner),
            "query($c: ID!) { company(id: $c) { apiKeys { name lastUsedAt role { name } } } }",
            json!({ "c": company.id }),
        )
        .await;
    let keys = &listed["company"]["apiKeys"];
    assert_eq!(keys.as_array().unwrap().len(), 1);
    assert!(keys[0]["lastUsedAt"].is_string(), "{listed}");
    let mut conn = t.db.connect().await;
    let stored: Vec<u8> = api_keys::table
        .select(api_keys::secret_hash)
        .first(&mut conn)
        .await
        .unwrap();
    assert_ne!(stored, secret.as_bytes());
    assert_eq!(stored.len(), 32);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_viewer_key_cannot_write_and_no_key_leaves_its_company() {
    let t = TestApp::spawn().await;
    let (owner, company, table) = acme(&t).await;
    let (viewer, _) = create_key(&t, &owner, &company.id, "Dashboard", company.role("Viewer")).await;
    let (_, refused, _) = post_to(
        t.addr,
        &viewer,
        INSERT,
        json!({ "t": table, "r": [{ "site": "Leeds" }] }),
    )
    .await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
    let (_, read, _) = post_to(
        t.addr,
        &viewer,
        "query($t: ID!) { dataTable(id: $t) { name rows(first: 5) { totalCount } } }",
        json!({ "t": table }),
    )
    .await;
    assert_eq!(read["data"]["dataTable"]["name"], "Fuel use", "{read}");

    // Another company's objects do not exist for it.
    let rival = t.verified_user("rival@example.com", "Rita").await;
    let rival_company = t.create_company(&rival, "Rival").await;
    let rival_project = t.create_project(&rival, &rival_company, "Secret").await;
    let rival_table = t
        .ok(Some(&rival), CREATE_TABLE, json!({ "p": rival_project }))
        .await["createDataTable"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, other, _) = post_to(
        t.addr,
        &viewer,
        "query($c: ID!) { company(id: $c) { name } }",
        json!({ "c": rival_company.id }),
    )
    .await;
    assert_eq!(error_code(&other), "NOT_FOUND", "{other}");
    let (_, other_table, _) = post_to(
        t.addr,
        &viewer,
        "query($t: ID!) { dataTable(id: $t) { name } }",
        json!({ "t": rival_table }),
    )
    .await;
    assert_eq!(error_code(&other_table), "NOT_FOUND", "{other_table}");

    // Deleting the company stays a person's act, whatever a key's role holds.
    let closer = t
        .ok(
            Some(&owner),
            "mutation($c: ID!) { createRole(input: { companyId: $c, name: \"Closer\", permissions: [
                { resource: COMPANY, action: VIEW }, { resource: COMPANY, action: DELETE }] }) { id } }",
            json!({ "c": company.id }),
        )
        .await["createRole"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (closer_key, _) = create_key(&t, &owner, &company.id, "Closer", &closer).await;
    let (_, kept, _) = post_to(
        t.addr,
        &closer_key,
        "mutation($c: ID!) { deleteCompany(companyId: $c, confirmName: \"Acme\") }",
        json!({ "c": company.id }),
    )
    .await;
    assert_eq!(error_code(&kept), "FORBIDDEN", "{kept}");
    assert!(
        kept["errors"][0]["message"].as_str().unwrap().contains("person"),
        "{kept}"
    );

    // No key acts as Owner, and nobody makes a key stronger than themselves.
    let owner_key = t
        .gql(
            Some(&owner),
            CREATE_KEY,
            json!({ "c": company.id, "n": "Root", "r": company.role("Owner") }),
        )
        .await;
    assert_eq!(error_code(&owner_key), "BAD_USER_INPUT", "{owner_key}");
    let keymaster = t
        .ok(
            Some(&owner),
            "mutation($c: ID!) { createRole(input: { companyId: $c, name: \"Keymaster\", permissions: [
                { resource: COMPANY, action: VIEW }, { resource: API_KEY, action: MANAGE }] }) { id } }",
            json!({ "c": company.id }),
        )
        .await["createRole"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let kim = t
        .member(&owner, &company, "kim@example.com", "Kim", "Viewer")
        .await;
    t.ok(
        Some(&owner),
        "mutation($c: ID!, $u: ID!, $r: ID!) { changeMemberRole(companyId: $c, userId: $u, roleId: $r) { id } }",
        json!({ "c": company.id, "u": t.user_id(&kim).await, "r": keymaster }),
    )
    .await;
    let stronger = t
        .gql(
            Some(&kim),
            CREATE_KEY,
            json!({ "c": company.id, "n": "Escalate", "r": company.role("Editor") }),
        )
        .await;
    assert_eq!(error_code(&stronger), "FORBIDDEN", "{stronger}");
    let own = t
        .gql(
            Some(&kim),
            CREATE_KEY,
            json!({ "c": company.id, "n": "Mine", "r": keymaster }),
        )
        .await;
    assert!(own.get("errors").is_none(), "{own}");
    let past = t
        .gql(
            Some(&owner),
            CREATE_KEY,
            json!({ "c": company.id, "n": "Old", "r": company.role("Viewer"), "e": "2001-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(error_code(&past), "BAD_USER_INPUT", "{past}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_unknown_expired_and_revoked_keys_are_refused_saying_why() {
    let t = TestApp::spawn().await;
    let (owner, company, _) = acme(&t).await;
    let query = "query($c: ID!) { company(id: $c) { name } }";
    let vars = json!({ "c": company.id });

    let (status, malformed, headers) = post_to(t.addr, "gh_notakeyatall", query, vars.clone()).await;
    assert_eq!(status, 401);
    assert_eq!(error_code(&malformed), "UNAUTHENTICATED");
    assert!(
        malformed["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("malformed")
    );
    assert!(headers.contains_key("www-authenticate"));
    // Well formed, checksum right, but no such key.
    let stranger = guildhall::api_keys::secret::generate().secret;
    let (status, unknown, _) = post_to(t.addr, &stranger, query, vars.clone()).await;
    assert_eq!(
        (status, error_code(&unknown)),
        (401, "UNAUTHENTICATED"),
        "{unknown}"
    );
    assert!(
        unknown["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("invalid API key")
    );

    let expires = (t.clock_now() + Span::hours(1)).to_rfc3339();
    let created = t
        .ok(
            Some(&owner),
            CREATE_KEY,
            json!({ "c": company.id, "n": "Short", "r": company.role("Viewer"), "e": expires }),
        )
        .await;
    let short = created["createApiKey"]["secret"].as_str().unwrap().to_owned();
    let (long, key) = create_key(&t, &owner, &company.id, "Long", company.role("Viewer")).await;
    let (status, fine, _) = post_to(t.addr, &short, query, vars.clone()).await;
    assert_eq!(
        (status, &fine["data"]["company"]["name"]),
        (200, &json!("Acme")),
        "{fine}"
    );
    t.advance(Span::hours(2));
    let (status, expired, _) = post_to(t.addr, &short, query, vars.clone()).await;
    assert_eq!(
        (status, error_code(&expired)),
        (401, "UNAUTHENTICATED"),
        "{expired}"
    );
    assert!(
        expired["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    let owner = t.login("owner@example.com", crate::helpers::PASSWORD).await.0;

    let revoked = t
        .ok(
            Some(&owner),
            "mutation($k: ID!) { revokeApiKey(id: $k) { revokedAt } }",
            json!({ "k": key["id"] }),
        )
        .await;
    assert!(revoked["revokeApiKey"]["revokedAt"].is_string());
    let (status, refused, _) = post_to(t.addr, &long, query, vars).await;
    assert_eq!(
        (status, error_code(&refused)),
        (401, "UNAUTHENTICATED"),
        "{refused}"
    );
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_key_is_refused_on_every_instance_and_its_sockets_close() {
    let t = TestApp::spawn_with(|config| config.ws_ping_secs = 1).await;
    let (owner, company, _) = acme(&t).await;
    let (secret, key) = create_key(&t, &owner, &company.id, "Sync", company.role("Viewer")).await;
    let other = t.second_instance().await;
    let query = "query($c: ID!) { company(id: $c) { name } }";
    let vars = json!({ "c": company.id });
    // The other instance knows the key (and remembers it).
    let (status, answer, _) = post_to(other.addr, &secret, query, vars.clone()).await;
    assert_eq!(status, 200, "{answer}");
    let mut socket = WsClient::connect(t.addr, &secret).await;
    socket
        .subscribe(
            "feed",
            "subscription($c: ID!) { activity(companyId: $c) { verb } }",
            vars.clone(),
        )
        .await;
    socket.expect_quiet(300).await;

    t.ok(
        Some(&owner),
        "mutation($k: ID!) { revokeApiKey(id: $k) { id } }",
        json!({ "k": key["id"] }),
    )
    .await;
    let mut refused = None;
    for _ in 0..40 {
        let (status, answer, _) = post_to(other.addr, &secret, query, vars.clone()).await;
        if status == 401 {
            refused = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = refused.expect("the other instance refuses the revoked key");
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{refused}"
    );

    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Received::Closed(frame) = socket.receive().await {
                return frame;
            }
        }
    })
    .await
    .expect("the socket closes within a few pings")
    .expect("with a close frame");
    assert_eq!(u16::from(closed.code), 4403, "{closed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_has_its_own_request_budget_and_marks_its_use_once_a_minute() {
    let t = TestApp::spawn_with(|config| config.api_key_requests_per_minute = 3).await;
    let (owner, company, _) = acme(&t).await;
    let (secret, _) = create_key(&t, &owner, &company.id, "Chatty", company.role("Viewer")).await;
    let query = "query($c: ID!) { company(id: $c) { name } }";
    let vars = json!({ "c": company.id });
    let last_used = || async {
        let mut conn = t.db.connect().await;
        api_keys::table
            .select(api_keys::last_used_at)
            .first::<Option<chrono::DateTime<chrono::Utc>>>(&mut conn)
            .await
            .unwrap()
    };
    let (status, _, _) = post_to(t.addr, &secret, query, vars.clone()).await;
    assert_eq!(status, 200);
    let first_use = last_used().await.expect("marked used");
    t.advance(Span::seconds(30));
    post_to(t.addr, &secret, query, vars.clone()).await;
    assert_eq!(last_used().await, Some(first_use), "not again within the minute");
    t.advance(Span::seconds(31));
    post_to(t.addr, &secret, query, vars.clone()).await;
    assert!(last_used().await.unwrap() > first_use, "again after a minute");

    let (status, limited, headers) = post_to(t.addr, &secret, query, vars.clone()).await;
    assert_eq!(status, 429, "{limited}");
    assert_eq!(error_code(&limited), "RATE_LIMITED");
    assert!(limited["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap() >= 1);
    assert!(headers.contains_key("retry-after"));
    // A websocket opened with the spent key is told to come back later, not that it is refused.
    let mut socket = WsClient::open(t.addr, &secret).await;
    match socket.receive().await {
        Received::Closed(Some(frame)) => assert_eq!(u16::from(frame.code), 4429, "{frame:?}"),
        other => panic!("expected 4429, got {other:?}"),
    }
    // People are not held back by a key's budget.
    t.ok(Some(&owner), query, vars).await;
}
