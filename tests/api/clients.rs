//! The clients people use, driven by Node against the real server: GraphiQL in headless
//! Chromium with no network beyond 127.0.0.1, the GraphQL-over-HTTP audit suite, Apollo
//! Client and urql over graphql-ws, and the legacy subscriptions-transport-ws protocol.

use serde_json::{Value, json};

use crate::helpers::node;
use crate::helpers::shell::Shell;
use crate::helpers::{Company, TestApp};

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
    let bob = t
        .member(&alice, &company, "bob@example.com", "Bob", "Editor")
        .await;
    let bob_id = t.user_id(&bob).await;
    let table = fuel_use_table(&t, &alice, &company).await;
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
            "tableId": table,
            "companyId": company.id,
            "bobId": bob_id,
            "adminRoleId": company.role("Admin"),
            "bob": "bob@example.com",
            "inviter": { "email": "carol@example.com", "companyId": other.id, "roleId": other.role("Viewer") },
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
        "bulkSeenMs",
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
    assert_eq!(report["unreadAfterMarkRead"], 0, "{report}");
    assert_eq!(report["unreadAfterMarking"], 0, "{report}");
    assert_eq!(report["missedEvents"], 2, "nothing missing: {report}");
    assert_eq!(report["feedDuplicates"], 0, "nothing twice: {report}");
    // At least the one the outage caused (a token that expired meanwhile can add one).
    assert!(report["reconnectsAfterOutage"].as_u64().unwrap() >= 1, "{report}");
    let feed = report["feed"].as_array().unwrap();
    assert!(
        feed.iter().any(|line| line.as_str().unwrap().contains("Alice")),
        "Alice's changes are in her feed: {report}"
    );
    for shot in ["dashboard.png", "notifications.png", "conflict.png"] {
        assert!(std::path::Path::new(&screenshots).join(shot).exists(), "{shot}");
    }
}

/// A project "Footprint" in `company` with a table "Fuel use" (site, required; day;
/// co2e_kg), made by the holder of `token`; the table's id.
async fn fuel_use_table(t: &TestApp, token: &str, company: &Company) -> String {
    let project = t.create_project(token, company, "Footprint").await;
    let fields = json!([
        { "key": "site", "label": "Site", "type": "TEXT", "required": true },
        { "key": "day", "label": "Day", "type": "DATE" },
        { "key": "co2e_kg", "label": "CO2e (kg)", "type": "DECIMAL" },
    ]);
    t.ok(
        Some(token),
        "mutation($p: ID!, $f: [FieldInput!]) { createDataTable(projectId: $p, name: \"Fuel use\", fields: $f) { id } }",
        json!({ "p": project, "f": fields }),
    )
    .await["createDataTable"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
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

#[tokio::test(flavor = "multi_thread")]
async fn the_integration_script_pushes_and_pulls_rows_by_hash_with_a_persisted_only_key() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    let table = fuel_use_table(&t, &owner, &company).await;
    let key = t
        .ok(
            Some(&owner),
            "mutation($c: ID!, $r: ID!) { createApiKey(companyId: $c, name: \"Nightly sync\", roleId: $r, persistedOnly: true) { secret } }",
            json!({ "c": company.id, "r": company.role("Editor") }),
        )
        .await["createApiKey"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = node::integration().await;
    let work = tempfile::tempdir().unwrap();
    let file = |name: &str| work.path().join(name).to_string_lossy().into_owned();
    let state = file("state.json");
    let env = [
        ("GUILDHALL_URL", t.base_url()),
        ("GUILDHALL_KEY", key.clone()),
        ("GUILDHALL_TOKEN", owner.clone()),
        ("GUILDHALL_COMPANY_ID", company.id.clone()),
        ("SYNC_STATE", state.clone()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let sync = |args: Vec<String>| {
        let env = env.clone();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            node::run_in(dir, "sync.mjs", &args, &env).await
        }
    };
    let stored_rows = || async {
        t.ok(
            Some(&owner),
            "query($t: ID!) { dataTable(id: $t) { rows(first: 10) { totalCount } } }",
            json!({ "t": table }),
        )
        .await["dataTable"]["rows"]["totalCount"]
            .as_u64()
            .unwrap()
    };

    // Unregistered, the operations are not the key's to run.
    let refused = sync(vec!["pull".into(), table.clone(), file("early.csv")]).await;
    assert!(!refused.success, "{refused:?}");
    assert!(refused.stderr.contains("PERSISTED_QUERY"), "{refused:?}");

    let registered = sync(vec!["register".into()]).await;
    assert!(registered.success, "{registered:?}");
    assert!(
        registered.stdout.contains("registered 3 documents"),
        "{registered:?}"
    );

    std::fs::write(
        file("bad.csv"),
        "site,day,co2e_kg\nYork,2026-01-01,12.5\nHull,not a date,7\n,2026-01-03,1\n",
    )
    .unwrap();
    let bad = sync(vec!["push".into(), table.clone(), file("bad.csv")]).await;
    assert!(!bad.success, "{bad:?}");
    assert!(bad.stderr.contains("line 3: day: must be a date"), "{bad:?}");
    assert!(bad.stderr.contains("line 4: site:"), "{bad:?}");
    assert_eq!(stored_rows().await, 0, "all or none");

    std::fs::write(
        file("good.csv"),
        "site,day,co2e_kg\nYork,2026-01-01,12.5\nHull,2026-01-02,7\n",
    )
    .unwrap();
    let pushed = sync(vec!["push".into(), table.clone(), file("good.csv")]).await;
    assert!(pushed.success, "{pushed:?}");
    assert!(pushed.stdout.contains("2 rows stored"), "{pushed:?}");

    let first = sync(vec!["pull".into(), table.clone(), file("first.csv")]).await;
    assert!(first.success, "{first:?}");
    let pulled = std::fs::read_to_string(file("first.csv")).unwrap();
    let lines: Vec<&str> = pulled.lines().collect();
    assert_eq!(lines[0], "id,site,day,co2e_kg,updated_at");
    assert_eq!(lines.len(), 3, "{pulled}");
    assert!(pulled.contains(",York,2026-01-01,12.5,"), "{pulled}");

    let york = lines[1..]
        .iter()
        .find(|line| line.contains("York"))
        .and_then(|line| line.split(',').next())
        .unwrap();
    t.ok(
        Some(&owner),
        "mutation($id: ID!) { updateRow(id: $id, values: { co2e_kg: 13 }) { id } }",
        json!({ "id": york }),
    )
    .await;
    let second = sync(vec!["pull".into(), table.clone(), file("second.csv")]).await;
    assert!(second.success, "{second:?}");
    let changed = std::fs::read_to_string(file("second.csv")).unwrap();
    assert_eq!(changed.lines().count(), 2, "only the changed row: {changed}");
    assert!(
        changed.contains(&format!("{york},York,2026-01-01,13,")),
        "{changed}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_curl_recipes_run_as_written() {
    let t = TestApp::spawn().await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let recipes = std::fs::read_to_string(root.join("frontend-examples/curl.md")).unwrap();
    let work = tempfile::tempdir().unwrap();
    let url = format!("{}/graphql", t.base_url());
    // Links the server writes name its PUBLIC_URL (guildhall.test here): curl reaches it
    // at the test server's address.
    std::fs::write(
        work.path().join(".curlrc"),
        format!("connect-to = \"guildhall.test:80:{}\"\n", t.addr),
    )
    .unwrap();
    let home = work.path().to_string_lossy().into_owned();
    let mut shell = Shell::start(work.path(), &[("GUILDHALL", &url), ("CURL_HOME", &home)]).await;
    let clients = node::clients().await;
    let subscriber = clients.join(format!("tmp-subscribe-{}.mjs", uuid::Uuid::new_v4()));
    let mut answers = Vec::new();

    for (language, block) in fenced_blocks(&recipes) {
        if language == "js" {
            std::fs::write(&subscriber, &block).unwrap();
            continue;
        }
        let mut block = block;
        if block.contains("<the token from the verification mail>") {
            let token = t.smtp.wait_for_count("ada@example.com", 1).await[0].token();
            block = block.replace("<the token from the verification mail>", &token);
        }
        if block.contains("<the token from the invitation mail>") {
            let token = t.smtp.wait_for_count("bob@example.com", 1).await[0].token();
            block = block.replace("<the token from the invitation mail>", &token);
        }
        if let Some(command) = block
            .lines()
            .find_map(|line| line.strip_prefix("# second terminal: node subscribe.mjs "))
        {
            let args = shell.run(&format!("printf '%s\\n' {command}")).await;
            let args: Vec<&str> = args.lines().collect();
            let heard = hear_while(&subscriber, &args, &mut shell, &block).await;
            assert!(heard.contains("\"kind\":\"CREATED\""), "{heard}");
            assert!(heard.contains("Bath"), "{heard}");
            continue;
        }
        answers.push(shell.run(&block).await);
    }
    std::fs::remove_file(&subscriber).ok();

    let all = answers.join("\n");
    assert!(!all.contains("\"errors\":[{"), "{all}");
    assert!(all.contains("\"emailVerified\":true"), "{all}");
    assert!(all.contains("\"name\":\"Bob\""), "{all}");
    assert!(all.contains("\"version\":2"), "the edit: {all}");
    assert!(all.contains("\"inserted\":2"), "the import: {all}");
    assert!(all.contains("Leeds,2026-03-02,80"), "the export: {all}");
}

/// The fenced blocks of a Markdown text, with their language, in order.
fn fenced_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in markdown.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(language)) => open = Some((language.to_owned(), String::new())),
            (Some(_), Some(_)) => blocks.extend(open.take()),
            (Some((_, text)), None) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, None) => {}
        }
    }
    blocks
}

/// Runs the subscriber script with `args` and `block` (a write) until the subscriber
/// prints what it heard; that line.
async fn hear_while(script: &std::path::Path, args: &[&str], shell: &mut Shell, block: &str) -> String {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new("node")
        .arg(script)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    for _ in 0..20 {
        shell.run(block).await;
        let heard = tokio::time::timeout(std::time::Duration::from_millis(500), lines.next_line()).await;
        if let Ok(line) = heard {
            return line.unwrap().unwrap_or_default();
        }
    }
    panic!("the subscriber heard nothing");
}
