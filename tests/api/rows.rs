//! Rows: values checked against typed fields, uniqueness under concurrency, optimistic
//! updates, closed cycles, filters and ordering, permissions and tenant isolation.

use serde_json::{Value, json};

use crate::helpers::{Company, TestApp, error_code, error_fields};

const CREATE_TABLE: &str = "mutation($p: ID!, $n: String!, $f: [FieldInput!]) { createDataTable(projectId: $p, name: $n, fields: $f) { id fields { id key } } }";
const INSERT: &str = "mutation($t: ID!, $c: ID, $r: [JSON!]!) { insertRows(tableId: $t, cycleId: $c, rows: $r) { id values version cycle { name } createdBy { name } } }";
const UPDATE: &str = "mutation($id: ID!, $v: JSON!, $e: Int) { updateRow(id: $id, values: $v, expectedVersion: $e) { id values version } }";
const DELETE: &str = "mutation($ids: [ID!]!) { deleteRows(ids: $ids) }";
const ROWS: &str = "query($t: ID!, $f: JSON, $o: String, $c: ID, $n: Int, $a: String) { dataTable(id: $t) {
    rows(filter: $f, orderBy: $o, cycleId: $c, first: $n, after: $a) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id values } } } } }";
const CREATE_CYCLE: &str = "mutation($p: ID!, $n: String!, $s: String!, $e: String!) { createCycle(projectId: $p, name: $n, startsOn: $s, endsOn: $e) { id } }";

struct Setup {
    owner: String,
    company: Company,
    project: String,
}

async fn setup(t: &TestApp) -> Setup {
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    let project = t.create_project(&owner, &company, "Footprint").await;
    Setup {
        owner,
        company,
        project,
    }
}

async fn table(t: &TestApp, token: &str, project: &str, name: &str, fields: Value) -> String {
    t.ok(
        Some(token),
        CREATE_TABLE,
        json!({ "p": project, "n": name, "f": fields }),
    )
    .await["createDataTable"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Creates the cycle Q1 2026 in the setup's project; its id.
async fn first_quarter(t: &TestApp, s: &Setup) -> Value {
    t.ok(
        Some(&s.owner),
        CREATE_CYCLE,
        json!({ "p": s.project, "n": "Q1", "s": "2026-01-01", "e": "2026-03-31" }),
    )
    .await["createCycle"]["id"]
        .clone()
}

fn fuel_fields() -> Value {
    json!([
        { "key": "site", "label": "Site", "type": "TEXT", "required": true },
        { "key": "fuel", "label": "Fuel", "type": "SINGLE_SELECT", "options": ["diesel", "petrol", "gas"] },
        { "key": "litres", "label": "Litres", "type": "DECIMAL", "min": 0 },
        { "key": "date", "label": "Date", "type": "DATE" },
    ])
}

async fn insert(t: &TestApp, token: &str, table: &str, rows: Value) -> Value {
    t.ok(Some(token), INSERT, json!({ "t": table, "r": rows })).await["insertRows"].clone()
}

async fn list(t: &TestApp, token: &str, table: &str, vars: Value) -> Value {
    let mut vars = vars;
    vars["t"] = json!(table);
    t.ok(Some(token), ROWS, vars).await["dataTable"]["rows"].clone()
}

fn values_of(rows: &Value, key: &str) -> Vec<Value> {
    rows["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["values"][key].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_are_normalised_and_every_bad_value_is_reported_with_nothing_stored() {
    let t = TestApp::spawn().await;
    let s = setup(&t).await;
    let fuel = table(&t, &s.owner, &s.project, "Fuel use", fuel_fields()).await;
    let stored = insert(
        &t,
        &s.owner,
        &fuel,
        json!([
            { "site": "Leeds", "fuel": "diesel", "litres": "0120.500", "date": " 2026-01-15 " },
            { "site": "York", "litres": 80 },
        ]),
    )
    .await;
    assert_eq!(
        stored[0]["values"],
        json!({ "site": "Leeds", "fuel": "diesel", "litres": "120.5", "date": "2026-01-15" })
    );
    assert_eq!(
        stored[1]["values"],
        json!({ "site": "York", "fuel": null, "litres": "80", "date": null }),
        "missing optional keys are null"
    );
    assert_eq!(stored[0]["version"], 1);
    assert_eq!(stored[0]["createdBy"]["name"], "Owner");

    let bad = t
        .gql(
            Some(&s.owner),
            INSERT,
            json!({ "t": fuel, "r": [
                { "site": "Hull", "litres": "-1" },
                { "fuel": "coal", "date": "2026-02-30", "colour": "red" },
                { "site": "Bath", "litres": "12.5" },
            ] }),
        )
        .await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");
    assert_eq!(
        error_fields(&bad),
        vec![
            "rows.0.litres",
            "rows.1.colour",
            "rows.1.date",
            "rows.1.fuel",
            "rows.1.site"
        ]
    );
    assert_eq!(
        bad["errors"][0]["extensions"]["fields"][0]["path"],
        json!(["rows", 0, "litres"])
    );
    assert_eq!(
        bad["errors"][0]["extensions"]["fields"][0]["message"],
        "must be at least 0"
    );
    let all = list(&t, &s.owner, &fuel, json!({})).await;
    assert_eq!(all["totalCount"], 2, "a refused batch stores nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_type_takes_its_values_and_refuses_others() {
    let t = TestApp::spawn().await;
    let s = setup(&t).await;
    let target = table(
        &t,
        &s.owner,
        &s.project,
        "Factors",
        json!([{ "key": "name", "label": "Name", "type": "TEXT" }]),
    )
    .await;
    let factor = insert(&t, &s.owner, &target, json!([{ "name": "diesel" }])).await[0]["id"].clone();
    let all = table(
        &t,
        &s.owner,
        &s.project,
        "All types",
        json!([
            { "key": "text", "label": "Text", "type": "TEXT", "min": 2, "max": 5, "pattern": "^[A-Z]" },
            { "key": "long", "label": "Long", "type": "LONG_TEXT" },
            { "key": "int", "label": "Int", "type": "INTEGER", "min": 1, "max": 10 },
            { "key": "dec", "label": "Dec", "type": "DECIMAL", "max": 1000 },
            { "key": "flag", "label": "Flag", "type": "BOOLEAN" },
            { "key": "day", "label": "Day", "type": "DATE" },
            { "key": "at", "label": "At", "type": "DATETIME" },
            { "key": "one", "label": "One", "type": "SINGLE_SELECT", "options": ["a", "b"] },
            { "key": "many", "label": "Many", "type": "MULTI_SELECT", "options": ["x", "y", "z"] },
            { "key": "mail", "label": "Mail", "type": "EMAIL" },
            { "key": "link", "label": "Link", "type": "URL" },
            { "key": "ref", "label": "Ref", "type": "REFERENCE", "referenceTableId": target },
            { "key": "calc", "label": "Calc", "type": "FORMULA", "formula": "int * 2" },
            { "key": "need", "label": "Need", "type": "TEXT", "required": true },
        ]),
    )
    .await;
    let good = insert(
        &t,
        &s.owner,
        &all,
        json!([{
            "text": "Abc", "long": "x".repeat(100 * 1024), "int": "7", "dec": "999.990",
            "flag": "yes", "day": "2026-03-31", "at": "2026-03-31T14:00:00+02:00", "one": "b",
            "many": ["z", "x"], "mail": " a@b.example ", "link": "https://example.com/a",
            "ref": factor, "need": "yes",
        }]),
    )
    .await;
    let values = &good[0]["values"];
    assert_eq!(values["int"], 7);
    assert_eq!(values["dec"], "999.99");
    assert_eq!(values["flag"], true);
    assert_eq!(values["at"], "2026-03-31T12:00:00.000Z");
    assert_eq!(values["many"], json!(["z", "x"]));
    assert_eq!(values["mail"], "a@b.example");
    assert_eq!(values["ref"], factor);
    assert_eq!(values["calc"], "14", "formulas are computed and stored");

    let bad = t
        .gql(
            Some(&s.owner),
            INSERT,
            json!({ "t": all, "r": [{
                "text": "abcdef", "long": "x".repeat(100 * 1024 + 1), "int": 11, "dec": "1000.01",
                "flag": "maybe", "day": "31/03/2026", "at": "2026-03-31 14:00", "one": "c",
                "many": ["x", "q"], "mail": "not-an-address", "link": "ftp://example.com",
                "ref": "00000000-0000-0000-0000-000000000001", "calc": 3, "need": "",
            }] }),
        )
        .await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");
    let mut expected: Vec<String> = [
        "at", "calc", "day", "dec", "flag", "int", "link", "long", "mail", "many", "need", "one", "text",
    ]
    .iter()
    .map(|k| format!("rows.0.{k}"))
    .collect();
    expected.sort();
    assert_eq!(error_fields(&bad), expected);

    let dangling = t
        .gql(
            Some(&s.owner),
            INSERT,
            json!({ "t": all, "r": [{ "need": "x", "ref": "00000000-0000-0000-0000-000000000001" }] }),
        )
        .await;
    assert_eq!(error_fields(&dangling), vec!["rows.0.ref"]);
    let referenced = t.gql(Some(&s.owner), DELETE, json!({ "ids": [factor] })).await;
    assert_eq!(error_code(&referenced), "CONFLICT", "{referenced}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_unique_value_is_taken_once_even_by_concurrent_writers() {
    let t = TestApp::spawn().await;
    let s = setup(&t).await;
    let sites = table(
        &t,
        &s.owner,
        &s.project,
        "Sites",
        json!([{ "key": "code", "label": "Code", "type": "TEXT", "unique": true },
               { "key": "mail", "label": "Mail", "type": "EMAIL", "unique": true }]),
    )
    .await;
    for round in 0..5 {
        let code = format!("S-{round}");
        let first = t.gql(
            Some(&s.owner),
            INSERT,
            json!({ "t": sites, "r": [{ "code": code }] }),
        );
        let second = t.gql(
            Some(&s.owner),
            INSERT,
            json!({ "t": sites, "r": [{ "code": code }] }),
        );
        let (first, second) = tokio::join!(first, second);
        let outcomes = [&first, &second].map(|r| r["errors"].is_null());
        assert_eq!(
            outcomes.iter().filter(|ok| **ok).count(),
            1,
            "exactly one writer wins: {first} {second}"
        );
        let loser = if outcomes[0] { &second } else { &first };
        assert_eq!(error_fields(loser), vec!["rows.0.code"]);
    }
    let same_batch = t
        .gql(
            Some(&s.owner),
            INSERT,
            json!({ "t": sites, "r": [{ "mail": "a@x.example" }, { "mail": "A@X.example" }] }),
        )
        .await;
    assert_eq!(
        error_fields(&same_batch),
        vec!["rows.1.mail"],
        "emails are unique ignoring case"
    );
    let long = "x".repeat(5_000);
    insert(&t, &s.owner, &sites, json!([{ "code": long }])).await;
    let long_again = t
        .gql(
            Some(&s.owner),
            INSERT,
            json!({ "t": sites, "r": [{ "code": long }] }),
        )
        .await;
    assert_eq!(
        error_fields(&long_again),
        vec!["rows.0.code"],
        "long unique values are compared too"
    );

    let rows = insert(&t, &s.owner, &sites, json!([{ "code": "free" }])).await;
    let id = rows[0]["id"].clone();
    let clash = t
        .gql(
            Some(&s.owner),
            UPDATE,
            json!({ "id": id, "v": { "code": "S-1" } }),
        )
        .await;
    assert_eq!(error_fields(&clash), vec!["values.code"]);
    t.ok(
        Some(&s.owner),
        UPDATE,
        json!({ "id": id, "v": { "code": "renamed" } }),
    )
    .await;
    insert(&t, &s.owner, &sites, json!([{ "code": "free" }])).await;
    t.ok(Some(&s.owner), DELETE, json!({ "ids": [id] })).await;
    insert(&t, &s.owner, &sites, json!([{ "code": "renamed" }])).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn updates_patch_values_and_refuse_a_stale_version() {
    let t = TestApp::spawn().await;
    let s = setup(&t).await;
    let fuel = table(&t, &s.owner, &s.project, "Fuel use", fuel_fields()).await;
    let row = insert(&t, &s.owner, &fuel, json!([{ "site": "Leeds", "litres": 5 }])).await[0].clone();
    let updated = t
        .ok(
            Some(&s.owner),
            UPDATE,
            json!({ "id": row["id"], "v": { "litres": "7.25", "fuel": "gas" }, "e": 1 }),
        )
        .await["updateRow"]
        .clone();
    assert_eq!(updated["version"], 2);
    assert_eq!(
        updated["values"],
        json!({ "site": "Leeds", "fuel": "gas", "litres": "7.25", "date": null })
    );
    let stale = t
        .gql(
            Some(&s.owner),
            UPDATE,
            json!({ "id": row["id"], "v": { "litres": 1 }, "e": 1 }),
        )
        .await;
    assert_eq!(error_code(&stale), "CONFLICT");
    let cleared = t
        .gql(
            Some(&s.owner),
            UPDATE,
            json!({ "id": row["id"], "v": { "site": null } }),
        )
        .await;
    assert_eq!(error_fields(&cleared), vec!["values.site"]);
    let fetched = t
        .ok(
            Some(&s.owner),
            "query($id: ID!) { dataRow(id: $id) { version values table { name } } }",
            json!({ "id": row["id"] }),
        )
        .await;
    assert_eq!(fetched["dataRow"]["version"], 2, "refused updates change nothing");
    assert_eq!(fetched["dataRow"]["values"]["litres"], "7.25");
    assert_eq!(fetched["dataRow"]["table"]["name"], "Fuel use");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_cycle_and_an_archived_project_are_read_only() {
    let t = TestApp::spawn().await;
    let s = setup(&t).await;
    let fuel = table(&t, &s.owner, &s.project, "Fuel use", fuel_fields()).await;
    let q1 = first_quarter(&t, &s).await;
    let row = t
        .ok(
            Some(&s.owner),
            INSERT,
            json!({ "t": fuel, "c": q1, "r": [{ "site": "Leeds" }] }),
        )
        .await["insertRows"][0]
        .clone();
    assert_eq!(row["cycle"]["name"], "Q1");
    let read = t
        .ok(
            Some(&s.owner),
            "query($id: ID!) { dataRow(id: $id) { cycle { name project { name } } table { name } } }",
            json!({ "id": row["id"] }),
        )
        .await;
    assert_eq!(read["dataRow"]["cycle"]["name"], "Q1");
    assert_eq!(read["dataRow"]["cycle"]["project"]["name"], "Footprint");
    assert_eq!(read["dataRow"]["table"]["name"], "Fuel use");
    t.ok(
        Some(&s.owner),
        "mutation($c: ID!) { closeCycle(id: $c) { status } }",
        json!({ "c": q1 }),
    )
    .await;
    let attempts = [
        t.gql(
            Some(&s.owner),
            INSERT,
            json!({ "t": fuel, "c": q1, "r": [{ "site": "York" }] }),
        )
        .await,
        t.gql(
            Some(&s.owner),
            UPDATE,
            json!({ "id": row["id"], "v": { "site": "Hull" } }),
        )
        .await,
        t.gql(Some(&s.owner), DELETE, json!({ "ids": [row["id"]] })).await,
    ];
    for attempt in &attempts {
        assert_eq!(error_code(attempt), "CONFLICT", "{attempt}");
    }
    t.ok(
        Some(&s.owner),
        "mutation($c: ID!) { reopenCycle(id: $c) { status } }",
        json!({ "c": q1 }),
    )
    .await;
    t.ok(
        Some(&s.owner),
        UPDATE,
        json!({ "id": row["id"], "v": { "site": "Hull" } }),
    )
    .await;

    t.ok(
        Some(&s.owner),
        "mutation($p: ID!) { archiveProject(id: $p) { id } }",
        json!({ "p": s.project }),
    )
    .await;
    let archived = t
        .gql(
            Some(&s.owner),
            INSERT,
            json!({ "t": fuel, "r": [{ "site": "York" }] }),
        )
        .await;
    assert_eq!(error_code(&archived), "CONFLICT");
    assert_eq!(list(&t, &s.owner, &fuel, json!({})).await["totalCount"], 1);
    t.ok(
        Some(&s.owner),
        "mutation($p: ID!) { deleteProject(id: $p) }",
        json!({ "p": s.project }),
    )
    .await;
    let gone = t
        .gql(
            Some(&s.owner),
            "query($id: ID!) { dataRow(id: $id) { id } }",
            json!({ "id": row["id"] }),
        )
        .await;
    assert_eq!(
        error_code(&gone),
        "NOT_FOUND",
        "the project goes with its cycles and rows"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_filter_and_order_by_field_values_across_pages() {
    let t = TestApp::spawn().await;
    let s = setup(&t).await;
    let fuel = table(&t, &s.owner, &s.project, "Fuel use", fuel_fields()).await;
    let q1 = first_quarter(&t, &s).await;
    t.ok(
        Some(&s.owner),
        INSERT,
        json!({ "t": fuel, "c": q1, "r": [
            { "site": "Leeds depot", "fuel": "diesel", "litres": "150", "date": "2026-01-10" },
            { "site": "York", "fuel": "petrol", "litres": "99.99", "date": "2026-02-01" },
            { "site": "Hull", "fuel": "diesel", "litres": "1000.5", "date": "2026-03-01" },
            { "site": "Bath", "fuel": "gas" },
        ] }),
    )
    .await;
    insert(
        &t,
        &s.owner,
        &fuel,
        json!([{ "site": "Leeds yard", "fuel": "diesel", "litres": "500" }]),
    )
    .await;

    let over_100 = list(
        &t,
        &s.owner,
        &fuel,
        json!({ "f": { "litres": { "gt": 100 } }, "c": q1, "o": "litres" }),
    )
    .await;
    assert_eq!(values_of(&over_100, "site"), vec!["Leeds depot", "Hull"]);
    assert_eq!(over_100["totalCount"], 2);

    let cases = [
        (
            json!({ "fuel": { "eq": "diesel" } }),
            vec!["Leeds depot", "Hull", "Leeds yard"],
        ),
        (json!({ "fuel": { "ne": "diesel" } }), vec!["York", "Bath"]),
        (
            json!({ "fuel": { "in": ["gas", "petrol"] } }),
            vec!["York", "Bath"],
        ),
        (
            json!({ "site": { "contains": "LEEDS" } }),
            vec!["Leeds depot", "Leeds yard"],
        ),
        (json!({ "litres": { "isNull": true } }), vec!["Bath"]),
        (
            json!({ "litres": { "gte": "99.99", "lt": 500 } }),
            vec!["Leeds depot", "York"],
        ),
        (
            json!({ "date": { "lte": "2026-02-01" } }),
            vec!["Leeds depot", "York"],
        ),
        (json!({ "litres": { "eq": "150.00" } }), vec!["Leeds depot"]),
    ];
    for (filter, expected) in cases {
        let rows = list(&t, &s.owner, &fuel, json!({ "f": filter })).await;
        assert_eq!(values_of(&rows, "site"), expected, "filter {filter}");
    }

    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = list(&t, &s.owner, &fuel, json!({ "o": "-litres", "n": 2, "a": after })).await;
        seen.extend(values_of(&page, "site"));
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(
        seen,
        vec!["Hull", "Leeds yard", "Leeds depot", "York", "Bath"],
        "descending by value, nulls last, across pages"
    );

    for (vars, path) in [
        (json!({ "f": { "colour": { "eq": "red" } } }), "filter.colour"),
        (json!({ "f": { "litres": { "gt": "lots" } } }), "filter.litres.gt"),
        (json!({ "f": { "litres": { "like": 1 } } }), "filter.litres.like"),
        (json!({ "o": "colour" }), "orderBy"),
        (json!({ "a": "bm9wZQ" }), "after"),
    ] {
        let mut vars = vars;
        vars["t"] = json!(fuel);
        let refused = t.gql(Some(&s.owner), ROWS, vars).await;
        assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
        assert_eq!(error_fields(&refused), vec![path]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_decide_who_reads_writes_and_sees_restricted_values() {
    let t = TestApp::spawn().await;
    let s = setup(&t).await;
    let editor = t
        .member(&s.owner, &s.company, "ed@example.com", "Ed", "Editor")
        .await;
    let viewer = t
        .member(&s.owner, &s.company, "vi@example.com", "Vi", "Viewer")
        .await;
    let manager = t
        .member(&s.owner, &s.company, "ma@example.com", "Ma", "Manager")
        .await;
    let costs = table(
        &t,
        &manager,
        &s.project,
        "Costs",
        json!([{ "key": "site", "label": "Site", "type": "TEXT" },
               { "key": "cost", "label": "Cost", "type": "DECIMAL", "restricted": true }]),
    )
    .await;
    insert(
        &t,
        &manager,
        &costs,
        json!([{ "site": "Leeds", "cost": "12.50" }]),
    )
    .await;
    let by_editor = insert(&t, &editor, &costs, json!([{ "site": "York" }])).await;
    assert_eq!(
        by_editor[0]["values"],
        json!({ "site": "York" }),
        "restricted values are left out"
    );
    let editor_cost = t
        .gql(
            Some(&editor),
            INSERT,
            json!({ "t": costs, "r": [{ "site": "Hull", "cost": 1 }] }),
        )
        .await;
    assert_eq!(error_fields(&editor_cost), vec!["rows.0.cost"]);
    let null_cost = insert(&t, &editor, &costs, json!([{ "site": "Hull", "cost": null }])).await;
    assert_eq!(
        null_cost[0]["values"],
        json!({ "site": "Hull" }),
        "a null reveals nothing and changes nothing"
    );
    t.ok(Some(&editor), DELETE, json!({ "ids": [null_cost[0]["id"]] }))
        .await;
    let add_field = t
        .gql(
            Some(&editor),
            "mutation($t: ID!) { addField(tableId: $t, field: { key: \"x\", label: \"X\", type: TEXT }) { id } }",
            json!({ "t": costs }),
        )
        .await;
    assert_eq!(error_code(&add_field), "FORBIDDEN");
    let viewer_insert = t
        .gql(
            Some(&viewer),
            INSERT,
            json!({ "t": costs, "r": [{ "site": "Bath" }] }),
        )
        .await;
    assert_eq!(error_code(&viewer_insert), "FORBIDDEN");

    let seen_by_viewer = list(&t, &viewer, &costs, json!({})).await;
    assert_eq!(values_of(&seen_by_viewer, "site"), vec!["Leeds", "York"]);
    assert_eq!(
        seen_by_viewer["edges"][0]["node"]["values"],
        json!({ "site": "Leeds" })
    );
    let by_cost = t
        .gql(
            Some(&viewer),
            ROWS,
            json!({ "t": costs, "f": { "cost": { "gt": 1 } } }),
        )
        .await;
    assert_eq!(
        error_fields(&by_cost),
        vec!["filter.cost"],
        "no filtering on what one cannot read"
    );
    let seen_by_manager = list(&t, &manager, &costs, json!({})).await;
    assert_eq!(
        seen_by_manager["edges"][0]["node"]["values"],
        json!({ "site": "Leeds", "cost": "12.5" })
    );
    let row = &seen_by_viewer["edges"][1]["node"]["id"];
    let viewer_delete = t.gql(Some(&viewer), DELETE, json!({ "ids": [row] })).await;
    assert_eq!(error_code(&viewer_delete), "FORBIDDEN");
    assert_eq!(
        t.ok(Some(&editor), DELETE, json!({ "ids": [row] })).await["deleteRows"],
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn another_companys_rows_are_not_found() {
    let t = TestApp::spawn().await;
    let s = setup(&t).await;
    let fuel = table(&t, &s.owner, &s.project, "Fuel use", fuel_fields()).await;
    let row = insert(&t, &s.owner, &fuel, json!([{ "site": "Leeds" }])).await[0]["id"].clone();
    let rival = t.verified_user("rival@example.com", "Rival").await;
    let theirs = t.create_company(&rival, "Rival Ltd").await;
    let their_project = t.create_project(&rival, &theirs, "Theirs").await;
    let their_table = table(
        &t,
        &rival,
        &their_project,
        "Links",
        json!([{ "key": "name", "label": "Name", "type": "TEXT" }]),
    )
    .await;
    let attempts = [
        t.gql(
            Some(&rival),
            "query($id: ID!) { dataRow(id: $id) { id } }",
            json!({ "id": row }),
        )
        .await,
        t.gql(
            Some(&rival),
            UPDATE,
            json!({ "id": row, "v": { "site": "Mine" } }),
        )
        .await,
        t.gql(Some(&rival), DELETE, json!({ "ids": [row] })).await,
        t.gql(
            Some(&rival),
            INSERT,
            json!({ "t": fuel, "r": [{ "site": "Mine" }] }),
        )
        .await,
        t.gql(Some(&rival), ROWS, json!({ "t": fuel })).await,
        t.gql(
            Some(&s.owner),
            INSERT,
            json!({ "t": their_table, "r": [{ "name": "x" }] }),
        )
        .await,
    ];
    for attempt in &attempts {
        assert_eq!(error_code(attempt), "NOT_FOUND", "{attempt}");
    }
    let mixed = t
        .gql(
            Some(&rival),
            DELETE,
            json!({ "ids": [row, "00000000-0000-0000-0000-000000000009"] }),
        )
        .await;
    assert_eq!(error_code(&mixed), "NOT_FOUND");
    assert_eq!(list(&t, &s.owner, &fuel, json!({})).await["totalCount"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn field_changes_are_checked_against_stored_rows() {
    let t = TestApp::spawn().await;
    let s = setup(&t).await;
    let created = t
        .ok(
            Some(&s.owner),
            CREATE_TABLE,
            json!({ "p": s.project, "n": "Meters", "f": [
                { "key": "code", "label": "Code", "type": "TEXT" },
                { "key": "reading", "label": "Reading", "type": "INTEGER" },
            ] }),
        )
        .await["createDataTable"]
        .clone();
    let meters = created["id"].as_str().unwrap();
    let code_field = &created["fields"][0]["id"];
    let reading_field = &created["fields"][1]["id"];
    let rows = insert(
        &t,
        &s.owner,
        meters,
        json!([{ "code": "M-1", "reading": 10 }, { "code": "m-2", "reading": 10 }, { "code": "M-3" }]),
    )
    .await;
    let update_field = "mutation($id: ID!, $f: FieldInput!) { updateField(id: $id, field: $f) { key type } }";

    let narrowing = t
        .gql(
            Some(&s.owner),
            update_field,
            json!({ "id": code_field, "f": { "key": "code", "label": "Code", "type": "TEXT", "pattern": "^M-" } }),
        )
        .await;
    assert_eq!(error_code(&narrowing), "BAD_USER_INPUT");
    let message = narrowing["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("1 existing row(s)"), "{message}");
    assert!(message.contains(rows[1]["id"].as_str().unwrap()), "{message}");

    let renamed = t
        .gql(
            Some(&s.owner),
            update_field,
            json!({ "id": code_field, "f": { "key": "meter_code", "label": "Code", "type": "TEXT" } }),
        )
        .await;
    assert_eq!(error_fields(&renamed), vec!["field.key"]);

    let unique = t
        .gql(
            Some(&s.owner),
            update_field,
            json!({ "id": reading_field, "f": { "key": "reading", "label": "Reading", "type": "INTEGER", "unique": true } }),
        )
        .await;
    assert!(
        unique["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("1 existing row(s)"),
        "two rows share 10: {unique}"
    );

    t.ok(
        Some(&s.owner),
        update_field,
        json!({ "id": reading_field, "f": { "key": "reading", "label": "Reading", "type": "DECIMAL" } }),
    )
    .await;
    let converted = list(&t, &s.owner, meters, json!({})).await;
    assert_eq!(
        values_of(&converted, "reading"),
        vec![json!("10"), json!("10"), Value::Null]
    );

    let required = t
        .gql(
            Some(&s.owner),
            "mutation($t: ID!) { addField(tableId: $t, field: { key: \"site\", label: \"Site\", type: TEXT, required: true }) { id } }",
            json!({ "t": meters }),
        )
        .await;
    assert!(
        required["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("3 existing row(s)"),
        "{required}"
    );
    t.ok(
        Some(&s.owner),
        "mutation($id: ID!) { removeField(id: $id) }",
        json!({ "id": code_field }),
    )
    .await;
    let stripped = list(&t, &s.owner, meters, json!({})).await;
    assert_eq!(stripped["edges"][0]["node"]["values"], json!({ "reading": "10" }));
}

#[tokio::test(flavor = "multi_thread")]
async fn projects_with_their_tables_and_rows_cost_the_same_statements_for_1_or_6_tables() {
    // Remembered sign-ins and standing do not lapse between the two measured requests, however
    // slowly a loaded machine runs them.
    let t = TestApp::spawn_with(|config| {
        config.session_cache_secs = 3600;
        config.standing_cache_secs = 3600;
    })
    .await;
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let small = t.create_company(&owner, "Small").await;
    let large = t.create_company(&owner, "Large").await;
    for (company, projects, tables) in [(&small, 1, 1), (&large, 3, 2)] {
        for p in 0..projects {
            let project = t.create_project(&owner, company, &format!("P{p}")).await;
            for n in 0..tables {
                let id = table(&t, &owner, &project, &format!("T{n}"), fuel_fields()).await;
                insert(
                    &t,
                    &owner,
                    &id,
                    json!([{ "site": "Leeds" }, { "site": "York", "litres": 2 }]),
                )
                .await;
            }
        }
    }
    let query = "query($c: ID!) { company(id: $c) { projects(first: 10) { edges { node { name
        tables(first: 5) { totalCount edges { node { name fields { key } rows(first: 20) { edges { node { id values version } } } } } } } } } } }";
    t.stop_workers().await;
    // The owner's standing is read once, then remembered: count steady requests only.
    t.ok(Some(&owner), query, json!({ "c": small.id })).await;
    let mut costs = Vec::new();
    for (company, tables) in [(&small, 1), (&large, 6)] {
        // The fewer of two tries: anything else the server runs meanwhile only adds.
        let mut cost = u64::MAX;
        let mut data = Value::Null;
        for _ in 0..2 {
            wait_for_background_work(&t).await;
            let before = t.app.statements.total();
            data = t.ok(Some(&owner), query, json!({ "c": company.id })).await;
            cost = cost.min(t.app.statements.total() - before);
        }
        costs.push(cost);
        let listed: Vec<&Value> = data["company"]["projects"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["node"]["tables"]["edges"].as_array().unwrap())
            .collect();
        assert_eq!(listed.len(), tables);
        for table in listed {
            assert_eq!(values_of(&table["node"]["rows"], "site"), vec!["Leeds", "York"]);
        }
    }
    assert_eq!(costs[0], costs[1], "statements for 1 and 6 tables: {costs:?}");
    assert!(costs[0] <= 20, "{costs:?}");
}

#[derive(diesel::QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
    line: String,
}

/// The field indexes' definitions, read every 50 ms until there are `wanted` of them (at
/// most `tries` times: they are built in the background).
async fn field_indexes(
    conn: &mut diesel_async::AsyncPgConnection,
    wanted: usize,
    tries: usize,
) -> Vec<PlanLine> {
    use diesel_async::RunQueryDsl;
    let indexes = "SELECT pg_get_indexdef(indexrelid) AS \"QUERY PLAN\" FROM pg_index \
                   WHERE indrelid = 'data_rows'::regclass AND indexrelid::regclass::text LIKE 'data_rows_f_%'";
    let mut found = Vec::new();
    for _ in 0..tries {
        found = diesel::sql_query(indexes).load::<PlanLine>(conn).await.unwrap();
        if found.len() == wanted {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn a_big_table_gets_ordered_indexes_for_its_number_and_date_fields() {
    use diesel_async::RunQueryDsl;
    let t = TestApp::spawn_with(|config| config.row_index_threshold = 3).await;
    let s = setup(&t).await;
    let created = t
        .ok(
            Some(&s.owner),
            CREATE_TABLE,
            json!({ "p": s.project, "n": "Fuel use", "f": fuel_fields() }),
        )
        .await["createDataTable"]
        .clone();
    let fuel = created["id"].as_str().unwrap();
    let litres_field = created["fields"][2]["id"].clone();
    let rows = json!([{ "site": "a", "litres": 1 }, { "site": "b", "litres": 200 }, { "site": "c", "date": "2026-01-01" }]);
    insert(&t, &s.owner, fuel, rows).await;
    let mut conn = t.db.connect().await;
    let found = field_indexes(&mut conn, 2, 100).await;
    let definitions: Vec<&str> = found.iter().map(|p| p.line.as_str()).collect();
    assert_eq!(definitions.len(), 2, "{definitions:?}");
    assert!(
        definitions
            .iter()
            .any(|d| d.contains("data_numeric((cells ->> 'litres'::text))")),
        "{definitions:?}"
    );
    assert!(
        definitions.iter().any(|d| d.contains("'date'::text")),
        "{definitions:?}"
    );
    assert!(
        definitions.iter().all(|d| d.contains(fuel)),
        "partial: this table's rows only"
    );

    diesel::sql_query("SET enable_seqscan = off")
        .execute(&mut conn)
        .await
        .unwrap();
    let plan: Vec<PlanLine> = diesel::sql_query(format!(
        "EXPLAIN SELECT r.id FROM data_rows r WHERE r.table_id = '{fuel}' \
         AND data_numeric(r.cells ->> 'litres') > '100'::numeric"
    ))
    .load(&mut conn)
    .await
    .unwrap();
    let plan: Vec<&str> = plan.iter().map(|p| p.line.as_str()).collect();
    assert!(
        plan.iter().any(|l| l.contains("data_rows_f_")),
        "the range filter uses it: {plan:?}"
    );
    assert_eq!(
        values_of(
            &list(&t, &s.owner, fuel, json!({ "f": { "litres": { "gt": 100 } } })).await,
            "site"
        ),
        vec!["b"]
    );

    t.ok(
        Some(&s.owner),
        "mutation($id: ID!) { removeField(id: $id) }",
        json!({ "id": litres_field }),
    )
    .await;
    let found = field_indexes(&mut conn, 1, 100).await;
    assert_eq!(found.len(), 1, "a removed field's index goes too");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_of_row_writes_has_the_table_weighed_once_a_pause_and_the_writes_meanwhile_still_count() {
    let t = TestApp::spawn_with(|config| config.row_index_threshold = 3).await;
    let s = setup(&t).await;
    let fuel = t
        .ok(
            Some(&s.owner),
            CREATE_TABLE,
            json!({ "p": s.project, "n": "Fuel use", "f": fuel_fields() }),
        )
        .await["createDataTable"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    insert(&t, &s.owner, &fuel, json!([{ "site": "a", "litres": 1 }])).await;
    while !t.app.index_builds.idle() {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let weighed = t.app.index_builds.started();
    assert!(weighed >= 1, "the first write has the table weighed at once");

    // Ten more writes at once: none is weighed now, and the table crosses the line.
    for n in 0..10 {
        insert(
            &t,
            &s.owner,
            &fuel,
            json!([{ "site": format!("s{n}"), "litres": n }]),
        )
        .await;
    }
    assert_eq!(
        t.app.index_builds.started(),
        weighed,
        "writes within the pause wait for it"
    );

    // Once the pause is over, one check covers them all, and the indexes come.
    let mut conn = t.db.connect().await;
    let found = field_indexes(&mut conn, 2, 300).await;
    assert_eq!(
        found.len(),
        2,
        "the last writes were weighed: {:?}",
        found.iter().map(|p| &p.line).collect::<Vec<_>>()
    );
    assert_eq!(t.app.index_builds.started(), weighed + 1);
}

/// Waits until no field index reconcile is due or running and no statement ran for a
/// moment, so a statement count sees only the request it measures (a size check waiting
/// out its pause runs on the owner's connection, which the count does not see).
async fn wait_for_background_work(t: &TestApp) {
    // Quiet for four looks in a row: on a loaded machine the listener may take a while to
    // pick up the events of the setup's writes.
    let mut quiet = 0;
    while quiet < 4 {
        let idle = t.app.index_builds.idle();
        let seen = t.app.statements.total();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        quiet = if idle && seen == t.app.statements.total() {
            quiet + 1
        } else {
            0
        };
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_of_plain_row_fields_answers_as_the_general_resolvers_do() {
    let t = TestApp::spawn().await;
    let s = setup(&t).await;
    let viewer = t
        .member(&s.owner, &s.company, "vi@example.com", "Vi", "Viewer")
        .await;
    let fuel = table(
        &t,
        &s.owner,
        &s.project,
        "Fuel",
        json!([{ "key": "site", "label": "Site", "type": "TEXT" },
               { "key": "note", "label": "Note", "type": "LONG_TEXT" },
               { "key": "cost", "label": "Cost", "type": "DECIMAL", "restricted": true }]),
    )
    .await;
    insert(
        &t,
        &s.owner,
        &fuel,
        json!([{ "site": "Leeds \"north\"", "note": "line\nbreak ünïcode", "cost": "12.50" },
               { "site": "York", "cost": "0.1" }, { "site": null }]),
    )
    .await;
    // The plain selection takes the direct path; a directive or a fragment on the same
    // fields takes async-graphql's resolvers. Both must give the same answer, aliases and
    // restricted values included.
    let plain = "edges { __typename cursor at: cursor node { __typename id values version createdAt updatedAt v: values } }";
    let directive = "edges { __typename cursor at: cursor node { __typename id values version createdAt updatedAt v: values @include(if: true) } }";
    let fragment = "edges { ...E }";
    let fragment_definition = "fragment E on DataRowEdge { __typename cursor at: cursor node { __typename id values version createdAt updatedAt v: values } }";
    for token in [&s.owner, &viewer] {
        let mut answers = Vec::new();
        for (selection, definitions) in [(plain, ""), (directive, ""), (fragment, fragment_definition)] {
            let query = format!(
                "query($t: ID!) {{ dataTable(id: $t) {{ rows(first: 10, orderBy: \"site\") {{ {selection} }} }} }} {definitions}"
            );
            let response: Value = t
                .post(Some(token), json!({ "query": query, "variables": { "t": fuel } }))
                .await
                .json()
                .await
                .unwrap();
            assert!(response.get("errors").is_none(), "{response:#}");
            answers.push(response["data"]["dataTable"]["rows"]["edges"].clone());
        }
        assert_eq!(answers[0].as_array().unwrap().len(), 3);
        assert_eq!(answers[0], answers[1]);
        assert_eq!(answers[0], answers[2]);
        let first = &answers[0][0];
        assert_eq!(first["__typename"], "DataRowEdge");
        assert_eq!(first["node"]["__typename"], "DataRow");
        assert_eq!(first["cursor"], first["at"]);
        assert_eq!(first["node"]["values"]["site"], "Leeds \"north\"");
        assert_eq!(first["node"]["values"]["note"], "line\nbreak ünïcode");
        let cost = &first["node"]["values"]["cost"];
        if token == &viewer {
            assert!(cost.is_null(), "a Viewer does not see restricted values");
        } else {
            assert_eq!(cost, "12.5");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_row_whose_stored_values_are_not_an_object_shows_a_reader_without_table_manage_nothing() {
    let t = TestApp::spawn().await;
    let s = setup(&t).await;
    let editor = t
        .member(&s.owner, &s.company, "editor@example.com", "Eddie", "Editor")
        .await;
    let table = table(
        &t,
        &s.owner,
        &s.project,
        "Costs",
        json!([{ "key": "site", "label": "Site", "type": "TEXT" },
               { "key": "cost", "label": "Cost", "type": "DECIMAL", "restricted": true }]),
    )
    .await;
    let row = t
        .ok(
            Some(&s.owner),
            INSERT,
            json!({ "t": table, "r": [{ "site": "Leeds", "cost": "9.5" }] }),
        )
        .await["insertRows"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    use diesel_async::RunQueryDsl;
    let mut conn = t.db.connect().await;
    // The column's constraint keeps every stored value an object; a store that lost it
    // must still show nothing restricted.
    diesel::sql_query("ALTER TABLE data_rows DROP CONSTRAINT data_rows_cells_check")
        .execute(&mut conn)
        .await
        .unwrap();
    diesel::sql_query(format!(
        "UPDATE data_rows SET cells = '[\"cost 9.5\"]'::jsonb WHERE id = '{row}'"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    let read = "query($id: ID!) { dataRow(id: $id) { values } }";
    let seen = t.ok(Some(&editor), read, json!({ "id": row })).await;
    assert_eq!(
        seen["dataRow"]["values"],
        json!({}),
        "nothing restricted can slip out: {seen}"
    );
    let listed = t.ok(Some(&editor), ROWS, json!({ "t": table })).await;
    assert_eq!(
        listed["dataTable"]["rows"]["edges"][0]["node"]["values"],
        json!({}),
        "{listed}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_values_are_reported_in_row_order() {
    let t = TestApp::spawn().await;
    let s = setup(&t).await;
    let table = table(&t, &s.owner, &s.project, "Fuel", fuel_fields()).await;
    let rows: Vec<Value> = (0..12)
        .map(|n| match n {
            2 | 10 => json!({ "site": "Bad", "litres": "-1" }),
            _ => json!({ "site": format!("Site {n}") }),
        })
        .collect();
    let refused = t
        .gql(Some(&s.owner), INSERT, json!({ "t": table, "r": rows }))
        .await;
    assert_eq!(error_fields(&refused), ["rows.2.litres", "rows.10.litres"]);
}
