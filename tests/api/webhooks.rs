//! Webhooks against a real receiver: events become signed deliveries that the receiver
//! verifies with the Standard Webhooks algorithm; failures are retried on schedule (or
//! when `Retry-After` says), 410 turns the endpoint off, the last failure stays visible,
//! redelivery keeps the message id, a sender killed mid-delivery leads to the same message
//! again, and a webhook is told only what its role may read.

use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use crate::helpers::receiver::{Receiver, Reply};
use crate::helpers::{Company, TestApp, error_code, error_fields};

const CREATE: &str = "mutation($c: ID!, $u: String!, $e: [String!]!, $r: ID) {
    createWebhook(companyId: $c, url: $u, events: $e, roleId: $r) {
        signingSecret webhook { id url events active role { name } } } }";
const DELIVERIES: &str = "query($c: ID!) { company(id: $c) { webhooks { id active disabledReason
    deliveries(first: 100) { totalCount edges { node {
        id messageId event status attempts responseStatus lastError lastAttemptAt nextAttemptAt } } } } } }";
const CREATE_TABLE: &str = "mutation($p: ID!) { createDataTable(projectId: $p, name: \"Fuel use\",
    fields: [{ key: \"site\", label: \"Site\", type: TEXT }]) { id } }";
const INSERT: &str = "mutation($t: ID!, $r: [JSON!]!) { insertRows(tableId: $t, rows: $r) { id } }";

/// A company with one table; (owner token, company, table id).
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

/// Makes a webhook to `receiver` for `events`, tells the receiver its secret; its id.
async fn subscribe(
    t: &TestApp,
    token: &str,
    company: &Company,
    receiver: &Receiver,
    events: Value,
) -> String {
    let created = t
        .ok(
            Some(token),
            CREATE,
            json!({ "c": company.id, "u": receiver.url(), "e": events }),
        )
        .await;
    let secret = created["createWebhook"]["signingSecret"].as_str().unwrap();
    receiver.trust(secret);
    created["createWebhook"]["webhook"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn insert_row(t: &TestApp, token: &str, table: &str, site: &str) -> String {
    t.ok(
        Some(token),
        INSERT,
        json!({ "t": table, "r": [{ "site": site }] }),
    )
    .await["insertRows"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The company's first webhook with its deliveries, newest first.
async fn first_webhook(t: &TestApp, token: &str, company: &Company) -> Value {
    t.ok(Some(token), DELIVERIES, json!({ "c": company.id })).await["company"]["webhooks"][0].clone()
}

fn deliveries(webhook: &Value) -> Vec<Value> {
    webhook["deliveries"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"].clone())
        .collect()
}

/// Waits (at most 30 s) until the webhook's newest delivery has `status`; returns it.
async fn wait_for_status(t: &TestApp, token: &str, company: &Company, status: &str) -> Value {
    wait_for_newest(t, token, company, |delivery| delivery["status"] == status).await
}

/// Waits (at most 30 s) until the webhook's newest delivery is as `wanted`; returns it.
async fn wait_for_newest(
    t: &TestApp,
    token: &str,
    company: &Company,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..300 {
        let webhook = first_webhook(t, token, company).await;
        if let Some(newest) = <[Value]>::first(&deliveries(&webhook))
            && wanted(newest)
        {
            return newest.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the newest delivery never came as wanted: {}",
        first_webhook(t, token, company).await
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_row_change_reaches_the_receiver_signed_in_event_order_and_names_its_rows() {
    let t = TestApp::spawn().await;
    let (owner, company, table) = acme(&t).await;
    let receiver = Receiver::start().await;
    let created = t
        .ok(
            Some(&owner),
            CREATE,
            json!({ "c": company.id, "u": receiver.url(), "e": ["row.*"] }),
        )
        .await["createWebhook"]
        .clone();
    let secret = created["signingSecret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_") && secret.len() == 50, "{secret}");
    assert_eq!(created["webhook"]["role"]["name"], "Viewer", "the default role");
    assert_eq!(created["webhook"]["events"], json!(["row.*"]));
    receiver.trust(secret);

    let rows = [
        insert_row(&t, &owner, &table, "Leeds").await,
        insert_row(&t, &owner, &table, "York").await,
        insert_row(&t, &owner, &table, "Hull").await,
    ];
    let arrived = receiver.wait_for(3).await;
    for (delivery, row) in arrived.iter().zip(&rows) {
        assert!(delivery.verified, "signature checks out: {delivery:?}");
        assert!(delivery.id.starts_with("msg_"));
        assert!((delivery.timestamp - chrono::Utc::now().timestamp()).abs() < 60);
        assert!(delivery.user_agent.starts_with("Guildhall-Webhooks/"));
        assert_eq!(delivery.body["type"], "row.created");
        assert_eq!(delivery.body["data"]["companyId"], company.id.as_str());
        assert_eq!(delivery.body["data"]["rowIds"], json!([row]), "in event order");
        assert_eq!(delivery.body["data"]["actor"]["type"], "user");
    }
    let webhook = first_webhook(&t, &owner, &company).await;
    let listed = deliveries(&webhook);
    assert_eq!(webhook["deliveries"]["totalCount"], 3);
    for delivery in &listed {
        assert_eq!(delivery["status"], "DELIVERED");
        assert_eq!(delivery["attempts"], 1);
        assert_eq!(delivery["responseStatus"], 204);
        assert_eq!(delivery["nextAttemptAt"], Value::Null);
    }
    assert_eq!(listed[0]["messageId"], arrived[2].id.as_str(), "newest first");

    // The secret is stored sealed: nowhere in the database in the clear.
    let mut conn = t.db.connect().await;
    let sealed: Vec<u8> = guildhall::db::schema::webhooks::table
        .select(guildhall::db::schema::webhooks::secret_sealed)
        .first(&mut conn)
        .await
        .unwrap();
    let key = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(secret.trim_start_matches("whsec_"))
            .unwrap()
    };
    for plain in [secret.as_bytes(), &key[..], &key[..8]] {
        assert!(
            !sealed.windows(plain.len()).any(|window| window == plain),
            "the secret is in the clear"
        );
    }
    let dump: Vec<String> = diesel::sql_query(
        "SELECT row_to_json(w)::text AS text FROM webhooks w \
         UNION ALL SELECT row_to_json(a)::text FROM audit_log a \
         UNION ALL SELECT row_to_json(e)::text FROM activity_events e",
    )
    .load::<Text>(&mut conn)
    .await
    .unwrap()
    .into_iter()
    .map(|row| row.text)
    .collect();
    let dump = dump.join("\n");
    let key_part = secret.trim_start_matches("whsec_");
    assert!(dump.contains("webhook.created"));
    assert!(
        !dump.contains(key_part),
        "the signing secret is stored in the clear"
    );
}

#[derive(QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    text: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_webhooks_are_refused_with_their_field_and_only_managers_make_them() {
    let t = TestApp::spawn_with(|config| config.allow_private_webhooks = false).await;
    let (owner, company, _) = acme(&t).await;
    let attempt = |url: &str, events: Value, role: Option<&str>| {
        t.gql(
            Some(&owner),
            CREATE,
            json!({ "c": company.id, "u": url, "e": events, "r": role }),
        )
    };
    let unknown = attempt(
        "https://hooks.example.com/in",
        json!(["row.exploded", "row.*"]),
        None,
    )
    .await;
    assert_eq!(error_code(&unknown), "BAD_USER_INPUT");
    assert_eq!(error_fields(&unknown), ["events"]);
    let message = unknown["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("row.exploded") && message.contains("row.created"),
        "{message}"
    );

    for url in [
        "ftp://example.com/in",
        "http://127.0.0.1:9/in",
        "http://169.254.169.254/latest/meta-data",
        "http://localhost/in",
        "http://[::1]/in",
        "not a url",
    ] {
        let refused = attempt(url, json!(["*"]), None).await;
        assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{url}");
        assert_eq!(error_fields(&refused), ["url"], "{url}");
    }
    let as_owner = attempt(
        "https://hooks.example.com/in",
        json!(["*"]),
        Some(company.role("Owner")),
    )
    .await;
    assert_eq!(error_fields(&as_owner), ["roleId"]);

    // A name is taken as given; its addresses are checked each time it is resolved.
    let sneaky = attempt("http://localtest.invalid/in", json!(["row.*"]), None).await;
    assert!(sneaky["errors"].is_null(), "{sneaky}");

    // Only webhook:manage makes webhooks; a stranger does not learn they exist.
    let editor = t
        .member(&owner, &company, "eddie@example.com", "Eddie", "Editor")
        .await;
    let denied = t
        .gql(
            Some(&editor),
            CREATE,
            json!({ "c": company.id, "u": "https://hooks.example.com/in", "e": ["*"] }),
        )
        .await;
    assert_eq!(error_code(&denied), "FORBIDDEN");
    let webhook_id = sneaky["data"]["createWebhook"]["webhook"]["id"].as_str().unwrap();
    let stranger = t.verified_user("stranger@example.com", "Sam").await;
    let hidden = t
        .gql(
            Some(&stranger),
            "mutation($id: ID!) { deleteWebhook(id: $id) }",
            json!({ "id": webhook_id }),
        )
        .await;
    assert_eq!(error_code(&hidden), "NOT_FOUND");

    // The role a webhook holds cannot be deleted from under it.
    let role = t
        .ok(
            Some(&owner),
            "mutation($c: ID!) { createRole(input: { companyId: $c, name: \"Hooks\",
                permissions: [{ resource: ROW, action: VIEW }] }) { id } }",
            json!({ "c": company.id }),
        )
        .await["createRole"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let made = attempt("https://hooks.example.com/rows", json!(["row.*"]), Some(&role)).await;
    assert_eq!(
        made["data"]["createWebhook"]["webhook"]["role"]["name"], "Hooks",
        "{made}"
    );
    let in_use = t
        .gql(
            Some(&owner),
            "mutation($id: ID!) { deleteRole(id: $id) }",
            json!({ "id": role }),
        )
        .await;
    assert_eq!(error_code(&in_use), "CONFLICT");
    assert!(
        in_use["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("1 webhook(s)")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_are_retried_then_failed_and_a_redelivery_keeps_the_message_id() {
    let t = TestApp::spawn().await;
    let (owner, company, table) = acme(&t).await;
    let receiver = Receiver::start().await;
    subscribe(&t, &owner, &company, &receiver, json!(["row.created"])).await;
    // Schedule in tests: two retries a second apart, so three attempts in all.
    receiver.script(vec![
        Reply::Status(500),
        Reply::Hang(Duration::from_secs(4)),
        Reply::Status(502),
    ]);
    insert_row(&t, &owner, &table, "Leeds").await;
    let failed = wait_for_status(&t, &owner, &company, "FAILED").await;
    assert_eq!(failed["attempts"], 3);
    assert_eq!(failed["responseStatus"], 502);
    assert!(failed["lastError"].as_str().unwrap().contains("502"), "{failed}");
    let arrived = receiver.wait_for(3).await;
    assert!(
        arrived
            .iter()
            .all(|delivery| delivery.id == arrived[0].id && delivery.verified)
    );
    assert_eq!(failed["messageId"], arrived[0].id.as_str());

    let redelivered = t
        .ok(
            Some(&owner),
            "mutation($d: ID!) { redeliverWebhook(deliveryId: $d) { id status attempts } }",
            json!({ "d": failed["id"] }),
        )
        .await["redeliverWebhook"]
        .clone();
    assert_eq!(redelivered["status"], "PENDING");
    let delivered = wait_for_status(&t, &owner, &company, "DELIVERED").await;
    assert_eq!(delivered["attempts"], 1);
    let arrived = receiver.wait_for(4).await;
    assert_eq!(arrived[3].id, arrived[0].id, "the same webhook-id again");
    assert_ne!(arrived[3].timestamp, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timeout_and_retry_after_are_honoured_and_410_turns_the_endpoint_off() {
    let t = TestApp::spawn_with(|config| {
        config.webhook_retry_schedule = vec![Duration::from_secs(1); 4];
    })
    .await;
    let (owner, company, table) = acme(&t).await;
    let receiver = Receiver::start().await;
    let webhook = subscribe(&t, &owner, &company, &receiver, json!(["row.*"])).await;
    receiver.script(vec![
        Reply::Hang(Duration::from_secs(5)),
        Reply::RetryAfter(503, 3),
    ]);
    insert_row(&t, &owner, &table, "Leeds").await;
    let arrived = receiver.wait_for(2).await;
    let pending = wait_for_newest(&t, &owner, &company, |delivery| delivery["attempts"] == 2).await;
    assert_eq!(pending["status"], "PENDING");
    assert_eq!(pending["responseStatus"], 503);
    let last = chrono::DateTime::parse_from_rfc3339(pending["lastAttemptAt"].as_str().unwrap()).unwrap();
    let next = chrono::DateTime::parse_from_rfc3339(pending["nextAttemptAt"].as_str().unwrap()).unwrap();
    assert_eq!(
        (next - last).num_seconds(),
        3,
        "Retry-After, not the 1 s schedule"
    );
    let delivered = wait_for_status(&t, &owner, &company, "DELIVERED").await;
    assert_eq!(delivered["attempts"], 3);
    assert_eq!(receiver.wait_for(3).await[2].id, arrived[0].id);

    // 410: the delivery fails at once and the endpoint is turned off; later events wait.
    receiver.script(vec![Reply::Status(410)]);
    insert_row(&t, &owner, &table, "York").await;
    let gone = wait_for_status(&t, &owner, &company, "FAILED").await;
    assert_eq!(gone["attempts"], 1);
    assert_eq!(gone["responseStatus"], 410);
    let off = first_webhook(&t, &owner, &company).await;
    assert_eq!(off["active"], false);
    assert!(off["disabledReason"].as_str().unwrap().contains("410"));
    let while_off = t
        .gql(
            Some(&owner),
            "mutation($d: ID!) { redeliverWebhook(deliveryId: $d) { id } }",
            json!({ "d": gone["id"] }),
        )
        .await;
    assert_eq!(error_code(&while_off), "CONFLICT");
    insert_row(&t, &owner, &table, "Hull").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        first_webhook(&t, &owner, &company).await["deliveries"]["totalCount"],
        2
    );
    assert_eq!(receiver.deliveries().len(), 4);

    // Turned on again, it is told of new events.
    let on = t
        .ok(
            Some(&owner),
            "mutation($id: ID!) { updateWebhook(id: $id, active: true) { active disabledReason } }",
            json!({ "id": webhook }),
        )
        .await;
    assert_eq!(
        on["updateWebhook"],
        json!({ "active": true, "disabledReason": null })
    );
    insert_row(&t, &owner, &table, "Ely").await;
    let back = receiver.wait_for(5).await;
    assert_eq!(back[4].body["type"], "row.created");
    assert!(back[4].verified);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_was_down_gets_everything_it_missed_once_it_is_back() {
    let t = TestApp::spawn_with(|config| {
        config.webhook_retry_schedule = vec![Duration::from_secs(1); 6];
    })
    .await;
    let (owner, company, table) = acme(&t).await;
    let mut receiver = Receiver::start().await;
    subscribe(&t, &owner, &company, &receiver, json!(["row.created"])).await;
    receiver.stop().await;
    for site in ["Leeds", "York", "Hull", "Ely", "Bath"] {
        insert_row(&t, &owner, &table, site).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let waiting = deliveries(&first_webhook(&t, &owner, &company).await);
    assert!(
        waiting.iter().all(|delivery| delivery["status"] == "PENDING"),
        "{waiting:?}"
    );
    assert!(
        waiting.iter().any(|delivery| delivery["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("connect"))),
        "{waiting:?}"
    );
    receiver.restart().await;
    let arrived = receiver.wait_for(5).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut ids: Vec<String> = receiver
        .deliveries()
        .into_iter()
        .map(|delivery| delivery.id)
        .collect();
    assert_eq!(ids.len(), 5, "every event, each once: {arrived:?}");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "five distinct events: {arrived:?}");
    wait_for_status(&t, &owner, &company, "DELIVERED").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sender_killed_mid_delivery_leads_to_the_same_message_again() {
    let mut t = TestApp::spawn().await;
    let (owner, company, table) = acme(&t).await;
    let receiver = Receiver::start().await;
    subscribe(&t, &owner, &company, &receiver, json!(["row.created"])).await;
    receiver.script(vec![Reply::Hang(Duration::from_secs(30))]);
    insert_row(&t, &owner, &table, "Leeds").await;
    let first = receiver.wait_for(1).await[0].clone();
    // The instance dies while the endpoint has not answered.
    t.webhook_senders.abort();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pending = deliveries(&first_webhook(&t, &owner, &company).await)[0].clone();
    assert_eq!(pending["status"], "PENDING");
    assert_eq!(pending["attempts"], 0, "the attempt never finished");
    let early = t
        .gql(
            Some(&owner),
            "mutation($d: ID!) { redeliverWebhook(deliveryId: $d) { id } }",
            json!({ "d": pending["id"] }),
        )
        .await;
    assert_eq!(
        error_code(&early),
        "CONFLICT",
        "a pending delivery is not queued twice"
    );
    // Another instance takes over once the dead sender's hold on the endpoint lapses.
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    t.webhook_senders = guildhall::webhooks::worker::spawn(t.app.clone(), stopped);
    t.advance(chrono::Duration::seconds(60));
    let again = receiver.wait_for(2).await;
    assert_eq!(again[1].id, first.id, "at least once, with the same webhook-id");
    assert!(again[1].verified);
    assert_eq!(again[1].body, first.body, "the same body");
    let delivered = wait_for_status(&t, &owner, &company, "DELIVERED").await;
    assert_eq!(delivered["attempts"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_is_told_only_what_its_role_may_read() {
    let t = TestApp::spawn().await;
    let (owner, company, table) = acme(&t).await;
    let receiver = Receiver::start().await;
    // Viewer reads rows, but not API keys or webhooks (api_key:manage, webhook:manage).
    subscribe(&t, &owner, &company, &receiver, json!(["*"])).await;
    t.ok(
        Some(&owner),
        "mutation($c: ID!, $r: ID!) { createApiKey(companyId: $c, name: \"ETL\", roleId: $r) { secret } }",
        json!({ "c": company.id, "r": company.role("Viewer") }),
    )
    .await;
    let row = insert_row(&t, &owner, &table, "Leeds").await;
    let arrived = receiver.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let types: Vec<String> = receiver
        .deliveries()
        .iter()
        .map(|delivery| delivery.body["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(types, ["row.created"], "{arrived:?}");
    assert_eq!(receiver.deliveries()[0].body["data"]["rowIds"], json!([row]));
    let listed = deliveries(&first_webhook(&t, &owner, &company).await);
    assert_eq!(
        listed.len(),
        1,
        "what it may not read is not kept either: {listed:?}"
    );

    // Deleting it removes its deliveries, and the audit log keeps the acts.
    let webhook = first_webhook(&t, &owner, &company).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    t.ok(
        Some(&owner),
        "mutation($id: ID!) { deleteWebhook(id: $id) }",
        json!({ "id": webhook }),
    )
    .await;
    let log = t
        .ok(
            Some(&owner),
            "query($c: ID!) { company(id: $c) { webhooks { id } auditLog(first: 50, filter: { targetType: \"webhook\" }) {
                edges { node { action changes } } } } }",
            json!({ "c": company.id }),
        )
        .await;
    assert_eq!(log["company"]["webhooks"], json!([]));
    let actions: Vec<&str> = log["company"]["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["webhook.deleted", "webhook.created"]);
    let mut conn = t.db.connect().await;
    let left: i64 = guildhall::db::schema::webhook_deliveries::table
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

/// The example receiver (frontend-examples/webhook-receiver) running under Node.
struct ExampleReceiver {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl ExampleReceiver {
    async fn start(port: u16, secret: &str, seen: &std::path::Path) -> Self {
        let dir = crate::helpers::node::webhook_receiver().await;
        let mut child = std::process::Command::new("node")
            .arg(dir.join("receiver.mjs"))
            .args(["--port", &port.to_string(), "--seen"])
            .arg(seen)
            .env("WEBHOOK_SECRET", secret)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("node runs the example receiver");
        let (send, lines) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
        // It says so on stderr once it listens.
        let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
        let mut ready = String::new();
        tokio::task::block_in_place(|| std::io::BufRead::read_line(&mut stderr, &mut ready)).expect("stderr");
        assert!(ready.contains("listening"), "{ready}");
        Self { child, lines }
    }

    /// The next printed event (at most 30 s away).
    fn next(&self) -> Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the receiver printed an event");
        serde_json::from_str(&line).expect("one JSON line per event")
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The README's walk-through: a key inserts rows, the example receiver (Node, the Standard
/// Webhooks library) verifies and prints each `row.created`, is stopped for a while, and
/// on its return gets every event it missed, each printed once; the audit log shows each
/// step with who and from where, and exports as CSV.
#[tokio::test(flavor = "multi_thread")]
async fn the_example_receiver_verifies_prints_and_catches_up_and_the_audit_log_shows_the_walk() {
    let t = TestApp::spawn_with(|config| {
        config.webhook_retry_schedule = vec![Duration::from_secs(1); 8];
    })
    .await;
    let (owner, company, table) = acme(&t).await;
    let key = t
        .ok(
            Some(&owner),
            "mutation($c: ID!, $r: ID!) { createApiKey(companyId: $c, name: \"ERP\", roleId: $r) { secret } }",
            json!({ "c": company.id, "r": company.role("Editor") }),
        )
        .await["createApiKey"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let created = t
        .ok(
            Some(&owner),
            CREATE,
            json!({ "c": company.id, "u": format!("http://127.0.0.1:{port}/"), "e": ["row.created"] }),
        )
        .await;
    let secret = created["createWebhook"]["signingSecret"]
        .as_str()
        .unwrap()
        .to_owned();
    let seen = tempfile::NamedTempFile::new().unwrap();
    let insert_as_key = |site: &'static str| {
        let (t, key, table) = (&t, &key, &table);
        async move {
            let answer: Value = t
                .http
                .post(format!("{}/graphql", t.base_url()))
                .bearer_auth(key)
                .header("user-agent", "erp-sync/1.0")
                .json(&json!({ "query": INSERT, "variables": { "t": table, "r": [{ "site": site }] } }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            answer["data"]["insertRows"][0]["id"].as_str().unwrap().to_owned()
        }
    };

    let receiver = ExampleReceiver::start(port, &secret, seen.path()).await;
    let first = insert_as_key("Leeds").await;
    let printed = receiver.next();
    assert_eq!(printed["type"], "row.created");
    assert_eq!(printed["data"]["rowIds"], json!([first]));
    assert_eq!(printed["data"]["actor"]["type"], "api_key");
    receiver.stop();

    // Down: the deliveries wait and are retried.
    let missed = [insert_as_key("York").await, insert_as_key("Hull").await];
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let receiver = ExampleReceiver::start(port, &secret, seen.path()).await;
    let caught_up = [receiver.next(), receiver.next()];
    // Both failed while it was down, each waiting for its own retry, so either may come
    // first (a delivery waiting for its retry does not hold back later ones).
    let mut rows: Vec<String> = caught_up
        .iter()
        .map(|event| event["data"]["rowIds"][0].as_str().unwrap().to_owned())
        .collect();
    rows.sort();
    let mut expected = missed.to_vec();
    expected.sort();
    assert_eq!(rows, expected, "every missed event");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(receiver.lines.try_recv().is_err(), "each event printed once");
    receiver.stop();

    // The audit log shows the walk: the key made, rows inserted by it from its address,
    // a failed and a good sign-in.
    for password in ["not the password 1", crate::helpers::PASSWORD] {
        t.http
            .post(format!("{}/graphql", t.base_url()))
            .json(&json!({
                "query": "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
                "variables": { "i": { "email": "owner@example.com", "password": password } }
            }))
            .send()
            .await
            .unwrap();
    }
    let log = t
        .ok(
            Some(&owner),
            "query($c: ID!) { company(id: $c) { auditLog(first: 50) { edges { node {
                action apiKey { name } ip userAgent changes } } } } }",
            json!({ "c": company.id }),
        )
        .await;
    let entries: Vec<Value> = log["company"]["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"].clone())
        .collect();
    let by_key: Vec<&Value> = entries
        .iter()
        .filter(|entry| entry["action"] == "row.created")
        .collect();
    assert_eq!(by_key.len(), 3);
    assert!(by_key.iter().all(|entry| entry["apiKey"]["name"] == "ERP"
        && entry["ip"] == "127.0.0.1"
        && entry["userAgent"] == "erp-sync/1.0"
        && entry["changes"]["count"] == 1));
    assert!(entries.iter().any(|entry| entry["action"] == "api_key.created"));
    assert!(entries.iter().any(|entry| entry["action"] == "webhook.created"));
    let security = t
        .ok(
            Some(&owner),
            "{ me { securityEvents(first: 10) { edges { node { action ip } } } } }",
            json!({}),
        )
        .await;
    let actions: Vec<&str> = security["me"]["securityEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"]["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"session.sign_in_failed") && actions.contains(&"session.signed_in"),
        "{actions:?}"
    );
    let link = t
        .ok(
            Some(&owner),
            "mutation($c: ID!) { exportAuditLog(companyId: $c, format: \"csv\") }",
            json!({ "c": company.id }),
        )
        .await["exportAuditLog"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = link.strip_prefix("http://guildhall.test").unwrap();
    let csv = t
        .http
        .get(format!("{}{path}", t.base_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        csv.contains("row.created") && csv.contains("erp-sync/1.0") && csv.contains("api_key.created"),
        "{csv}"
    );

    // Taking data out is recorded too: who asked for which export, from where.
    t.ok(
        Some(&owner),
        "mutation($t: ID!) { exportCsv(tableId: $t) }",
        json!({ "t": table }),
    )
    .await;
    let exports = t
        .ok(
            Some(&owner),
            "query($c: ID!) { company(id: $c) { auditLog(first: 10, filter: { targetType: \"data_table\" }) {
                edges { node { action actor { name } ip changes } } }
                audit: auditLog(first: 10, filter: { action: \"audit.exported\" }) { edges { node { changes } } } } }",
            json!({ "c": company.id }),
        )
        .await;
    let row_exports: Vec<&Value> = exports["company"]["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| &edge["node"])
        .filter(|node| node["action"] == "row.exported")
        .collect();
    assert_eq!(row_exports.len(), 1, "{exports}");
    assert_eq!(row_exports[0]["actor"]["name"], "Olga");
    assert_eq!(row_exports[0]["ip"], "127.0.0.1");
    assert_eq!(
        exports["company"]["audit"]["edges"][0]["node"]["changes"]["format"],
        "csv"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_name_or_address_that_leads_inside_is_refused_when_sending() {
    let t = TestApp::spawn_with(|config| config.allow_private_webhooks = false).await;
    let (owner, company, table) = acme(&t).await;
    let receiver = Receiver::start().await;
    let created = t
        .ok(
            Some(&owner),
            CREATE,
            json!({ "c": company.id, "u": "https://hooks.example.com/in", "e": ["row.created"] }),
        )
        .await;
    receiver.trust(created["createWebhook"]["signingSecret"].as_str().unwrap());
    let port = receiver.addr.port();
    let mut conn = t.db.connect().await;
    // The endpoint now names an address inside (stored before the rules changed), then
    // `localhost`, then the machine's own name, which its resolver answers with an address
    // inside (as a changed DNS record would): each is refused before connecting.
    let mut cases = vec![
        (format!("http://127.0.0.1:{port}/hook"), "internal address"),
        (format!("http://localhost:{port}/hook"), "internal address"),
    ];
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim().to_owned();
    let inside = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map(|found| found.collect::<Vec<_>>())
        .unwrap_or_default();
    if !inside.is_empty()
        && inside
            .iter()
            .all(|addr| !guildhall::webhooks::endpoint::is_public(addr.ip()))
    {
        cases.push((
            format!("http://{host}:{port}/hook"),
            "resolves to no address webhooks may call",
        ));
    }
    for (url, error) in cases {
        diesel::sql_query("UPDATE webhooks SET url = $1")
            .bind::<diesel::sql_types::Text, _>(&url)
            .execute(&mut conn)
            .await
            .unwrap();
        let before = deliveries(&first_webhook(&t, &owner, &company).await).len();
        insert_row(&t, &owner, &table, "Leeds").await;
        let refused = wait_for_newest(&t, &owner, &company, |delivery| {
            delivery["attempts"] == 1 && delivery["lastError"].is_string()
        })
        .await;
        assert!(
            refused["lastError"].as_str().unwrap().contains(error),
            "{url}: {refused}"
        );
        assert_eq!(refused["responseStatus"], Value::Null);
        assert_eq!(
            deliveries(&first_webhook(&t, &owner, &company).await).len(),
            before + 1
        );
    }
    assert!(
        receiver.deliveries().is_empty(),
        "nothing reached the internal receiver"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn only_a_manager_holding_the_webhooks_rights_may_repoint_it_and_changes_never_deadlock_with_writes() {
    let t = TestApp::spawn().await;
    let (owner, company, table) = acme(&t).await;
    let receiver = Receiver::start().await;
    let webhook = subscribe(&t, &owner, &company, &receiver, json!(["row.created"])).await;
    // Someone who manages webhooks but may not read rows cannot send rows to themselves.
    let role = t
        .ok(
            Some(&owner),
            "mutation($c: ID!) { createRole(input: { companyId: $c, name: \"Hooks\",
                permissions: [{ resource: WEBHOOK, action: MANAGE }, { resource: COMPANY, action: VIEW }] }) { id } }",
            json!({ "c": company.id }),
        )
        .await["createRole"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let hooks = t
        .member(&owner, &company, "hank@example.com", "Hank", "Viewer")
        .await;
    let hank = t.user_id(&hooks).await;
    t.ok(
        Some(&owner),
        "mutation($c: ID!, $u: ID!, $r: ID!) { changeMemberRole(companyId: $c, userId: $u, roleId: $r) { id } }",
        json!({ "c": company.id, "u": hank, "r": role }),
    )
    .await;
    let repoint = t
        .gql(
            Some(&hooks),
            "mutation($id: ID!) { updateWebhook(id: $id, url: \"https://evil.example.com/\") { url } }",
            json!({ "id": webhook }),
        )
        .await;
    assert_eq!(error_code(&repoint), "FORBIDDEN", "{repoint}");
    assert!(
        repoint["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("row:view"),
        "{repoint}"
    );

    // Changing the webhook while rows are written (each queuing a delivery for it) never
    // deadlocks: both take the company's event lock first.
    let writes = async {
        for n in 0..15 {
            let answer = t
                .gql(
                    Some(&owner),
                    INSERT,
                    json!({ "t": table, "r": [{ "site": format!("Site {n}") }] }),
                )
                .await;
            assert!(answer["errors"].is_null(), "{answer}");
        }
    };
    let changes = async {
        for n in 0..15 {
            let events = if n % 2 == 0 {
                json!(["row.*"])
            } else {
                json!(["row.created"])
            };
            let answer = t
                .gql(
                    Some(&owner),
                    "mutation($id: ID!, $e: [String!]) { updateWebhook(id: $id, events: $e) { id } }",
                    json!({ "id": webhook, "e": events }),
                )
                .await;
            assert!(answer["errors"].is_null(), "{answer}");
        }
    };
    tokio::join!(writes, changes);
    receiver.wait_for(15).await;
}
