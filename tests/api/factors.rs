//! The emission-factor library: the shipped defaults with their citations, a company's own
//! versions overriding them for their period, and who may change what.

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, error_fields};

const LIST: &str = "query($c: ID!, $s: String, $on: String) { company(id: $c) { emissionFactors(search: $s, on: $on) { id key value unit source basis licence sourceYear validFrom validTo builtIn } } }";
const CREATE: &str = "mutation($i: EmissionFactorInput!) { createEmissionFactor(input: $i) { id key value builtIn validFrom validTo } }";
const DELETE: &str = "mutation($id: ID!) { deleteEmissionFactor(id: $id) }";

async fn factors(t: &TestApp, token: &str, company: &str, search: &str, on: Option<&str>) -> Vec<Value> {
    let data = t
        .ok(Some(token), LIST, json!({ "c": company, "s": search, "on": on }))
        .await;
    data["company"]["emissionFactors"].as_array().unwrap().clone()
}

fn override_2024(company: &str) -> Value {
    json!({
        "companyId": company, "key": "uk_electricity_kwh", "label": "Our supplier's grid mix",
        "value": "0.18500", "unit": "kWh", "source": "Supplier disclosure", "sourceYear": 2024,
        "validFrom": "2024-01-01", "validTo": "2024-12-31",
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn defaults_carry_their_citations_and_a_company_version_overrides_them_for_its_period() {
    let t = TestApp::spawn().await;
    let olga = t.verified_user("olga@example.com", "Olga").await;
    let company = t.create_company(&olga, "Acme").await;
    let vera = t
        .member(&olga, &company, "vera@example.com", "Vera", "Viewer")
        .await;

    let versions = factors(&t, &vera, &company.id, "uk_electricity", None).await;
    assert_eq!(versions.len(), 4, "{versions:?}");
    let in_2024 = factors(&t, &vera, &company.id, "Grid electricity", Some("2024-06-01")).await;
    assert_eq!(in_2024.len(), 1, "{in_2024:?}");
    let default = &in_2024[0];
    assert_eq!(default["value"], "0.20705");
    assert_eq!(default["unit"], "kWh");
    assert_eq!(default["builtIn"], true);
    assert_eq!(default["sourceYear"], 2024);
    assert_eq!(default["licence"], "Open Government Licence v3.0");
    assert!(default["source"].as_str().unwrap().contains("DESNZ"));
    assert!(
        default["source"]
            .as_str()
            .unwrap()
            .contains("secondary quotation")
    );
    assert!(default["basis"].as_str().unwrap().starts_with("kg CO2e per kWh"));

    // A viewer sees factors but does not change them.
    let refused = t
        .gql(Some(&vera), CREATE, json!({ "i": override_2024(&company.id) }))
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");

    let bad = t
        .gql(
            Some(&olga),
            CREATE,
            json!({ "i": {
                "companyId": company.id, "key": "Grid Mix", "label": "x", "value": "lots", "unit": "kWh",
                "source": "s", "validFrom": "2024-12-31", "validTo": "2024-01-01",
            } }),
        )
        .await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT", "{bad}");
    let mut fields = error_fields(&bad);
    fields.sort();
    assert_eq!(fields, ["input.key", "input.validTo", "input.value"], "{bad}");

    let created = t
        .ok(Some(&olga), CREATE, json!({ "i": override_2024(&company.id) }))
        .await;
    let own = &created["createEmissionFactor"];
    assert_eq!(own["builtIn"], false);
    assert_eq!(own["value"], "0.185", "exact and canonical");
    let again = t
        .gql(Some(&olga), CREATE, json!({ "i": override_2024(&company.id) }))
        .await;
    assert_eq!(error_code(&again), "CONFLICT", "{again}");
    let mut per_litre = override_2024(&company.id);
    per_litre["unit"] = json!("litre");
    per_litre["validFrom"] = json!("2026-01-01");
    per_litre["validTo"] = Value::Null;
    let other_unit = t.gql(Some(&olga), CREATE, json!({ "i": per_litre })).await;
    assert_eq!(error_fields(&other_unit), ["input.unit"], "{other_unit}");

    let on = |day: &'static str| factors(&t, &vera, &company.id, "uk_electricity_kwh", Some(day));
    assert_eq!(on("2024-06-01").await[0]["value"], "0.185");
    assert_eq!(on("2024-06-01").await[0]["builtIn"], false);
    assert_eq!(on("2023-06-01").await[0]["value"], "0.20707");
    assert_eq!(on("2025-03-01").await[0]["value"], "0.17700");

    // Another company neither sees nor deletes it; the defaults are read-only.
    let other = t.verified_user("otto@example.com", "Otto").await;
    let elsewhere = t.create_company(&other, "Elsewhere").await;
    let theirs = factors(
        &t,
        &other,
        &elsewhere.id,
        "uk_electricity_kwh",
        Some("2024-06-01"),
    )
    .await;
    assert_eq!(theirs[0]["builtIn"], true);
    let id = own["id"].as_str().unwrap();
    let stranger = t.gql(Some(&other), DELETE, json!({ "id": id })).await;
    assert_eq!(error_code(&stranger), "NOT_FOUND", "{stranger}");
    let built_in = t.gql(Some(&olga), DELETE, json!({ "id": default["id"] })).await;
    assert_eq!(error_code(&built_in), "FORBIDDEN", "{built_in}");

    t.ok(Some(&olga), DELETE, json!({ "id": id })).await;
    assert_eq!(on("2024-06-01").await[0]["builtIn"], true);
    let activity = t
        .ok(
            Some(&olga),
            "query($c: ID!) { company(id: $c) { activity(first: 5) { edges { node { verb } } } } }",
            json!({ "c": company.id }),
        )
        .await["company"]["activity"]
        .to_string();
    assert!(
        activity.contains("factor.created") && activity.contains("factor.deleted"),
        "{activity}"
    );
}

const IMPORT: &str = "mutation($c: ID!, $file: Upload!, $mapping: Upload, $mode: ImportMode) { importEmissionFactors(companyId: $c, csv: $file, mapping: $mapping, mode: $mode) { added unchanged rejected rowsToRecalculate errors { line field message } } }";

/// A DESNZ flat file as the government publishes it (title lines, then the header).
const DESNZ_2026: &str = "\
Greenhouse gas reporting: conversion factors 2026,,,,,,,,,
ID,Scope,Level 1,Level 2,Level 3,Level 4,Column Text,UOM,GHG/Unit,GHG Conversion Factor 2026
1,Scope 1,Fuels,Liquid fuels,Diesel (average biofuel blend),,,litres,kg CO2e,2.6
2,Scope 1,Fuels,Liquid fuels,Diesel (average biofuel blend),,,litres,kg CO2e of CO2 per unit,2.55
3,Scope 1,Fuels,Liquid fuels,Diesel (average biofuel blend),,,tonnes,kg CO2e,3150.1
4,Scope 2,UK electricity,Electricity generated,Electricity: UK,,,kWh,kg CO2e,
";

#[tokio::test(flavor = "multi_thread")]
async fn a_desnz_flat_file_becomes_the_companys_versions_through_a_mapping_and_rows_follow() {
    let t = TestApp::spawn().await;
    let olga = t.verified_user("olga@example.com", "Olga").await;
    let company = t.create_company(&olga, "Acme").await;
    let vera = t
        .member(&olga, &company, "vera@example.com", "Vera", "Viewer")
        .await;
    let project = t.create_project(&olga, &company, "Carbon").await;
    let table = t
        .ok(
            Some(&olga),
            "mutation($p: ID!, $f: [FieldInput!]) { createDataTable(projectId: $p, name: \"Fuel\", fields: $f) { id } }",
            json!({ "p": project, "f": [
                { "key": "date", "label": "Date", "type": "DATE" },
                { "key": "litres", "label": "Litres", "type": "DECIMAL", "unit": "litres" },
                { "key": "co2e_kg", "label": "CO2e (kg)", "type": "FORMULA", "formula": "litres * factor('diesel_litre')" },
            ] }),
        )
        .await["createDataTable"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let row = t
        .ok(
            Some(&olga),
            "mutation($t: ID!, $r: [JSON!]!) { insertRows(tableId: $t, rows: $r) { id values } }",
            json!({ "t": table, "r": [{ "date": "2026-03-01", "litres": "100" }] }),
        )
        .await["insertRows"][0]
        .clone();
    assert_eq!(row["values"]["co2e_kg"], "257.082", "the default of 2025 on");
    let import = |token: &'static str, mapping: &'static str| {
        let (t, company) = (&t, company.id.clone());
        let token = if token == "vera" {
            vera.clone()
        } else {
            olga.clone()
        };
        async move {
            t.upload_files(
                &token,
                IMPORT,
                json!({ "c": company }),
                &[
                    ("file", "desnz-2026.csv", DESNZ_2026),
                    ("mapping", "mapping.csv", mapping),
                ],
            )
            .await
        }
    };

    // Every bad line of either file is reported, and nothing is stored.
    let refused = import(
        "olga",
        "key,Level 3,UOM,GHG/Unit\n\
         diesel_litre,Diesel (average biofuel blend),litres,kg CO2e\n\
         diesel_any,Diesel (average biofuel blend),,\n\
         petrol_litre,Petrol,litres,kg CO2e\n\
         uk_electricity_kwh,Electricity: UK,kWh,kg CO2e\n",
    )
    .await;
    let outcome = &refused["data"]["importEmissionFactors"];
    assert_eq!(outcome["added"], 0, "{refused}");
    assert_eq!(outcome["rejected"], 3, "{refused}");
    let errors: Vec<(i64, String)> = outcome["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_i64().unwrap(),
                e["field"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            (3, "mapping".to_owned()),
            (4, "mapping".to_owned()),
            (6, "value".to_owned())
        ],
        "{refused}"
    );
    assert!(
        refused.to_string().contains("matches 3 lines of the file"),
        "{refused}"
    );
    let own = factors(&t, &olga, &company.id, "diesel_litre", Some("2026-06-01")).await;
    assert_eq!(own[0]["builtIn"], true, "an all-or-nothing import stored nothing");

    // A viewer may not import; a good mapping turns the 2026 line into the company's version.
    let mapping = "key,Level 3,UOM,GHG/Unit,label\n\
                   diesel_litre,Diesel (average biofuel blend),litres,kg CO2e,Diesel (DESNZ 2026)\n";
    let forbidden = import("vera", mapping).await;
    assert_eq!(error_code(&forbidden), "FORBIDDEN", "{forbidden}");
    let imported = import("olga", mapping).await;
    let outcome = &imported["data"]["importEmissionFactors"];
    assert_eq!(outcome["added"], 1, "{imported}");
    assert_eq!(outcome["rowsToRecalculate"], 1, "{imported}");
    t.recalculated(&vera, &table).await;
    let in_2026 = &factors(&t, &vera, &company.id, "diesel_litre", Some("2026-06-01")).await[0];
    assert_eq!(in_2026["builtIn"], false);
    assert_eq!(in_2026["value"], "2.6");
    assert_eq!(in_2026["validFrom"], "2026-01-01");
    assert_eq!(in_2026["validTo"], "2026-12-31");
    assert_eq!(in_2026["sourceYear"], 2026);
    assert!(
        in_2026["source"]
            .as_str()
            .unwrap()
            .contains("DESNZ) 2026, flat file, ID 1")
    );
    assert_eq!(in_2026["basis"], "kg CO2e per litres (Scope 1)");
    let stored = t
        .ok(
            Some(&vera),
            "query($id: ID!) { dataRow(id: $id) { values computedWith } }",
            json!({ "id": row["id"] }),
        )
        .await["dataRow"]
        .clone();
    assert_eq!(stored["values"]["co2e_kg"], "260", "100 × 2.6, exactly");
    assert_eq!(
        stored["computedWith"]["co2e_kg"]["factors"]["diesel_litre"]["builtIn"],
        false
    );

    // The same file again changes nothing; a different value for the same year is refused.
    let again = import("olga", mapping).await;
    assert_eq!(again["data"]["importEmissionFactors"]["unchanged"], 1, "{again}");
    assert_eq!(again["data"]["importEmissionFactors"]["added"], 0, "{again}");
    let restated = t
        .upload_files(
            &olga,
            IMPORT,
            json!({ "c": company.id }),
            &[
                ("file", "desnz-2026.csv", &DESNZ_2026.replace(",2.6\n", ",2.7\n")),
                ("mapping", "mapping.csv", mapping),
            ],
        )
        .await;
    let restated = &restated["data"]["importEmissionFactors"];
    assert_eq!(restated["rejected"], 1, "{restated}");
    assert!(
        restated["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("a version never changes"),
        "{restated}"
    );
    let activity = t
        .ok(
            Some(&olga),
            "query($c: ID!) { company(id: $c) { activity(first: 5) { edges { node { verb data } } } } }",
            json!({ "c": company.id }),
        )
        .await["company"]["activity"]
        .to_string();
    assert!(activity.contains("factor.imported"), "{activity}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_loads_default_sets_at_startup_and_the_shipped_file_is_what_the_migration_holds() {
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/emission-factors.csv");
    let t = TestApp::spawn_with(|config| config.default_factors_file = Some(shipped.clone())).await;
    guildhall::server::import_default_factors(&t.app)
        .await
        .expect("the shipped file imports as it is");
    let olga = t.verified_user("olga@example.com", "Olga").await;
    let company = t.create_company(&olga, "Acme").await;
    assert_eq!(
        factors(&t, &olga, &company.id, "", None).await.len(),
        10,
        "nothing added twice"
    );

    // A DESNZ set for a new year joins the defaults; a bad one stops the start, naming its lines.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("desnz.csv");
    let mapping = dir.path().join("mapping.csv");
    std::fs::write(&file, DESNZ_2026).unwrap();
    std::fs::write(&mapping, "key,ID\ndiesel_litre,1\n").unwrap();
    let mut config = t.app.config.clone();
    config.default_factors_file = Some(file.clone());
    config.default_factors_mapping = Some(mapping.clone());
    let operator = guildhall::app::AppBuilder::new(config.clone()).build().unwrap();
    guildhall::server::import_default_factors(&operator)
        .await
        .unwrap();
    let in_2026 = &factors(&t, &olga, &company.id, "diesel_litre", Some("2026-06-01")).await[0];
    assert_eq!(in_2026["builtIn"], true);
    assert_eq!(in_2026["value"], "2.6");

    std::fs::write(
        &mapping,
        "key,ID\ndiesel_litre,1\nuk_electricity_kwh,4\nnobody,99\n",
    )
    .unwrap();
    let failed = guildhall::server::import_default_factors(&operator)
        .await
        .unwrap_err()
        .to_string();
    assert!(failed.contains("DEFAULT_FACTORS_FILE"), "{failed}");
    assert!(failed.contains("2 line(s) refused"), "{failed}");
    assert!(failed.contains("line 6 (value): must be a decimal"), "{failed}");
    assert!(
        failed.contains("mapping line 4: key nobody matches no line"),
        "{failed}"
    );
}
