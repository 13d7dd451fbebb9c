//! CSV in and out: import modes with every bad line reported, the import record, upload
//! limits, and signed, expiring, formula-safe exports.

use serde_json::{Value, json};

use crate::helpers::{Company, TestApp, error_code, error_fields};

const CREATE_TABLE: &str = "mutation($p: ID!, $f: [FieldInput!]) { createDataTable(projectId: $p, name: \"Fuel use\", fields: $f) { id } }";
const IMPORT: &str = "mutation($t: ID!, $c: ID, $m: ImportMode, $file: Upload!) { importCsv(tableId: $t, cycleId: $c, csv: $file, mode: $m) {
    importId inserted rejected errors { line field message } } }";
const EXPORT: &str = "mutation($t: ID!, $c: ID) { exportCsv(tableId: $t, cycleId: $c) }";
const ROWS: &str =
    "query($t: ID!) { dataTable(id: $t) { rows { totalCount edges { node { values cycle { name } } } }
    imports { totalCount edges { node { mode status lines inserted rejected actor { name } } } } } }";

struct Setup {
    owner: String,
    company: Company,
    project: String,
    table: String,
}

async fn fuel_table(t: &TestApp) -> Setup {
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    let project = t.create_project(&owner, &company, "Footprint").await;
    let table = t
        .ok(
            Some(&owner),
            CREATE_TABLE,
            json!({ "p": project, "f": [
                { "key": "site", "label": "Site", "type": "TEXT", "required": true, "unique": true },
                { "key": "fuel", "label": "Fuel", "type": "SINGLE_SELECT", "options": ["diesel", "petrol", "gas"] },
                { "key": "litres", "label": "Litres", "type": "DECIMAL", "min": 0 },
                { "key": "date", "label": "Date", "type": "DATE" },
            ] }),
        )
        .await["createDataTable"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Setup {
        owner,
        company,
        project,
        table,
    }
}

async fn import(t: &TestApp, token: &str, vars: Value, csv: &str) -> Value {
    t.upload(token, IMPORT, vars, "fuel.csv", csv).await
}

const TWO_BAD_LINES: &str = "site,Fuel,litres,date\r\n\
Leeds,diesel,120.5,2026-01-10\r\n\
York,coal,80,2026-01-11\r\n\
Hull,gas,55,2026-01-12\r\n\
Bath,petrol,-3,31/01/2026\r\n\
\"Wakefield, North\",diesel,250,2026-02-01\r\n";

#[tokio::test(flavor = "multi_thread")]
async fn bad_lines_are_numbered_as_the_file_numbers_them_whatever_its_line_endings() {
    let t = TestApp::spawn().await;
    let Setup { owner, table, .. } = fuel_table(&t).await;
    let lines = "site,fuel,litres\nLeeds,diesel,1\nYork,coal,2\n\"Hull\nEast\",gas,3\nBath,coal,4\n";
    for (endings, csv) in [("LF", lines.to_owned()), ("CRLF", lines.replace('\n', "\r\n"))] {
        let refused = import(&t, &owner, json!({ "t": table }), &csv).await;
        let lines: Vec<&Value> = refused["data"]["importCsv"]["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["line"])
            .collect();
        assert_eq!(lines, [&json!(3), &json!(6)], "{endings}: {refused}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn all_or_nothing_stores_nothing_and_names_every_bad_line() {
    let t = TestApp::spawn().await;
    let Setup { owner, table, .. } = fuel_table(&t).await;
    let refused = import(&t, &owner, json!({ "t": table }), TWO_BAD_LINES).await;
    let result = &refused["data"]["importCsv"];
    assert_eq!(result["inserted"], 0, "{refused}");
    assert_eq!(result["rejected"], 2);
    assert_eq!(
        result["errors"],
        json!([
            { "line": 3, "field": "fuel", "message": "must be one of: diesel, petrol, gas" },
            { "line": 5, "field": "litres", "message": "must be at least 0" },
            { "line": 5, "field": "date", "message": "must be a date like 2026-03-31" },
        ])
    );
    let fixed = TWO_BAD_LINES
        .replace("York,coal", "York,gas")
        .replace("-3,31/01/2026", "3,2026-01-31");
    let stored = import(&t, &owner, json!({ "t": table }), &fixed).await;
    assert_eq!(stored["data"]["importCsv"]["inserted"], 5, "{stored}");
    assert_eq!(stored["data"]["importCsv"]["errors"], json!([]));

    let data = t.ok(Some(&owner), ROWS, json!({ "t": table })).await;
    let rows = &data["dataTable"]["rows"];
    assert_eq!(rows["totalCount"], 5);
    assert_eq!(
        rows["edges"][4]["node"]["values"],
        json!({ "site": "Wakefield, North", "fuel": "diesel", "litres": "250", "date": "2026-02-01" }),
        "quoted cells keep their commas; lines keep their order"
    );
    let imports = &data["dataTable"]["imports"];
    assert_eq!(imports["totalCount"], 2);
    assert_eq!(
        imports["edges"][0]["node"],
        json!({ "mode": "ALL_OR_NOTHING", "status": "REJECTED", "lines": 5, "inserted": 0, "rejected": 2, "actor": { "name": "Owner" } })
    );
    assert_eq!(imports["edges"][1]["node"]["status"], "COMPLETED");
}

#[tokio::test(flavor = "multi_thread")]
async fn skip_invalid_keeps_the_good_lines_including_unique_clashes_within_the_file() {
    let t = TestApp::spawn().await;
    let Setup {
        owner,
        project,
        table,
        ..
    } = fuel_table(&t).await;
    let q1 = t
        .ok(
            Some(&owner),
            "mutation($p: ID!) { createCycle(projectId: $p, name: \"Q1\", startsOn: \"2026-01-01\", endsOn: \"2026-03-31\") { id } }",
            json!({ "p": project }),
        )
        .await["createCycle"]["id"]
        .clone();
    let csv = format!("{TWO_BAD_LINES}Leeds,gas,1,2026-03-01\r\n,gas,1,\r\nonly,two\r\n");
    let result = import(
        &t,
        &owner,
        json!({ "t": table, "c": q1, "m": "SKIP_INVALID" }),
        &csv,
    )
    .await;
    let result = &result["data"]["importCsv"];
    assert_eq!(result["inserted"], 3, "{result}");
    assert_eq!(result["rejected"], 5);
    let lines: Vec<(i64, Value)> = result["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_i64().unwrap(), e["field"].clone()))
        .collect();
    assert_eq!(
        lines,
        vec![
            (3, json!("fuel")),
            (5, json!("litres")),
            (5, json!("date")),
            (7, json!("site")),
            (8, json!("site")),
            (9, Value::Null),
        ]
    );
    let rows = t.ok(Some(&owner), ROWS, json!({ "t": table })).await;
    assert_eq!(rows["dataTable"]["rows"]["totalCount"], 3);
    assert_eq!(
        rows["dataTable"]["rows"]["edges"][0]["node"]["cycle"]["name"],
        "Q1"
    );

    t.ok(
        Some(&owner),
        "mutation($c: ID!) { closeCycle(id: $c) { status } }",
        json!({ "c": q1 }),
    )
    .await;
    let closed = import(&t, &owner, json!({ "t": table, "c": q1 }), "site\r\nSelby\r\n").await;
    assert_eq!(error_code(&closed), "CONFLICT");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_header_or_an_oversized_file_is_refused_clearly() {
    let t = TestApp::spawn_with(|config| {
        config.max_upload_bytes = 4_096;
        config.import_max_lines = 3;
    })
    .await;
    let Setup { owner, table, .. } = fuel_table(&t).await;
    let anonymous = t
        .http
        .post(format!("{}/graphql", t.base_url()))
        .header("content-type", "multipart/form-data; boundary=x")
        .header("apollo-require-preflight", "true")
        .body("--x--\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401, "uploads need a signed-in caller");
    let unknown = import(&t, &owner, json!({ "t": table }), "site,colour\r\nLeeds,red\r\n").await;
    assert_eq!(error_fields(&unknown), vec!["csv"]);
    assert!(
        unknown["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("colour"),
        "{unknown}"
    );
    let too_many = import(&t, &owner, json!({ "t": table }), "site\r\na\r\nb\r\nc\r\nd\r\n").await;
    assert_eq!(error_fields(&too_many), vec!["csv"]);
    let huge = "site\r\n".to_owned() + &"x\r\n".repeat(3_000);
    let too_big = import(&t, &owner, json!({ "t": table }), &huge).await;
    assert_eq!(error_code(&too_big), "BAD_USER_INPUT", "{too_big}");
    let message = too_big["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("MAX_UPLOAD_BYTES") && message.contains("4096"),
        "{message}"
    );
    let rows = t.ok(Some(&owner), ROWS, json!({ "t": table })).await;
    assert_eq!(rows["dataTable"]["rows"]["totalCount"], 0);
}

/// The path of an export link (tests reach the server on its own port).
fn path_of(link: &str) -> String {
    let start = link.find("/exports/").expect("an export link");
    link[start..].to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_link_streams_safe_csv_for_five_minutes() {
    let t = TestApp::spawn().await;
    let Setup { owner, table, .. } = fuel_table(&t).await;
    t.ok(
        Some(&owner),
        "mutation($t: ID!, $r: [JSON!]!) { insertRows(tableId: $t, rows: $r) { id } }",
        json!({ "t": table, "r": [
            { "site": "=HYPERLINK(\"http://evil.example\")", "fuel": "diesel", "litres": "-0" },
            { "site": "Quote \"q\", comma", "litres": "12.50", "date": "2026-01-02" },
            { "site": " =SUM(1+1)", "litres": "1" },
        ] }),
    )
    .await;
    let link = t.ok(Some(&owner), EXPORT, json!({ "t": table })).await["exportCsv"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(link.starts_with("http://guildhall.test/exports/"), "{link}");
    let url = format!("{}{}", t.base_url(), path_of(&link));
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("Fuel_use.csv")
    );
    let body = response.text().await.unwrap();
    assert_eq!(
        body,
        "site,fuel,litres,date\r\n\
         \"'=HYPERLINK(\"\"http://evil.example\"\")\",diesel,0,\r\n\
         \"Quote \"\"q\"\", comma\",,12.5,2026-01-02\r\n\
         ' =SUM(1+1),,1,\r\n",
        "a formula behind whitespace is defused too"
    );

    let tampered = url.replace("/exports/", "/exports/x");
    assert_eq!(reqwest::get(&tampered).await.unwrap().status(), 404);
    let (other_session, _) = t.login("owner@example.com", crate::helpers::PASSWORD).await;
    let link = t.ok(Some(&other_session), EXPORT, json!({ "t": table })).await["exportCsv"]
        .as_str()
        .unwrap()
        .to_owned();
    t.ok(Some(&other_session), "mutation { logout }", json!({})).await;
    let after_logout = format!("{}{}", t.base_url(), path_of(&link));
    assert_eq!(
        reqwest::get(&after_logout).await.unwrap().status(),
        404,
        "a link dies with its session"
    );
    t.advance(chrono::Duration::minutes(6));
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 404, "links expire");

    let (viewer_token, _) = t.login("owner@example.com", crate::helpers::PASSWORD).await;
    let other = t
        .gql(
            Some(&viewer_token),
            EXPORT,
            json!({ "t": table, "c": "00000000-0000-0000-0000-000000000001" }),
        )
        .await;
    assert_eq!(error_code(&other), "NOT_FOUND", "a cycle of no project of ours");
}

#[tokio::test(flavor = "multi_thread")]
async fn exports_follow_the_readers_rights() {
    let t = TestApp::spawn().await;
    let Setup {
        owner,
        company,
        project,
        ..
    } = fuel_table(&t).await;
    let costs = t
        .ok(
            Some(&owner),
            "mutation($p: ID!) { createDataTable(projectId: $p, name: \"Costs\", fields: [
                { key: \"site\", label: \"Site\", type: TEXT },
                { key: \"cost\", label: \"Cost\", type: DECIMAL, restricted: true }]) { id } }",
            json!({ "p": project }),
        )
        .await["createDataTable"]["id"]
        .clone();
    t.ok(
        Some(&owner),
        "mutation($t: ID!) { insertRows(tableId: $t, rows: [{ site: \"Leeds\", cost: \"9.99\" }]) { id } }",
        json!({ "t": costs }),
    )
    .await;
    let editor = t.member(&owner, &company, "ed@example.com", "Ed", "Editor").await;
    let viewer = t.member(&owner, &company, "vi@example.com", "Vi", "Viewer").await;
    let link = t.ok(Some(&editor), EXPORT, json!({ "t": costs })).await["exportCsv"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = reqwest::get(format!("{}{}", t.base_url(), path_of(&link)))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "site\r\nLeeds\r\n", "restricted columns stay hidden");
    let refused = t.gql(Some(&viewer), EXPORT, json!({ "t": costs })).await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
}

#[tokio::test(flavor = "multi_thread")]
async fn imports_beyond_the_servers_or_the_companys_concurrent_limit_are_refused_until_one_finishes() {
    let t = TestApp::spawn().await;
    let Setup {
        owner,
        company,
        table,
        ..
    } = fuel_table(&t).await;
    let csv = "site\r\nLeeds\r\n";

    let held = t
        .app
        .import_slots
        .try_acquire_many(4)
        .expect("the server's four places");
    let busy = import(&t, &owner, json!({ "t": table }), csv).await;
    assert_eq!(error_code(&busy), "RATE_LIMITED", "{busy}");
    assert!(
        busy["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("IMPORT_MAX_CONCURRENT"),
        "{busy}"
    );
    assert!(busy["errors"][0]["extensions"]["retryAfter"].as_u64().is_some());
    drop(held);

    use diesel_async::RunQueryDsl;
    let mut elsewhere = t.db.connect().await;
    let lock = |function: &str| {
        format!(
            "SELECT {function}(hashtext('import:' || '{}'), slot) FROM generate_series(0, 1) slot",
            company.id
        )
    };
    diesel::sql_query(lock("pg_advisory_lock"))
        .execute(&mut elsewhere)
        .await
        .unwrap();
    let busy = import(&t, &owner, json!({ "t": table }), csv).await;
    assert_eq!(
        error_code(&busy),
        "RATE_LIMITED",
        "two imports of the company run elsewhere: {busy}"
    );
    assert!(
        busy["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("IMPORT_MAX_PER_COMPANY"),
        "{busy}"
    );
    diesel::sql_query(lock("pg_advisory_unlock"))
        .execute(&mut elsewhere)
        .await
        .unwrap();

    let stored = import(&t, &owner, json!({ "t": table }), csv).await;
    assert_eq!(stored["data"]["importCsv"]["inserted"], 1, "{stored}");
}
