//! Data tables: typed field definitions, validation, schema history, permissions.

use serde_json::{Value, json};

use crate::helpers::{Company, TestApp, error_code, error_fields};

const CREATE_TABLE: &str = "mutation($p: ID!, $n: String!, $f: [FieldInput!]) { createDataTable(projectId: $p, name: $n, fields: $f) {
    id name schemaVersion fields { key label type required unique position options min max referenceTableId restricted } } }";
const ADD: &str =
    "mutation($t: ID!, $f: FieldInput!) { addField(tableId: $t, field: $f) { id key position } }";
const CHANGES: &str = "query($t: ID!) { dataTable(id: $t) { schemaVersion fields { key position } schemaChanges { totalCount edges { node { change fieldKey before after schemaVersion actor { name } } } } } }";

async fn setup(t: &TestApp) -> (String, Company, String) {
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    let project = t.create_project(&owner, &company, "Footprint").await;
    (owner, company, project)
}

async fn table(t: &TestApp, token: &str, project: &str, name: &str, fields: Value) -> Value {
    t.ok(
        Some(token),
        CREATE_TABLE,
        json!({ "p": project, "n": name, "f": fields }),
    )
    .await["createDataTable"]
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_is_created_with_typed_fields_in_order() {
    let t = TestApp::spawn().await;
    let (owner, _, project) = setup(&t).await;
    let factors = table(
        &t,
        &owner,
        &project,
        "Factors",
        json!([{ "key": "fuel", "label": "Fuel", "type": "TEXT", "unique": true }]),
    )
    .await;
    let fuel = table(
        &t,
        &owner,
        &project,
        "Fuel use",
        json!([
            { "key": "site", "label": "Site", "type": "TEXT", "required": true },
            { "key": "litres", "label": "Litres", "type": "DECIMAL", "min": 0 },
            { "key": "fuel_type", "label": "Fuel type", "type": "SINGLE_SELECT", "options": ["Diesel", "Petrol"] },
            { "key": "factor", "label": "Factor", "type": "REFERENCE", "referenceTableId": factors["id"] },
            { "key": "cost", "label": "Cost", "type": "DECIMAL", "restricted": true },
        ]),
    )
    .await;
    assert_eq!(fuel["schemaVersion"], 1);
    let keys: Vec<&str> = fuel["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["site", "litres", "fuel_type", "factor", "cost"]);
    assert_eq!(fuel["fields"][2]["options"], json!(["Diesel", "Petrol"]));
    assert_eq!(fuel["fields"][3]["referenceTableId"], factors["id"]);
    assert_eq!(fuel["fields"][4]["restricted"], true);
    assert_eq!(fuel["fields"][1]["min"], 0.0);

    let listed = t
        .ok(Some(&owner), "query($p: ID!) { project(id: $p) { tables { totalCount edges { node { name fields { key } } } } } }", json!({ "p": project }))
        .await;
    assert_eq!(listed["project"]["tables"]["totalCount"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn field_definitions_are_validated_field_by_field() {
    let t = TestApp::spawn().await;
    let (owner, _, project) = setup(&t).await;
    let bad = t
        .gql(
            Some(&owner),
            CREATE_TABLE,
            json!({ "p": project, "n": "Bad", "f": [
                { "key": "Fuel Type", "label": "Fuel", "type": "TEXT" },
                { "key": "kind", "label": "Kind", "type": "SINGLE_SELECT" },
                { "key": "qty", "label": "Qty", "type": "INTEGER", "min": 10, "max": 1 },
                { "key": "kind", "label": "Again", "type": "TEXT", "pattern": "([" },
                { "key": "link", "label": "Link", "type": "REFERENCE" },
                { "key": "total", "label": "Total", "type": "FORMULA" },
            ] }),
        )
        .await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");
    assert_eq!(
        error_fields(&bad),
        [
            "fields.0.key",
            "fields.1.options",
            "fields.2.max",
            "fields.3.pattern",
            "fields.4.referenceTableId",
            "fields.5.formula",
            "fields.3.key"
        ]
    );
    let listed = t
        .ok(
            Some(&owner),
            "query($p: ID!) { project(id: $p) { tables { totalCount } } }",
            json!({ "p": project }),
        )
        .await;
    assert_eq!(listed["project"]["tables"]["totalCount"], 0, "nothing stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_field_change_bumps_the_version_and_is_recorded() {
    let t = TestApp::spawn().await;
    let (owner, _, project) = setup(&t).await;
    let fuel = table(
        &t,
        &owner,
        &project,
        "Fuel",
        json!([{ "key": "site", "label": "Site", "type": "TEXT" }]),
    )
    .await;
    let id = fuel["id"].clone();
    let added = t
        .ok(
            Some(&owner),
            ADD,
            json!({ "t": id, "f": { "key": "litres", "label": "Litres", "type": "DECIMAL" } }),
        )
        .await;
    assert_eq!(added["addField"]["position"], 1);
    let duplicate = t
        .gql(
            Some(&owner),
            ADD,
            json!({ "t": id, "f": { "key": "litres", "label": "Again", "type": "TEXT" } }),
        )
        .await;
    assert_eq!(error_code(&duplicate), "CONFLICT");
    let field_id = added["addField"]["id"].clone();
    let update = "mutation($id: ID!, $f: FieldInput!) { updateField(id: $id, field: $f) { label required } }";
    let updated = t
        .ok(Some(&owner), update, json!({ "id": field_id, "f": { "key": "litres", "label": "Litres used", "type": "DECIMAL", "required": true } }))
        .await;
    assert_eq!(
        updated["updateField"],
        json!({ "label": "Litres used", "required": true })
    );
    let site_id = t
        .ok(
            Some(&owner),
            "query($t: ID!) { dataTable(id: $t) { fields { id } } }",
            json!({ "t": id }),
        )
        .await["dataTable"]["fields"][0]["id"]
        .clone();
    t.ok(
        Some(&owner),
        "mutation($id: ID!) { removeField(id: $id) }",
        json!({ "id": site_id }),
    )
    .await;

    let history = t.ok(Some(&owner), CHANGES, json!({ "t": id })).await["dataTable"].clone();
    assert_eq!(history["schemaVersion"], 4);
    assert_eq!(
        history["fields"],
        json!([{ "key": "litres", "position": 0 }]),
        "positions stay dense"
    );
    let changes: Vec<Value> = history["schemaChanges"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    let kinds: Vec<(&str, &str, i64)> = changes
        .iter()
        .map(|c| {
            (
                c["change"].as_str().unwrap(),
                c["fieldKey"].as_str().unwrap(),
                c["schemaVersion"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("field_added", "litres", 2),
            ("field_updated", "litres", 3),
            ("field_removed", "site", 4)
        ]
    );
    assert_eq!(changes[1]["before"]["label"], "Litres");
    assert_eq!(changes[1]["after"]["label"], "Litres used");
    assert_eq!(changes[2]["after"], Value::Null);
    assert_eq!(changes[0]["actor"]["name"], "Owner");
}

#[tokio::test(flavor = "multi_thread")]
async fn table_permissions_archiving_references_and_tenancy() {
    let t = TestApp::spawn().await;
    let (owner, company, project) = setup(&t).await;
    let factors = table(&t, &owner, &project, "Factors", json!([])).await;
    let fuel = table(&t, &owner, &project, "Fuel", json!([{ "key": "factor", "label": "Factor", "type": "REFERENCE", "referenceTableId": factors["id"] }])).await;

    let ed = t.member(&owner, &company, "ed@example.com", "Ed", "Editor").await;
    t.ok(
        Some(&ed),
        "query($t: ID!) { dataTable(id: $t) { name } }",
        json!({ "t": fuel["id"] }),
    )
    .await;
    let add = json!({ "t": fuel["id"], "f": { "key": "note", "label": "Note", "type": "TEXT" } });
    assert_eq!(
        error_code(&t.gql(Some(&ed), ADD, add.clone()).await),
        "FORBIDDEN",
        "fields need table:manage"
    );
    let max = t
        .member(&owner, &company, "max@example.com", "Max", "Manager")
        .await;
    t.ok(Some(&max), ADD, add).await;

    let delete = "mutation($t: ID!) { deleteDataTable(id: $t) }";
    assert_eq!(
        error_code(&t.gql(Some(&owner), delete, json!({ "t": factors["id"] })).await),
        "CONFLICT",
        "still referenced"
    );
    t.ok(Some(&owner), delete, json!({ "t": fuel["id"] })).await;
    t.ok(Some(&owner), delete, json!({ "t": factors["id"] })).await;

    // Another company's table is not found, and cannot be referenced.
    let bob = t.verified_user("bob@example.com", "Bob").await;
    let theirs = t.create_company(&bob, "Theirs").await;
    let their_project = t
        .ok(
            Some(&bob),
            "mutation($c: ID!) { createProject(companyId: $c, name: \"P\") { id } }",
            json!({ "c": theirs.id }),
        )
        .await["createProject"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = table(&t, &bob, &their_project, "Secret", json!([])).await;
    assert_eq!(
        error_code(
            &t.gql(
                Some(&owner),
                "query($t: ID!) { dataTable(id: $t) { name } }",
                json!({ "t": secret["id"] })
            )
            .await
        ),
        "NOT_FOUND"
    );
    let reach = t
        .gql(Some(&owner), CREATE_TABLE, json!({ "p": project, "n": "Sneaky", "f": [{ "key": "x", "label": "X", "type": "REFERENCE", "referenceTableId": secret["id"] }] }))
        .await;
    assert_eq!(error_code(&reach), "NOT_FOUND");

    t.ok(
        Some(&owner),
        "mutation($p: ID!) { archiveProject(id: $p) { id } }",
        json!({ "p": project }),
    )
    .await;
    let archived = t
        .gql(
            Some(&owner),
            CREATE_TABLE,
            json!({ "p": project, "n": "Late", "f": [] }),
        )
        .await;
    assert_eq!(error_code(&archived), "CONFLICT");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_project_whose_tables_are_referenced_from_another_cannot_be_deleted() {
    let t = TestApp::spawn().await;
    let (owner, company, a) = setup(&t).await;
    let b = t
        .ok(
            Some(&owner),
            "mutation($c: ID!) { createProject(companyId: $c, name: \"B\") { id } }",
            json!({ "c": company.id }),
        )
        .await["createProject"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let factors = table(&t, &owner, &a, "Factors", json!([])).await;
    table(&t, &owner, &b, "Use", json!([{ "key": "factor", "label": "Factor", "type": "REFERENCE", "referenceTableId": factors["id"] }])).await;
    t.ok(
        Some(&owner),
        "mutation($p: ID!) { archiveProject(id: $p) { id } }",
        json!({ "p": a }),
    )
    .await;
    let refused = t
        .gql(
            Some(&owner),
            "mutation($p: ID!) { deleteProject(id: $p) }",
            json!({ "p": a }),
        )
        .await;
    assert_eq!(error_code(&refused), "CONFLICT", "{refused}");
}
