//! Automatic persisted queries (Apollo's protocol) over POST, GET, multipart uploads and
//! websockets: a document sent by an unknown hash is asked for in full, a document sent
//! with its hash is checked and, once it passes validation, kept for every instance, and
//! the store keeps the most recently used.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use guildhall::db::schema::{companies, persisted_documents};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::ws::{Received, WsClient};
use crate::helpers::{TestApp, error_code, multipart_body};

/// The persisted-query extension for `query`.
fn by_hash(query: &str) -> Value {
    let hash = format!("{:x}", Sha256::digest(query.as_bytes()));
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

/// The documents in the store.
async fn kept(t: &TestApp) -> Vec<String> {
    let mut conn = t.db.connect().await;
    persisted_documents::table
        .select(persisted_documents::body)
        .order(persisted_documents::body)
        .load(&mut conn)
        .await
        .unwrap()
}

/// Waits (up to 5 s) until the store holds `body`: documents are kept in the background
/// once they pass validation.
async fn wait_until_kept(t: &TestApp, body: &str) {
    for _ in 0..100 {
        if kept(t).await.iter().any(|kept| kept == body) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("never kept: {body}");
}

/// POSTs `body` and reads the JSON answer.
async fn post(t: &TestApp, token: Option<&str>, body: Value) -> Value {
    t.post(token, body).await.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_hash_is_asked_for_in_full_and_then_known_on_every_instance() {
    let t = TestApp::spawn().await;
    let query = "query Me { me { user { email } } }";
    let owner = t.verified_user("owner@example.com", "Owner").await;

    // The spec's own example: `{__typename}` by its hash.
    let spec_hash = json!({ "persistedQuery": {
        "version": 1, "sha256Hash": "ecf4edb46db40b5132295c0291d62fb65d6759a9eedfa4d5d612dd5ec54a6b38" } });
    let spec = post(
        &t,
        None,
        json!({ "query": "{__typename}", "extensions": spec_hash }),
    )
    .await;
    assert_eq!(spec["data"]["__typename"], "Query", "{spec}");
    wait_until_kept(&t, "{__typename}").await;

    // Unknown: 200 with the code and message Apollo's clients look for, whatever the
    // response media type.
    for accept in ["application/json", "application/graphql-response+json"] {
        let response = t
            .http
            .post(format!("{}/graphql", t.base_url()))
            .header("accept", accept)
            .bearer_auth(&owner)
            .json(&json!({ "extensions": by_hash(query), "operationName": "Me" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{accept}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_FOUND", "{body}");
        assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
        assert!(body.get("data").is_none(), "{body}");
        assert!(body["errors"][0].get("locations").is_none(), "{body}");
    }
    assert_eq!(kept(&t).await, ["{__typename}"]);

    // Sent with its hash: runs, and is kept.
    let full = post(
        &t,
        Some(&owner),
        json!({ "query": query, "extensions": by_hash(query) }),
    )
    .await;
    assert_eq!(full["data"]["me"]["user"]["email"], "owner@example.com", "{full}");
    wait_until_kept(&t, query).await;

    // By hash alone, on this instance and on another one.
    let again = post(&t, Some(&owner), json!({ "extensions": by_hash(query) })).await;
    assert_eq!(
        again["data"]["me"]["user"]["email"], "owner@example.com",
        "{again}"
    );
    let other = t.second_instance().await;
    let there: Value = t
        .http
        .post(format!("http://{}/graphql", other.addr))
        .bearer_auth(&owner)
        .json(&json!({ "extensions": by_hash(query) }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        there["data"]["me"]["user"]["email"], "owner@example.com",
        "{there}"
    );

    // In a batch, beside a document sent in full and an unknown hash.
    let batch = post(
        &t,
        Some(&owner),
        json!([{ "extensions": by_hash(query) }, { "query": "{ __typename }" }, { "extensions": by_hash("{ unknown }") }]),
    )
    .await;
    assert_eq!(
        batch[0]["data"]["me"]["user"]["email"], "owner@example.com",
        "{batch}"
    );
    assert_eq!(batch[1]["data"]["__typename"], "Query", "{batch}");
    assert_eq!(error_code(&batch[2]), "PERSISTED_QUERY_NOT_FOUND", "{batch}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hash_that_is_not_the_querys_runs_nothing_and_only_valid_documents_are_kept() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let create = "mutation { createCompany(input: { name: \"Acme\" }) { id } }";
    let wrong = by_hash("{ __typename }");
    let body = post(&t, Some(&owner), json!({ "query": create, "extensions": wrong })).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["fields"][0]["path"],
        json!(["extensions", "persistedQuery", "sha256Hash"]),
        "{body}"
    );
    let mut conn = t.db.connect().await;
    let made: i64 = companies::table.count().get_result(&mut conn).await.unwrap();
    assert_eq!(made, 0, "the mutation did not run");

    for broken in [
        json!({ "version": 2, "sha256Hash": wrong["persistedQuery"]["sha256Hash"] }),
        json!({ "version": 1, "sha256Hash": "not-a-hash" }),
        json!("ecf4edb46db40b5132295c0291d62fb65d6759a9eedfa4d5d612dd5ec54a6b38"),
    ] {
        let body = post(&t, None, json!({ "extensions": { "persistedQuery": broken } })).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{broken}: {body}");
    }

    // A document beyond the limits, or one that fails validation, is refused and never
    // kept; one that passes validation is kept even when its field then fails.
    let deep = format!("{{ {}__typename{} }}", "me { ".repeat(80), " }".repeat(80));
    let anonymous = "query Anonymous { me { user { email } } }";
    for document in [deep.as_str(), "{ nothingHere }", anonymous] {
        let body = post(
            &t,
            None,
            json!({ "query": document, "extensions": by_hash(document) }),
        )
        .await;
        assert!(body.get("errors").is_some(), "{body}");
    }
    wait_until_kept(&t, anonymous).await;
    assert_eq!(kept(&t).await, [anonymous]);
}

#[tokio::test(flavor = "multi_thread")]
async fn get_runs_a_query_by_hash_never_a_mutation_and_teaches_nothing() {
    let t = TestApp::spawn().await;
    let query = "{ __typename }";
    let get = |extensions: Value, with_query: bool| {
        let mut params = vec![("extensions", extensions.to_string())];
        if with_query {
            params.push(("query", query.to_owned()));
        }
        t.http
            .get(format!("{}/graphql", t.base_url()))
            .header("accept", "application/json")
            .query(&params)
            .send()
    };
    let unknown = get(by_hash(query), false).await.unwrap();
    assert_eq!(unknown.status(), 200);
    assert_eq!(
        error_code(&unknown.json::<Value>().await.unwrap()),
        "PERSISTED_QUERY_NOT_FOUND"
    );
    let full: Value = get(by_hash(query), true).await.unwrap().json().await.unwrap();
    assert_eq!(full["data"]["__typename"], "Query", "{full}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(kept(&t).await.is_empty(), "a document sent by GET is not kept");

    post(&t, None, json!({ "query": query, "extensions": by_hash(query) })).await;
    wait_until_kept(&t, query).await;
    let hashed: Value = get(by_hash(query), false).await.unwrap().json().await.unwrap();
    assert_eq!(hashed["data"]["__typename"], "Query", "{hashed}");

    let mutation = "mutation { markAllNotificationsRead }";
    post(
        &t,
        None,
        json!({ "query": mutation, "extensions": by_hash(mutation) }),
    )
    .await;
    wait_until_kept(&t, mutation).await;
    let refused = t
        .http
        .get(format!("{}/graphql", t.base_url()))
        .query(&[("extensions", by_hash(mutation).to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 405);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_and_a_subscription_may_be_sent_by_hash() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Owner").await;
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

    let import = "mutation($t: ID!, $file: Upload!) { importCsv(tableId: $t, csv: $file) { inserted } }";
    let (app, token) = (&t, &owner);
    let send = |operations: Value| async move {
        let boundary = "persisted-boundary";
        app.http
            .post(format!("{}/graphql", app.base_url()))
            .bearer_auth(token)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header("apollo-require-preflight", "true")
            .body(multipart_body(
                boundary,
                &operations,
                "sites.csv",
                "site\nLeeds\n",
            ))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let variables = json!({ "t": table, "file": null });
    let unknown = send(json!({ "extensions": by_hash(import), "variables": variables })).await;
    assert_eq!(error_code(&unknown), "PERSISTED_QUERY_NOT_FOUND", "{unknown}");
    let full = send(json!({ "query": import, "extensions": by_hash(import), "variables": variables })).await;
    assert_eq!(full["data"]["importCsv"]["inserted"], 1, "{full}");
    wait_until_kept(&t, import).await;
    let hashed = send(json!({ "extensions": by_hash(import), "variables": variables })).await;
    assert_eq!(hashed["data"]["importCsv"]["inserted"], 1, "{hashed}");

    // Subscribed from the latest event, so an event between subscribing and going live is
    // replayed rather than missed.
    let latest = t
        .ok(
            Some(&owner),
            "query($c: ID!) { company(id: $c) { activity(first: 1) { edges { cursor } } } }",
            json!({ "c": company.id }),
        )
        .await["company"]["activity"]["edges"][0]["cursor"]
        .clone();
    let subscription = "subscription($c: ID!, $a: String) { activity(companyId: $c, after: $a) { verb } }";
    let variables = json!({ "c": company.id, "a": latest });
    let mut socket = WsClient::connect(t.addr, &owner).await;
    let subscribe = |id: &str, payload: Value| json!({ "id": id, "type": "subscribe", "payload": payload });
    socket
        .send(subscribe(
            "1",
            json!({ "extensions": by_hash(subscription), "variables": variables }),
        ))
        .await;
    match socket.receive().await {
        Received::Message(message) => {
            assert_eq!(message["type"], "error", "{message}");
            assert_eq!(
                message["payload"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND",
                "{message}"
            );
        }
        Received::Closed(frame) => panic!("closed: {frame:?}"),
    }
    socket
        .send(subscribe(
            "2",
            json!({ "query": subscription, "extensions": by_hash(subscription), "variables": variables }),
        ))
        .await;
    wait_until_kept(&t, subscription).await;
    socket
        .send(subscribe(
            "3",
            json!({ "extensions": by_hash(subscription), "variables": variables }),
        ))
        .await;
    t.create_project(&owner, &company, "Water").await;
    let mut answered = Vec::new();
    for _ in 0..2 {
        match socket.receive().await {
            Received::Message(message) => {
                assert_eq!(
                    message["payload"]["data"]["activity"]["verb"], "project.created",
                    "{message}"
                );
                answered.push(message["id"].as_str().unwrap().to_owned());
            }
            Received::Closed(frame) => panic!("closed: {frame:?}"),
        }
    }
    answered.sort();
    assert_eq!(answered, ["2", "3"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_store_keeps_the_most_recently_used_documents() {
    let t = TestApp::spawn_with(|config| config.persisted_queries_max = 20).await;
    let send = |document: String| {
        let t = &t;
        async move {
            let body = post(
                t,
                None,
                json!({ "query": document, "extensions": by_hash(&document) }),
            )
            .await;
            assert_eq!(body["data"]["__typename"], "Query", "{body}");
            wait_until_kept(t, &document).await;
        }
    };
    let first = "query First { __typename }".to_owned();
    send(first.clone()).await;
    let older: Vec<String> = (0..15)
        .map(|i| format!("query Older{i} {{ __typename }}"))
        .collect();
    for document in &older {
        send(document.clone()).await;
    }

    // Used again, from this instance's memory, two minutes later: marked used in the store.
    t.advance(chrono::Duration::minutes(2));
    let again = post(&t, None, json!({ "extensions": by_hash(&first) })).await;
    assert_eq!(again["data"]["__typename"], "Query", "{again}");
    let mut conn = t.db.connect().await;
    let mut touched = false;
    for _ in 0..100 {
        let used: chrono::DateTime<chrono::Utc> = persisted_documents::table
            .filter(persisted_documents::body.eq(&first))
            .select(persisted_documents::last_used_at)
            .first(&mut conn)
            .await
            .unwrap();
        touched = used > t.clock_now() - chrono::Duration::minutes(1);
        if touched {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(touched, "a use from memory reaches the store");

    let newer: Vec<String> = (0..10)
        .map(|i| format!("query Newer{i} {{ __typename }}"))
        .collect();
    for document in &newer {
        send(document.clone()).await;
    }
    let kept = kept(&t).await;
    assert!(
        kept.len() <= 22,
        "bounded near PERSISTED_QUERIES_MAX: {}",
        kept.len()
    );
    assert!(kept.contains(&first), "the document used again is kept: {kept:?}");
    assert!(newer.iter().all(|n| kept.contains(n)), "the newest are kept");
    assert!(!kept.contains(&older[0]), "the least recently used went");
}

#[tokio::test(flavor = "multi_thread")]
async fn apollo_clients_persisted_query_link_works_unchanged() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let url = format!("{}/graphql", t.base_url());
    let report = crate::helpers::node::run("apq.mjs", &[&url, &owner]).await;

    let answers = report["answers"].as_array().unwrap();
    assert_eq!(answers.len(), 3, "{report}");
    for answer in answers {
        assert_eq!(answer["email"], "owner@example.com", "{report}");
    }
    let sent: Vec<(String, bool, bool, u64)> = report["sent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap().to_owned(),
                r["query"].as_bool().unwrap(),
                r["hash"].as_bool().unwrap(),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect();
    let posted = |query| ("POST".to_owned(), query, true, 200);
    assert_eq!(
        sent[..2],
        [posted(false), posted(true)],
        "hash alone (unknown), then with the query: {report}"
    );
    assert_eq!(
        sent[2..],
        [posted(false), ("GET".to_owned(), false, true, 200)],
        "then hash alone, by POST and by GET: {report}"
    );
    for _ in 0..100 {
        if kept(&t).await.len() == 1 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the client's document was not kept");
}

const REGISTER: &str = "mutation($c: ID!, $d: [String!], $m: JSON) {
    registerPersistedQueries(companyId: $c, documents: $d, manifest: $m) { registered } }";
const LIST: &str =
    "query($c: ID!) { company(id: $c) { persistedQueries { id hash name operationType lastUsedAt } } }";

#[tokio::test(flavor = "multi_thread")]
async fn a_company_registers_validated_documents_that_then_run_by_hash() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    let viewer = t
        .member(&owner, &company, "viewer@example.com", "Viewer", "Viewer")
        .await;
    let projects = "query Projects($c: ID!) { company(id: $c) { projects(first: 5) { nodes { name } } } }";
    let create = "mutation Create($c: ID!, $n: String!) { createProject(companyId: $c, name: $n) { id } }";

    // One bad document refuses the whole call, naming each bad one by its place.
    let refused = t
        .gql(
            Some(&owner),
            REGISTER,
            json!({ "c": company.id, "d": [projects, "{ nothingHere }", "query A { __typename } query B { __typename }"] }),
        )
        .await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
    let paths: Vec<Value> = refused["errors"][0]["extensions"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].clone())
        .collect();
    assert_eq!(
        paths,
        [json!(["documents", 1]), json!(["documents", 2])],
        "{refused}"
    );
    let listed = t.ok(Some(&owner), LIST, json!({ "c": company.id })).await;
    assert_eq!(
        listed["company"]["persistedQueries"],
        json!([]),
        "nothing of the call was kept"
    );

    // Documents and a manifest, the same document twice counted once.
    let manifest = json!({
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [{ "id": format!("{:x}", Sha256::digest(create.as_bytes())), "body": create, "name": "Create", "type": "mutation" }]
    });
    let registered = t
        .ok(
            Some(&owner),
            REGISTER,
            json!({ "c": company.id, "d": [projects, projects], "m": manifest }),
        )
        .await;
    assert_eq!(registered["registerPersistedQueries"]["registered"], 2);
    let listed = t.ok(Some(&owner), LIST, json!({ "c": company.id })).await;
    let mut kinds: Vec<(String, String)> = listed["company"]["persistedQueries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_owned(),
                d["operationType"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("Create".to_owned(), "mutation".to_owned()),
            ("Projects".to_owned(), "query".to_owned())
        ]
    );

    // Run by hash alone, with no document sent before.
    let made = post(
        &t,
        Some(&owner),
        json!({ "extensions": by_hash(create), "variables": { "c": company.id, "n": "Energy" } }),
    )
    .await;
    assert!(made["data"]["createProject"]["id"].is_string(), "{made}");
    let read = post(
        &t,
        Some(&owner),
        json!({ "extensions": by_hash(projects), "variables": { "c": company.id } }),
    )
    .await;
    assert_eq!(
        read["data"]["company"]["projects"]["nodes"][0]["name"], "Energy",
        "{read}"
    );
    let listed = t.ok(Some(&owner), LIST, json!({ "c": company.id })).await;
    assert!(
        listed["company"]["persistedQueries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["lastUsedAt"].is_string()),
        "{listed}"
    );

    // A manifest entry whose id is not its body's hash is refused.
    let forged = json!({ "format": "apollo-persisted-query-manifest", "version": 1,
        "operations": [{ "id": "0".repeat(64), "body": projects }] });
    let refused = t
        .gql(Some(&owner), REGISTER, json!({ "c": company.id, "m": forged }))
        .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["fields"][0]["path"],
        json!(["manifest", "operations", 0, "id"]),
        "{refused}"
    );

    // A Viewer may neither register nor list; the event shows to holders of api_key:manage.
    let by_viewer = t
        .gql(
            Some(&viewer),
            REGISTER,
            json!({ "c": company.id, "d": [projects] }),
        )
        .await;
    assert_eq!(error_code(&by_viewer), "FORBIDDEN", "{by_viewer}");
    let listed_by_viewer = t.gql(Some(&viewer), LIST, json!({ "c": company.id })).await;
    assert_eq!(error_code(&listed_by_viewer), "FORBIDDEN", "{listed_by_viewer}");
    assert_eq!(
        listed_by_viewer["data"]["company"]["persistedQueries"],
        Value::Null
    );
    let feed = "query($c: ID!) { company(id: $c) { activity(first: 10) { edges { node { verb } } } } }";
    let verbs = |data: &Value| -> Vec<String> {
        data["company"]["activity"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["verb"].as_str().unwrap().to_owned())
            .collect()
    };
    let owners = t.ok(Some(&owner), feed, json!({ "c": company.id })).await;
    assert!(
        verbs(&owners).contains(&"api_key.documents_registered".to_owned()),
        "{owners}"
    );
    let viewers = t.ok(Some(&viewer), feed, json!({ "c": company.id })).await;
    assert!(
        !verbs(&viewers).contains(&"api_key.documents_registered".to_owned()),
        "{viewers}"
    );

    // Removed: by another company's id NOT_FOUND; then no longer runs by hash.
    let id = listed["company"]["persistedQueries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "Projects")
        .unwrap()["id"]
        .clone();
    let other = t.create_company(&owner, "Other").await;
    let delete = "mutation($c: ID!, $id: ID!) { deletePersistedQuery(companyId: $c, id: $id) }";
    let elsewhere = t
        .gql(Some(&owner), delete, json!({ "c": other.id, "id": id }))
        .await;
    assert_eq!(error_code(&elsewhere), "NOT_FOUND", "{elsewhere}");
    t.ok(Some(&owner), delete, json!({ "c": company.id, "id": id }))
        .await;
    let other_instance = t.second_instance().await;
    let gone: Value = t
        .http
        .post(format!("http://{}/graphql", other_instance.addr))
        .bearer_auth(&owner)
        .json(&json!({ "extensions": by_hash(projects), "variables": { "c": company.id } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(error_code(&gone), "PERSISTED_QUERY_NOT_FOUND", "{gone}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_company_registers_at_most_its_limit_of_documents() {
    let t = TestApp::spawn_with(|config| config.persisted_queries_per_company = 2).await;
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    let documents = [
        "query A { __typename }",
        "query B { __typename }",
        "query C { __typename }",
    ];
    t.ok(
        Some(&owner),
        REGISTER,
        json!({ "c": company.id, "d": &documents[..2] }),
    )
    .await;
    let again = t
        .ok(
            Some(&owner),
            REGISTER,
            json!({ "c": company.id, "d": [documents[0]] }),
        )
        .await;
    assert_eq!(
        again["registerPersistedQueries"]["registered"], 1,
        "registering again is no new document"
    );
    let over = t
        .gql(
            Some(&owner),
            REGISTER,
            json!({ "c": company.id, "d": [documents[2]] }),
        )
        .await;
    assert_eq!(error_code(&over), "BAD_USER_INPUT", "{over}");
    let message = over["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("PERSISTED_QUERIES_PER_COMPANY"), "{message}");
    let listed = t.ok(Some(&owner), LIST, json!({ "c": company.id })).await;
    assert_eq!(
        listed["company"]["persistedQueries"].as_array().unwrap().len(),
        2,
        "nothing of the refused call stayed"
    );
}
