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
    t.recalculated(&olga, &table).await;
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
    t.recalculated(&olga, &table).await;
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

    // Why a restricted formula cannot compute is not told to those it hides values from.
    let priced = t
        .ok(
            Some(&olga),
            INSERT,
            json!({ "t": table, "r": [{ "date": "2025-03-03", "litres": "5", "cost": "10" }] }),
        )
        .await["insertRows"][0]["id"]
        .clone();
    let ed = t.member(&olga, &company, "ed@example.com", "Ed", "Editor").await;
    let update = "mutation($id: ID!, $v: JSON!) { updateRow(id: $id, values: $v) { id } }";
    let hidden = t
        .gql(Some(&ed), update, json!({ "id": priced, "v": { "litres": "0" } }))
        .await;
    assert_eq!(error_fields(&hidden), ["values.cost_per_litre"], "{hidden}");
    assert!(!hidden.to_string().contains("zero"), "{hidden}");
    let told = t
        .gql(
            Some(&olga),
            update,
            json!({ "id": priced, "v": { "litres": "0" } }),
        )
        .await;
    assert!(told.to_string().contains("divides by zero"), "{told}");

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

/// Creates a table of fuel records in `module` with a restricted cost, and returns its id.
async fn fuel_table(t: &TestApp, token: &str, project: &str, module: &str, name: &str) -> String {
    let create = "mutation($p: ID!, $m: ID, $n: String!, $f: [FieldInput!]) { createDataTable(projectId: $p, moduleId: $m, name: $n, fields: $f) { id fields { key unit total } } }";
    let fields = json!([
        { "key": "site", "label": "Site", "type": "TEXT" },
        { "key": "litres", "label": "Litres", "type": "DECIMAL", "unit": "litre" },
        { "key": "co2e_kg", "label": "CO2e", "type": "FORMULA", "formula": "litres * 2", "unit": "kg CO2e", "total": true },
        { "key": "cost", "label": "Cost", "type": "DECIMAL", "restricted": true, "total": true },
    ]);
    let created = t
        .ok(
            Some(token),
            create,
            json!({ "p": project, "m": module, "n": name, "f": fields }),
        )
        .await;
    let table = &created["createDataTable"];
    assert_eq!(
        table["fields"][2],
        json!({ "key": "co2e_kg", "unit": "kg CO2e", "total": true })
    );
    table["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn summaries_add_up_exactly_per_group_cycle_and_scope() {
    let t = TestApp::spawn().await;
    let olga = t.verified_user("olga@example.com", "Olga").await;
    let company = t.create_company(&olga, "Acme").await;
    let project = t.create_project(&olga, &company, "Carbon").await;
    let module = |scope: i32| {
        let t = &t;
        let olga = &olga;
        let project = &project;
        async move {
            t.ok(
                Some(olga),
                "mutation($p: ID!, $s: Int) { createModule(projectId: $p, name: \"Scope\", scope: $s) { id } }",
                json!({ "p": project, "s": scope }),
            )
            .await["createModule"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let (scope1, scope2) = (module(1).await, module(2).await);
    let cycle = |name: &'static str, starts: &'static str, ends: &'static str| {
        let t = &t;
        let olga = &olga;
        let project = &project;
        async move {
            t.ok(
                Some(olga),
                "mutation($p: ID!, $n: String!, $s: String!, $e: String!) { createCycle(projectId: $p, name: $n, startsOn: $s, endsOn: $e) { id } }",
                json!({ "p": project, "n": name, "s": starts, "e": ends }),
            )
            .await["createCycle"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let q1 = cycle("Q1", "2025-01-01", "2025-03-31").await;
    let q2 = cycle("Q2", "2025-04-01", "2025-06-30").await;
    let fleet = fuel_table(&t, &olga, &project, &scope1, "Fleet").await;
    let power = fuel_table(&t, &olga, &project, &scope2, "Power").await;
    let insert = |table: &str, cycle: &str, rows: Value| {
        let vars = json!({ "t": table, "c": cycle, "r": rows });
        let t = &t;
        let olga = &olga;
        async move { t.ok(Some(olga), INSERT, vars).await }
    };
    insert(
        &fleet,
        &q1,
        json!([
            { "site": "Leeds", "litres": "0.1", "cost": "10" },
            { "site": "Leeds", "litres": "0.2", "cost": "20" },
            { "site": "York", "litres": "1.05" },
        ]),
    )
    .await;
    insert(&fleet, &q2, json!([{ "site": "Leeds", "litres": "100" }])).await;
    insert(&power, &q1, json!([{ "site": "Leeds", "litres": "3.3" }])).await;

    // Units are checked against the factors' when a formula is defined.
    let add = "mutation($t: ID!, $k: String!, $f: String!) { addField(tableId: $t, field: { key: $k, label: \"X\", type: FORMULA, formula: $f }) { id } }";
    let wrong_unit = t
        .gql(
            Some(&olga),
            add,
            json!({ "t": fleet, "k": "grid", "f": "litres * factor('uk_electricity_kwh')" }),
        )
        .await;
    assert_eq!(error_fields(&wrong_unit), ["field.formula"], "{wrong_unit}");
    assert!(
        wrong_unit.to_string().contains(
            "at character 8: litres is in litre, but factor(\\\"uk_electricity_kwh\\\") is per kWh"
        ),
        "{wrong_unit}"
    );
    let unknown = t
        .gql(
            Some(&olga),
            add,
            json!({ "t": fleet, "k": "typo", "f": "factor('diesel_litr') * litres" }),
        )
        .await;
    assert!(
        unknown.to_string().contains("no emission factor diesel_litr"),
        "{unknown}"
    );
    t.ok(
        Some(&olga),
        add,
        json!({ "t": power, "k": "diesel", "f": "factor('diesel_litre') * litres" }),
    )
    .await;

    let summary = "query($t: ID!, $c: ID, $g: [String!], $m: [SummaryMetricInput!]!) { dataTable(id: $t) { summary(cycleId: $c, groupBy: $g, metrics: $m) { key values } } }";
    let metrics = json!([
        { "field": "litres", "op": "SUM" }, { "field": "co2e_kg", "op": "SUM" },
        { "field": "litres", "op": "AVG" }, { "field": "litres", "op": "MAX" },
        { "field": "cost", "op": "COUNT" },
    ]);
    let by_site = t
        .ok(
            Some(&olga),
            summary,
            json!({ "t": fleet, "c": q1, "g": ["site"], "m": metrics }),
        )
        .await["dataTable"]["summary"]
        .clone();
    assert_eq!(
        by_site,
        json!([
            { "key": { "site": "Leeds" }, "values": { "sum_litres": "0.3", "sum_co2e_kg": "0.6", "avg_litres": "0.15", "max_litres": "0.2", "count_cost": 2 } },
            { "key": { "site": "York" }, "values": { "sum_litres": "1.05", "sum_co2e_kg": "2.1", "avg_litres": "1.05", "max_litres": "1.05", "count_cost": 0 } },
        ])
    );
    let whole = t
        .ok(
            Some(&olga),
            summary,
            json!({ "t": fleet, "m": [{ "field": "litres", "op": "SUM" }] }),
        )
        .await;
    assert_eq!(
        whole["dataTable"]["summary"],
        json!([{ "key": {}, "values": { "sum_litres": "101.35" } }])
    );

    let bad = t
        .gql(
            Some(&olga),
            summary,
            json!({ "t": fleet, "g": ["nope"], "m": [{ "field": "site", "op": "SUM" }] }),
        )
        .await;
    let mut fields = error_fields(&bad);
    fields.sort();
    assert_eq!(fields, ["groupBy.0", "metrics.0.field"], "{bad}");

    // The project rolls its total fields up by scope; cost is restricted, so an editor
    // without table:manage sees only the emissions.
    let project_summary = "query($p: ID!, $c: ID) { project(id: $p) { summary(cycleId: $c) } }";
    let q1_totals = t
        .ok(Some(&olga), project_summary, json!({ "p": project, "c": q1 }))
        .await["project"]["summary"]
        .clone();
    assert_eq!(
        q1_totals["scopes"]["1"],
        json!({ "co2e_kg": "2.7", "cost": "30" })
    );
    assert_eq!(
        q1_totals["scopes"]["2"],
        json!({ "co2e_kg": "6.6", "cost": null })
    );
    assert_eq!(q1_totals["units"]["co2e_kg"], "kg CO2e");
    let ed = t.member(&olga, &company, "ed@example.com", "Ed", "Editor").await;
    let all_year =
        t.ok(Some(&ed), project_summary, json!({ "p": project })).await["project"]["summary"].clone();
    assert_eq!(all_year["scopes"]["1"], json!({ "co2e_kg": "202.7" }));
    let hidden = t
        .gql(
            Some(&ed),
            summary,
            json!({ "t": fleet, "m": [{ "field": "cost", "op": "SUM" }] }),
        )
        .await;
    assert_eq!(error_fields(&hidden), ["metrics.0.field"], "{hidden}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sync_reads_only_the_rows_written_since_its_last_run() {
    let t = TestApp::spawn().await;
    let olga = t.verified_user("olga@example.com", "Olga").await;
    let company = t.create_company(&olga, "Acme").await;
    let project = t.create_project(&olga, &company, "Carbon").await;
    let created = t
        .ok(
            Some(&olga),
            CREATE_TABLE,
            json!({ "p": project, "f": fuel_fields("litres * 2") }),
        )
        .await;
    let table = created["createDataTable"]["id"].as_str().unwrap().to_owned();
    let rows = t
        .ok(
            Some(&olga),
            INSERT,
            json!({ "t": table, "r": [{ "litres": "1" }, { "litres": "2" }] }),
        )
        .await["insertRows"]
        .clone();
    let since = "query($t: ID!, $s: DateTime) { dataTable(id: $t) { rows(updatedSince: $s) { totalCount edges { node { id values updatedAt } } } } }";
    let all = t.ok(Some(&olga), since, json!({ "t": table })).await;
    assert_eq!(all["dataTable"]["rows"]["totalCount"], 2);
    let last_run = all["dataTable"]["rows"]["edges"][1]["node"]["updatedAt"].clone();
    t.advance(chrono::Duration::seconds(5));
    t.ok(
        Some(&olga),
        "mutation($id: ID!) { updateRow(id: $id, values: { litres: \"7\" }) { id } }",
        json!({ "id": rows[0]["id"] }),
    )
    .await;
    let changed = t
        .ok(Some(&olga), since, json!({ "t": table, "s": last_run }))
        .await;
    let edges = changed["dataTable"]["rows"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 1, "{changed}");
    assert_eq!(edges[0]["node"]["id"], rows[0]["id"]);
    assert_eq!(edges[0]["node"]["values"]["co2e_kg"], "14");
    assert_eq!(changed["dataTable"]["rows"]["totalCount"], 1);

    // Recomputed values are changes too: a new formula rewrites both rows.
    let second_run = edges[0]["node"]["updatedAt"].clone();
    t.advance(chrono::Duration::seconds(5));
    t.ok(
        Some(&olga),
        "mutation($f: ID!) { updateField(id: $f, field: { key: \"co2e_kg\", label: \"CO2e\", type: FORMULA, formula: \"litres * 3\" }) { id } }",
        json!({ "f": created["createDataTable"]["fields"][2]["id"] }),
    )
    .await;
    t.recalculated(&olga, &table).await;
    let recomputed = t
        .ok(Some(&olga), since, json!({ "t": table, "s": second_run }))
        .await;
    let values: Vec<&Value> = recomputed["dataTable"]["rows"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| &edge["node"]["values"]["co2e_kg"])
        .collect();
    assert_eq!(values, [&json!("21"), &json!("6")], "{recomputed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_formula_is_recomputed_in_the_background_saying_which_rows_are_not_done_yet() {
    let t = TestApp::spawn().await;
    let olga = t.verified_user("olga@example.com", "Olga").await;
    let company = t.create_company(&olga, "Acme").await;
    let project = t.create_project(&olga, &company, "Carbon").await;
    let created = t
        .ok(
            Some(&olga),
            "mutation($p: ID!, $f: [FieldInput!]) { createDataTable(projectId: $p, name: \"Ratios\", fields: $f) { id fields { id } } }",
            json!({ "p": project, "f": [
                { "key": "litres", "label": "Litres", "type": "DECIMAL" },
                { "key": "divisor", "label": "Divisor", "type": "DECIMAL" },
                { "key": "ratio", "label": "Ratio", "type": "FORMULA", "formula": "litres / 2" },
            ] }),
        )
        .await;
    let table = created["createDataTable"]["id"].as_str().unwrap().to_owned();
    let ratio_field = created["createDataTable"]["fields"][2]["id"].clone();
    let rows: Vec<String> = t
        .ok(
            Some(&olga),
            INSERT,
            json!({ "t": table, "r": [
                { "litres": "10", "divisor": "2" },
                { "litres": "4", "divisor": "0" },
                { "litres": "1", "divisor": "1" },
            ] }),
        )
        .await["insertRows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["id"].as_str().unwrap().to_owned())
        .collect();

    // With the worker held back, the change commits at once and the rows say they wait.
    t.stop_workers().await;
    let changed = t
        .ok(
            Some(&olga),
            "mutation($f: ID!) { updateField(id: $f, field: { key: \"ratio\", label: \"Ratio\", type: FORMULA, formula: \"litres / divisor\" }) { id } }",
            json!({ "f": ratio_field }),
        )
        .await;
    assert!(changed["updateField"]["id"].is_string());
    let progress = "query($t: ID!) { dataTable(id: $t) { calcVersion recalculation { reason calcVersion total done failed } } }";
    let waiting = t.ok(Some(&olga), progress, json!({ "t": table })).await["dataTable"].clone();
    let calc_version = waiting["calcVersion"].as_i64().unwrap();
    assert_eq!(
        waiting["recalculation"],
        json!({ "reason": "field ratio changed", "calcVersion": calc_version, "total": 3, "done": 0, "failed": 0 })
    );
    let stale = values(&t, &olga, &rows[2]).await;
    assert_eq!(
        stale["values"]["ratio"], "0.5",
        "the old value until it is recomputed"
    );
    assert_eq!(
        stale["computedWith"]["ratio"],
        json!({ "calcVersion": calc_version - 1, "current": false })
    );
    let fresh = t
        .ok(
            Some(&olga),
            INSERT,
            json!({ "t": table, "r": [{ "litres": "9", "divisor": "3" }] }),
        )
        .await["insertRows"][0]
        .clone();
    assert_eq!(
        fresh["values"]["ratio"], "3",
        "new rows use the new formula at once"
    );
    assert_eq!(fresh["computedWith"]["ratio"]["current"], true);
    assert_eq!(fresh["computedWith"]["ratio"]["formula"], "litres / divisor");

    // The worker walks the rows; a row that cannot compute keeps its value and is named.
    let (_keep_running, running) = tokio::sync::watch::channel(false);
    guildhall::rows::recalculate::spawn(t.app.clone(), running);
    t.recalculated(&olga, &table).await;
    let done = values(&t, &olga, &rows[2]).await;
    assert_eq!(done["values"]["ratio"], "1");
    assert_eq!(done["computedWith"]["ratio"]["calcVersion"], calc_version);
    assert_eq!(done["computedWith"]["ratio"]["current"], true);
    let failed = values(&t, &olga, &rows[1]).await;
    assert_eq!(failed["values"]["ratio"], "2");
    assert_eq!(failed["computedWith"]["ratio"]["current"], false);
    let events = t
        .ok(
            Some(&olga),
            "query($c: ID!) { company(id: $c) { activity(first: 1) { edges { node { verb summary data } } } } }",
            json!({ "c": company.id }),
        )
        .await["company"]["activity"]["edges"][0]["node"]
        .clone();
    assert_eq!(events["verb"], "table.recalculated", "{events}");
    assert_eq!(events["data"]["done"], 4, "{events}");
    assert_eq!(events["data"]["changed"], 1, "{events}");
    assert_eq!(events["data"]["failed"], 1, "{events}");
    assert_eq!(events["data"]["failures"][0]["rowId"], rows[1], "{events}");
    assert!(
        events["data"]["failures"][0]["message"]
            .as_str()
            .unwrap()
            .contains("divides by zero"),
        "{events}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_cycle_keeps_its_figures_until_it_is_reopened() {
    let t = TestApp::spawn().await;
    let olga = t.verified_user("olga@example.com", "Olga").await;
    let company = t.create_company(&olga, "Acme").await;
    let project = t.create_project(&olga, &company, "Carbon").await;
    let created = t
        .ok(
            Some(&olga),
            CREATE_TABLE,
            json!({ "p": project, "f": [
                { "key": "litres", "label": "Litres", "type": "DECIMAL" },
                { "key": "co2e_kg", "label": "CO2e", "type": "FORMULA", "formula": "litres * 2" },
            ] }),
        )
        .await;
    let table = created["createDataTable"]["id"].as_str().unwrap().to_owned();
    let cycle = t
        .ok(
            Some(&olga),
            "mutation($p: ID!) { createCycle(projectId: $p, name: \"Q1\", startsOn: \"2025-01-01\", endsOn: \"2025-03-31\") { id } }",
            json!({ "p": project }),
        )
        .await["createCycle"]["id"]
        .clone();
    let row = t
        .ok(
            Some(&olga),
            INSERT,
            json!({ "t": table, "c": cycle, "r": [{ "litres": "10" }] }),
        )
        .await["insertRows"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    t.ok(
        Some(&olga),
        "mutation($id: ID!) { closeCycle(id: $id) { id } }",
        json!({ "id": cycle }),
    )
    .await;
    t.ok(
        Some(&olga),
        "mutation($f: ID!) { updateField(id: $f, field: { key: \"co2e_kg\", label: \"CO2e\", type: FORMULA, formula: \"litres * 3\" }) { id } }",
        json!({ "f": created["createDataTable"]["fields"][1]["id"] }),
    )
    .await;
    t.recalculated(&olga, &table).await;
    let closed = values(&t, &olga, &row).await;
    assert_eq!(closed["values"]["co2e_kg"], "20", "reported as it was closed");
    assert_eq!(closed["computedWith"]["co2e_kg"]["current"], false);

    t.ok(
        Some(&olga),
        "mutation($id: ID!) { reopenCycle(id: $id) { id } }",
        json!({ "id": cycle }),
    )
    .await;
    t.recalculated(&olga, &table).await;
    let reopened = values(&t, &olga, &row).await;
    assert_eq!(reopened["values"]["co2e_kg"], "30");
    assert_eq!(reopened["computedWith"]["co2e_kg"]["current"], true);
}
