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
