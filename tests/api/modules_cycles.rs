//! Modules (ordered sections of a project) and reporting cycles (non-overlapping periods).

use serde_json::{Value, json};

use crate::helpers::{Company, TestApp, error_code, error_fields};

const CREATE_MODULE: &str = "mutation($p: ID!, $n: String!, $s: Int) { createModule(projectId: $p, name: $n, scope: $s) { id name scope position } }";
const MODULES: &str = "query($p: ID!) { project(id: $p) { modules { name position } } }";
const CREATE_CYCLE: &str = "mutation($p: ID!, $n: String!, $s: String!, $e: String!) { createCycle(projectId: $p, name: $n, startsOn: $s, endsOn: $e) { id name startsOn endsOn status } }";

async fn setup(t: &TestApp) -> (String, Company, String) {
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    let project = t.create_project(&owner, &company, "Footprint").await;
    (owner, company, project)
}

fn order(data: &Value) -> Vec<(String, i64)> {
    data["project"]["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m["position"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn modules_keep_a_dense_order_and_a_scope_of_one_to_three() {
    let t = TestApp::spawn().await;
    let (owner, _, project) = setup(&t).await;
    let mut ids = Vec::new();
    for (name, scope) in [("Scope 1", 1), ("Scope 2", 2), ("Scope 3", 3)] {
        let made = t
            .ok(
                Some(&owner),
                CREATE_MODULE,
                json!({ "p": project, "n": name, "s": scope }),
            )
            .await;
        ids.push(made["createModule"]["id"].as_str().unwrap().to_owned());
    }
    let bad = t
        .gql(
            Some(&owner),
            CREATE_MODULE,
            json!({ "p": project, "n": "Scope 4", "s": 4 }),
        )
        .await;
    assert_eq!(error_fields(&bad), ["scope"]);

    let data = t.ok(Some(&owner), MODULES, json!({ "p": project })).await;
    assert_eq!(
        order(&data),
        [
            ("Scope 1".into(), 0),
            ("Scope 2".into(), 1),
            ("Scope 3".into(), 2)
        ]
    );
    let moved = t
        .ok(
            Some(&owner),
            "mutation($m: ID!) { updateModule(id: $m, position: 0) { position } }",
            json!({ "m": ids[2] }),
        )
        .await;
    assert_eq!(moved["updateModule"]["position"], 0);
    let data = t.ok(Some(&owner), MODULES, json!({ "p": project })).await;
    assert_eq!(
        order(&data),
        [
            ("Scope 3".into(), 0),
            ("Scope 1".into(), 1),
            ("Scope 2".into(), 2)
        ]
    );
    t.ok(
        Some(&owner),
        "mutation($m: ID!) { deleteModule(id: $m) }",
        json!({ "m": ids[0] }),
    )
    .await;
    let data = t.ok(Some(&owner), MODULES, json!({ "p": project })).await;
    assert_eq!(order(&data), [("Scope 3".into(), 0), ("Scope 2".into(), 1)]);
    let cleared = t
        .ok(
            Some(&owner),
            "mutation($m: ID!) { updateModule(id: $m, scope: null) { scope } }",
            json!({ "m": ids[1] }),
        )
        .await;
    assert_eq!(cleared["updateModule"]["scope"], Value::Null);

    t.ok(
        Some(&owner),
        "mutation($p: ID!) { archiveProject(id: $p) { id } }",
        json!({ "p": project }),
    )
    .await;
    let archived = t
        .gql(Some(&owner), CREATE_MODULE, json!({ "p": project, "n": "Late" }))
        .await;
    assert_eq!(error_code(&archived), "CONFLICT");
}

#[tokio::test(flavor = "multi_thread")]
async fn cycles_are_dated_never_overlap_and_close_with_cycle_manage() {
    let t = TestApp::spawn().await;
    let (owner, company, project) = setup(&t).await;
    let q1 = t
        .ok(
            Some(&owner),
            CREATE_CYCLE,
            json!({ "p": project, "n": "Q1", "s": "2026-01-01", "e": "2026-03-31" }),
        )
        .await;
    assert_eq!(
        q1["createCycle"],
        json!({ "id": q1["createCycle"]["id"], "name": "Q1", "startsOn": "2026-01-01", "endsOn": "2026-03-31", "status": "OPEN" })
    );
    t.ok(
        Some(&owner),
        CREATE_CYCLE,
        json!({ "p": project, "n": "Q2", "s": "2026-04-01", "e": "2026-06-30" }),
    )
    .await;
    let overlap = t
        .gql(
            Some(&owner),
            CREATE_CYCLE,
            json!({ "p": project, "n": "Mar-Apr", "s": "2026-03-15", "e": "2026-04-15" }),
        )
        .await;
    assert_eq!(error_code(&overlap), "CONFLICT");
    let backwards = t
        .gql(
            Some(&owner),
            CREATE_CYCLE,
            json!({ "p": project, "n": "X", "s": "2026-09-30", "e": "2026-07-01" }),
        )
        .await;
    assert_eq!(error_fields(&backwards), ["endsOn"]);
    let garbage = t
        .gql(
            Some(&owner),
            CREATE_CYCLE,
            json!({ "p": project, "n": "X", "s": "30/09/2026", "e": "2026-13-01" }),
        )
        .await;
    assert_eq!(error_fields(&garbage), ["startsOn", "endsOn"]);

    let id = q1["createCycle"]["id"].clone();
    let ed = t.member(&owner, &company, "ed@example.com", "Ed", "Editor").await;
    assert_eq!(
        error_code(
            &t.gql(
                Some(&ed),
                "mutation($c: ID!) { closeCycle(id: $c) { status } }",
                json!({ "c": id })
            )
            .await
        ),
        "FORBIDDEN"
    );
    let closed = t
        .ok(
            Some(&owner),
            "mutation($c: ID!) { closeCycle(id: $c) { status } }",
            json!({ "c": id }),
        )
        .await;
    assert_eq!(closed["closeCycle"]["status"], "CLOSED");
    assert_eq!(
        error_code(
            &t.gql(
                Some(&ed),
                "mutation($c: ID!) { reopenCycle(id: $c) { status } }",
                json!({ "c": id })
            )
            .await
        ),
        "FORBIDDEN"
    );
    let reopened = t
        .ok(
            Some(&owner),
            "mutation($c: ID!) { reopenCycle(id: $c) { status } }",
            json!({ "c": id }),
        )
        .await;
    assert_eq!(reopened["reopenCycle"]["status"], "OPEN");

    let listed = t
        .ok(
            Some(&ed),
            "query($p: ID!) { project(id: $p) { cycles { name } } }",
            json!({ "p": project }),
        )
        .await;
    assert_eq!(
        listed["project"]["cycles"],
        json!([{ "name": "Q1" }, { "name": "Q2" }])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_racing_overlapping_cycles_leave_exactly_one() {
    let t = TestApp::spawn().await;
    let (owner, company, project) = setup(&t).await;
    let first = json!({ "p": project, "n": "H1", "s": "2027-01-01", "e": "2027-06-30" });
    let second = json!({ "p": project, "n": "Spring", "s": "2027-03-01", "e": "2027-05-31" });
    let (a, b) = tokio::join!(
        t.gql(Some(&owner), CREATE_CYCLE, first),
        t.gql(Some(&owner), CREATE_CYCLE, second)
    );
    let conflicts = [&a, &b].iter().filter(|r| error_code(r) == "CONFLICT").count();
    assert_eq!(conflicts, 1, "{a} {b}");
    let listed = t
        .ok(
            Some(&owner),
            "query($p: ID!) { project(id: $p) { cycles { name } } }",
            json!({ "p": project }),
        )
        .await;
    assert_eq!(listed["project"]["cycles"].as_array().unwrap().len(), 1);
    // The same dates in another project are fine.
    let other = t
        .ok(
            Some(&owner),
            "mutation($c: ID!) { createProject(companyId: $c, name: \"Other\") { id } }",
            json!({ "c": company.id }),
        )
        .await["createProject"]["id"]
        .clone();
    t.ok(
        Some(&owner),
        CREATE_CYCLE,
        json!({ "p": other, "n": "H1", "s": "2027-01-01", "e": "2027-06-30" }),
    )
    .await;
}
