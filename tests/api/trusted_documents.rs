//! Persisted-only operation: a key made `persistedOnly` (or everyone under
//! `PERSISTED_ONLY`) runs only documents registered for its company or globally, sent by
//! hash (Apollo's extension or the spec's `documentId`) or in full; anything else is
//! PERSISTED_QUERY_NOT_ALLOWED and does not run, on every transport.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::ws::WsClient;
use crate::helpers::{TestApp, error_code, multipart_body};

const REGISTER: &str = "mutation($c: ID!, $d: [String!], $m: JSON) {
    registerPersistedQueries(companyId: $c, documents: $d, manifest: $m) { registered } }";
const CREATE_KEY: &str = "mutation($c: ID!, $r: ID!, $p: Boolean) {
    createApiKey(companyId: $c, name: \"Reporting\", roleId: $r, persistedOnly: $p) { secret apiKey { persistedOnly } } }";
const TABLES: &str = "query Tables($p: ID!) { project(id: $p) { tables { edges { node { name } } } } }";
const ROWS: &str = "query Rows($t: ID!) { dataTable(id: $t) { rows(first: 10) { totalCount } } }";
const INSERT: &str =
    "mutation Insert($t: ID!) { insertRows(tableId: $t, rows: [{ site: \"Leeds\" }]) { id } }";
const IMPORT: &str =
    "mutation Import($t: ID!, $file: Upload!) { importCsv(tableId: $t, csv: $file) { inserted } }";
/// The spec's example document and its SHA-256.
const TYPENAME: &str = "{__typename}";
const TYPENAME_HASH: &str = "ecf4edb46db40b5132295c0291d62fb65d6759a9eedfa4d5d612dd5ec54a6b38";

fn hash(document: &str) -> String {
    format!("{:x}", Sha256::digest(document.as_bytes()))
}

/// POSTs `body` with `token` (None: anonymous) and `accept`; (status, answer).
async fn post(t: &TestApp, token: Option<&str>, accept: &str, body: Value) -> (u16, Value) {
    let mut request = t
        .http
        .post(format!("{}/graphql", t.base_url()))
        .header("accept", accept)
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

const JSON: &str = "application/json";

/// Acme with a project and a table; (owner, company id, project id, table id).
async fn acme(t: &TestApp) -> (String, crate::helpers::Company, String, String) {
    let owner = t.verified_user("owner@example.com", "Olga").await;
    let company = t.create_company(&owner, "Acme").await;
    let project = t.create_project(&owner, &company, "Footprint").await;
    let table = t
        .ok(
            Some(&owner),
            "mutation($p: ID!) { createDataTable(projectId: $p, name: \"Sites\", fields: [{ key: \"site\", label: \"Site\", type: TEXT }]) { id } }",
            json!({ "p": project }),
        )
        .await["createDataTable"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (owner, company, project, table)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_persisted_only_key_runs_its_company_s_registered_documents_and_nothing_else() {
    let t = TestApp::spawn().await;
    let (owner, company, project, table) = acme(&t).await;
    // An owner makes a "Reporting" role and a persisted-only key with it.
    let role = t
        .ok(
            Some(&owner),
            "mutation($c: ID!) { createRole(input: { companyId: $c, name: \"Reporting\", permissions: [
                { resource: COMPANY, action: VIEW }, { resource: PROJECT, action: VIEW },
                { resource: TABLE, action: VIEW }, { resource: ROW, action: VIEW }, { resource: ROW, action: CREATE }] }) { id } }",
            json!({ "c": company.id }),
        )
        .await["createRole"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = t
        .ok(
            Some(&owner),
            CREATE_KEY,
            json!({ "c": company.id, "r": role, "p": true }),
        )
        .await;
    assert_eq!(created["createApiKey"]["apiKey"]["persistedOnly"], true);
    let key = created["createApiKey"]["secret"].as_str().unwrap().to_owned();

    // The script's two operations are registered; a third (the insert) is not.
    let registered = t
        .ok(
            Some(&owner),
            REGISTER,
            json!({ "c": company.id, "d": [TABLES, ROWS] }),
        )
        .await;
    assert_eq!(registered["registerPersistedQueries"]["registered"], 2);

    let by_hash = |document: &str, variables: Value| json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash(document) } }, "variables": variables });
    let (status, tables) = post(&t, Some(&key), JSON, by_hash(TABLES, json!({ "p": project }))).await;
    assert_eq!(status, 200);
    assert_eq!(
        tables["data"]["project"]["tables"]["edges"][0]["node"]["name"], "Sites",
        "{tables}"
    );
    let (_, rows) = post(
        &t,
        Some(&key),
        JSON,
        json!({ "documentId": format!("sha256:{}", hash(ROWS)), "variables": { "t": table } }),
    )
    .await;
    assert_eq!(rows["data"]["dataTable"]["rows"]["totalCount"], 0, "{rows}");
    // A registered document sent in full is the same document.
    let (_, full) = post(
        &t,
        Some(&key),
        JSON,
        json!({ "query": ROWS, "variables": { "t": table } }),
    )
    .await;
    assert_eq!(full["data"]["dataTable"]["rows"]["totalCount"], 0, "{full}");
    // GET with the spec's documentId.
    let url = format!(
        "{}/graphql?documentId=sha256:{}&variables={}",
        t.base_url(),
        hash(ROWS),
        json!({ "t": table })
    );
    let got: Value = t
        .http
        .get(url)
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["data"]["dataTable"]["rows"]["totalCount"], 0, "{got}");

    // Anything unregistered is refused and does not run, though the role allows it.
    let (status, refused) = post(
        &t,
        Some(&key),
        JSON,
        json!({ "query": INSERT, "variables": { "t": table } }),
    )
    .await;
    assert_eq!(
        (status, error_code(&refused)),
        (200, "PERSISTED_QUERY_NOT_ALLOWED"),
        "{refused}"
    );
    assert!(refused.get("data").is_none(), "{refused}");
    let (status, strict) = post(
        &t,
        Some(&key),
        "application/graphql-response+json",
        json!({ "query": INSERT, "variables": { "t": table } }),
    )
    .await;
    assert_eq!(
        (status, error_code(&strict)),
        (400, "PERSISTED_QUERY_NOT_ALLOWED"),
        "{strict}"
    );
    let (_, unknown) = post(&t, Some(&key), JSON, by_hash(INSERT, json!({ "t": table }))).await;
    assert_ne!(error_code(&unknown), "<no error>", "{unknown}");
    let count = t.ok(Some(&owner), ROWS, json!({ "t": table })).await;
    assert_eq!(count["dataTable"]["rows"]["totalCount"], 0, "nothing ran");

    // Nor may the key choose its own documents.
    let (_, chosen) = post(
        &t,
        Some(&key),
        JSON,
        json!({ "query": REGISTER, "variables": { "c": company.id, "d": [INSERT] } }),
    )
    .await;
    assert_eq!(error_code(&chosen), "PERSISTED_QUERY_NOT_ALLOWED", "{chosen}");
    let registering = t.caller(&key).await;
    let refused = guildhall::persisted::service::register(
        &t.app,
        &registering,
        company.id.parse().unwrap(),
        Vec::new(),
    )
    .await;
    assert_eq!(refused.err().map(|err| err.code.as_str()), Some("FORBIDDEN"));

    // Another company's registrations do not count for this key.
    let rival = t.verified_user("rival@example.com", "Rita").await;
    let rival_company = t.create_company(&rival, "Rival").await;
    t.ok(
        Some(&rival),
        REGISTER,
        json!({ "c": rival_company.id, "d": [INSERT] }),
    )
    .await;
    let (_, elsewhere) = post(&t, Some(&key), JSON, by_hash(INSERT, json!({ "t": table }))).await;
    assert_eq!(
        error_code(&elsewhere),
        "PERSISTED_QUERY_NOT_ALLOWED",
        "{elsewhere}"
    );

    // The same rule holds on websockets and for uploads.
    let mut socket = WsClient::connect(t.addr, &key).await;
    socket
        .send(json!({ "id": "1", "type": "subscribe", "payload": { "query": INSERT, "variables": { "t": table } } }))
        .await;
    let answer = socket.receive().await;
    let crate::helpers::ws::Received::Message(message) = answer else {
        panic!("expected an error message, got {answer:?}");
    };
    assert_eq!(message["type"], "error", "{message}");
    assert_eq!(
        message["payload"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_ALLOWED",
        "{message}"
    );
    socket
        .send(json!({ "id": "2", "type": "subscribe", "payload": {
            "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash(ROWS) } }, "variables": { "t": table } } }))
        .await;
    assert_eq!(
        socket.next_payload().await["data"]["dataTable"]["rows"]["totalCount"],
        0
    );

    let upload = |query: &'static str| {
        let operations = json!({ "query": query, "variables": { "t": table, "file": null } });
        let body = multipart_body("trusted-boundary", &operations, "sites.csv", "site\nLeeds\n");
        t.http
            .post(format!("{}/graphql", t.base_url()))
            .bearer_auth(&key)
            .header("content-type", "multipart/form-data; boundary=trusted-boundary")
            .header("apollo-require-preflight", "true")
            .body(body)
            .send()
    };
    let refused: Value = upload(IMPORT).await.unwrap().json().await.unwrap();
    assert_eq!(error_code(&refused), "PERSISTED_QUERY_NOT_ALLOWED", "{refused}");
    t.ok(Some(&owner), REGISTER, json!({ "c": company.id, "d": [IMPORT] }))
        .await;
    let imported: Value = upload(IMPORT).await.unwrap().json().await.unwrap();
    assert_eq!(imported["data"]["importCsv"]["inserted"], 1, "{imported}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_global_manifest_serves_everyone_under_persisted_only() {
    let t = TestApp::spawn_with(|config| config.persisted_only = true).await;
    // The spec's example is unknown until the manifest registers it for everyone.
    let by_id = json!({ "documentId": format!("sha256:{TYPENAME_HASH}") });
    assert_eq!(hash(TYPENAME), TYPENAME_HASH);
    let (_, before) = post(&t, None, JSON, by_id.clone()).await;
    assert_eq!(error_code(&before), "PERSISTED_QUERY_NOT_FOUND", "{before}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manifest.json");
    let manifest = |operations: Value| json!({ "format": "apollo-persisted-query-manifest", "version": 1, "operations": operations });
    std::fs::write(
        &path,
        manifest(json!([{ "id": TYPENAME_HASH, "body": TYPENAME, "name": null, "type": "query" }]))
            .to_string(),
    )
    .unwrap();
    assert_eq!(
        guildhall::server::register_manifest(&t.app, &path).await.unwrap(),
        1
    );
    assert_eq!(
        guildhall::server::register_manifest(&t.app, &path).await.unwrap(),
        0,
        "once"
    );

    let (status, typename) = post(&t, None, JSON, by_id).await;
    assert_eq!(
        (status, &typename["data"]["__typename"]),
        (200, &json!("Query")),
        "{typename}"
    );
    // Everything else is refused, for strangers and members alike.
    let (_, other) = post(
        &t,
        None,
        JSON,
        json!({ "query": "{ __schema { queryType { name } } }" }),
    )
    .await;
    assert_eq!(error_code(&other), "PERSISTED_QUERY_NOT_ALLOWED", "{other}");

    // A manifest with a broken document registers nothing and names the failure.
    std::fs::write(
        &path,
        manifest(json!([{ "id": hash("{ nope }"), "body": "{ nope }", "name": null, "type": "query" }]))
            .to_string(),
    )
    .unwrap();
    let failed = guildhall::server::register_manifest(&t.app, &path)
        .await
        .unwrap_err()
        .to_string();
    assert!(failed.contains("manifest.operations.0.body"), "{failed}");
    let (_, still) = post(
        &t,
        None,
        JSON,
        json!({ "documentId": format!("sha256:{}", hash("{ nope }")) }),
    )
    .await;
    assert_eq!(error_code(&still), "PERSISTED_QUERY_NOT_FOUND", "{still}");
    let (status, malformed) = post(&t, None, JSON, json!({ "documentId": "md5:abc" })).await;
    assert_eq!(
        (status, error_code(&malformed)),
        (400, "BAD_USER_INPUT"),
        "{malformed}"
    );

    // The server's own pages keep working: it registers their documents at startup.
    let verify = "mutation Verify($token: String!) { verifyEmail(token: $token) { email emailVerified } }";
    let (_, refused) = post(
        &t,
        None,
        JSON,
        json!({ "query": verify, "variables": { "token": "x" } }),
    )
    .await;
    assert_eq!(error_code(&refused), "PERSISTED_QUERY_NOT_ALLOWED", "{refused}");
    guildhall::server::register_startup_documents(&t.app)
        .await
        .unwrap();
    let (_, ran) = post(
        &t,
        None,
        JSON,
        json!({ "query": verify, "variables": { "token": "x" } }),
    )
    .await;
    assert_ne!(error_code(&ran), "PERSISTED_QUERY_NOT_ALLOWED", "{ran}");
    assert!(ran["errors"][0]["path"][0] == "verifyEmail", "it ran: {ran}");
}
