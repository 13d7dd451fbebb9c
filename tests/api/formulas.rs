//! Formula fields: checked when defined, computed with exact decimals on every insert,
//! update and import from the row's values and the emission factor in effect on its day,
//! and recomputed when the formula or a factor version changes.

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, error_fields};

const CREATE_TABLE: &str = "mutation($p: ID!, $f: [FieldInput!]) { createDataTable(projectId: $p, name: \"Fuel\", fields: $f) { id fields { id key } } }";
const INSERT: &str = "mutation($t: ID!, $c: ID, $r: [JSON!]!) { insertRows(tableId: $t, cycleId: $c, rows: $r) { id values computedWith } }";
const ROW: &str = "query($id: ID!) { dataRow(id: $id) { values computedWith } }";
const IMPORT: &str = "mutation($t: ID!, $file: Upload!) { importCsv(tableId: $t, csv: $file) { inserted errors { line field message } } }";

fn fuel_fields(co2e: &str) -> Value {
    json!([
        { "key": "date", "label": "Date", "type": "DATE" },
        { "key": "litres", "label": "Litres", "type": "DECIMAL" },
        { "key": "co2e_kg", "label": "CO2e (kg)", "type": "FORMULA", "formula": co2e },
        { "key": "large", "label": "Large", "type": "FORMULA", "formula": "co2e_kg > 1000" },
    ])
}

async fn values(t: &TestApp, token: &str, row: &str) -> Value {
    t.ok(Some(token), ROW, json!({ "id": row })).await["dataRow"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sustainability_manager_computes_emissions_and_watches_them_follow_the_factors() {
    let t = TestApp::spawn().await;
    let olga = t.verified_user("olga@example.com", "Olga").await;
    let company = t.create_company(&olga, "Acme").await;
    let project = t.create_project(&olga, &company, "Carbon").await;

    let broken = t
        .gql(
            Some(&olga),
            CREATE_TABLE,
            json!({ "p": project, "f": fuel_fields("litres * volume") }),
        )
        .await;
    assert_eq!(error_fields(&broken), ["fields.2.formula"], "{broken}");
    assert!(
        broken
            .to_string()
            .contains("at character 10: volume is not a field of this table"),
        "{broken}"
    );

    let created = t
        .ok(
            Some(&olga),
            CREATE_TABLE,
            json!({ "p": project, "f": fuel_fields("litres * factor(\"diesel_litre\")") }),
        )
        .await;
    let table = created["createDataTable"]["id"].as_str().unwrap().to_owned();
    let co2e_field = created["createDataTable"]["fields"][2]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let inserted = t
        .ok(
            Some(&olga),
            INSERT,
            json!({ "t": table, "r": [
                { "date": "2025-02-01", "litres": "1250.5" },
                { "date": "2025-02-02" },
            ] }),
        )
        .await["insertRows"]
        .clone();
    let first = &inserted[0];
    assert_eq!(
        first["values"]["co2e_kg"], "3214.81041",
        "1250.5 × 2.57082, exactly"
    );
    assert_eq!(first["values"]["large"], true);
    assert_eq!(
        inserted[1]["values"]["co2e_kg"],
        Value::Null,
        "no litres, no emissions"
    );
    let used = &first["computedWith"]["co2e_kg"];
    assert_eq!(used["formula"], "litres * factor(\"diesel_litre\")");
    assert_eq!(used["day"], "2025-02-01");
    assert_eq!(used["factors"]["diesel_litre"]["value"], "2.57082");
    assert_eq!(used["factors"]["diesel_litre"]["builtIn"], true);
    let row = first["id"].as_str().unwrap().to_owned();

    let written = t
        .gql(
            Some(&olga),
            INSERT,
            json!({ "t": table, "r": [{ "litres": "1", "co2e_kg": "5" }] }),
        )
        .await;
    assert_eq!(error_fields(&written), ["rows.0.co2e_kg"], "{written}");

    // The company's own factor for 2025 takes over, and the stored rows follow it.
    t.ok(
        Some(&olga),
        "mutation($i: EmissionFactorInput!) { createEmissionFactor(input: $i) { id } }",
        json!({ "i": {
            "companyId": company.id, "key": "diesel_litre", "label": "Our fleet's diesel",
            "value": "2.5", "unit": "litre", "source": "Supplier", "validFrom": "2025-01-01",
        } }),
    )
    .await;
    let now = values(&t, &olga, &row).await;
    assert_eq!(now["values"]["co2e_kg"], "3126.25");
    assert_eq!(
        now["computedWith"]["co2e_kg"]["factors"]["diesel_litre"]["builtIn"],
        false
    );

    t.ok(
        Some(&olga),
        "mutation($id: ID!) { updateRow(id: $id, values: { litres: \"10\" }) { id } }",
        json!({ "id": row }),
    )
    .await;
    let now = values(&t, &olga, &row).await;
    assert_eq!(
        (now["values"]["co2e_kg"].clone(), now["values"]["large"].clone()),
        (json!("25"), json!(false))
    );

    // A new formula recomputes every stored row.
    t.ok(
        Some(&olga),
        "mutation($f: ID!) { updateField(id: $f, field: { key: \"co2e_kg\", label: \"CO2e (t)\", type: FORMULA, formula: \"round(litres * factor('diesel_litre') / 1000, 3)\" }) { id } }",
        json!({ "f": co2e_field }),
    )
    .await;
    assert_eq!(values(&t, &olga, &row).await["values"]["co2e_kg"], "0.025");

    let upload = t
        .upload(
            &olga,
            IMPORT,
            json!({ "t": table }),
            "fuel.csv",
            "date,litres\n2025-03-01,4000\n2025-03-02,0\n",
        )
        .await;
    assert_eq!(upload["data"]["importCsv"]["inserted"], 2, "{upload}");
    let imported = t
        .ok(
            Some(&olga),
            "query($t: ID!) { dataTable(id: $t) { rows(filter: { co2e_kg: { gt: \"5\" }, large: { eq: false } }, orderBy: \"-co2e_kg\") { edges { node { values } } } } }",
            json!({ "t": table }),
        )
        .await;
    let heavy = imported["dataTable"]["rows"]["edges"].as_array().unwrap();
    assert_eq!(heavy.len(), 1, "{imported}");
    assert_eq!(
        heavy[0]["node"]["values"]["co2e_kg"], "10",
        "4000 l × 2.5 kg, in tonnes"
    );

    // A formula reading a restricted field must be restricted too.
    t.ok(
        Some(&olga),
        "mutation($t: ID!) { addField(tableId: $t, field: { key: \"cost\", label: \"Cost\", type: DECIMAL, restricted: true }) { id } }",
        json!({ "t": table }),
    )
    .await;
    let leaky = t
        .gql(
            Some(&olga),
            "mutation($t: ID!) { addField(tableId: $t, field: { key: \"cost_per_litre\", label: \"Cost per litre\", type: FORMULA, formula: \"cost / litres\" }) { id } }",
            json!({ "t": table }),
        )
        .await;
    assert_eq!(error_code(&leaky), "BAD_USER_INPUT", "{leaky}");
    assert!(
        leaky.to_string().contains("make this formula field restricted"),
        "{leaky}"
    );
    t.ok(
        Some(&olga),
        "mutation($t: ID!) { addField(tableId: $t, field: { key: \"cost_per_litre\", label: \"Cost per litre\", type: FORMULA, formula: \"cost / litres\", restricted: true }) { id } }",
        json!({ "t": table }),
    )
    .await;

    // Removing a field a formula reads is refused, naming the formula.
    let litres_field = created["createDataTable"]["fields"][1]["id"].as_str().unwrap();
    let removed = t
        .gql(
            Some(&olga),
            "mutation($f: ID!) { removeField(id: $f) }",
            json!({ "f": litres_field }),
        )
        .await;
    assert!(removed.to_string().contains("the formula of"), "{removed}");
}
