//! Projects and project-scoped role grants.

use serde_json::{Value, json};

use crate::helpers::{Company, TestApp, error_code, error_fields};

const CREATE: &str =
    "mutation($c: ID!, $n: String!) { createProject(companyId: $c, name: $n) { id name archived } }";
const GRANT: &str = "mutation($p: ID!, $u: ID!, $r: ID!) { grantProjectRole(projectId: $p, userId: $u, roleId: $r) { user { name } role { name } } }";
const PERMISSIONS: &str =
    "query($c: ID!, $p: ID) { me { permissions(companyId: $c, projectId: $p) { resource action } } }";

async fn project(t: &TestApp, token: &str, company: &Company, name: &str) -> String {
    t.ok(Some(token), CREATE, json!({ "c": company.id, "n": name }))
        .await["createProject"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn holds(data: &Value, resource: &str, action: &str) -> bool {
    data["me"]["permissions"]
        .as_array()
        .unwrap()
        .contains(&json!({ "resource": resource, "action": action }))
}

#[tokio::test(flavor = "multi_thread")]
async fn projects_are_listed_searched_archived_restored_and_deleted() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    let scope1 = project(&t, &owner, &company, "Scope 1 fuels").await;
    project(&t, &owner, &company, "Scope 2 electricity").await;
    let list = "query($c: ID!, $s: String, $a: Boolean) { company(id: $c) { projects(search: $s, includeArchived: $a) { totalCount edges { node { name archived } } } } }";
    let names = |data: &Value| -> Vec<String> {
        data["company"]["projects"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(
            &t.ok(Some(&owner), list, json!({ "c": company.id, "s": "fuel" }))
                .await
        ),
        ["Scope 1 fuels"]
    );

    let delete = "mutation($p: ID!) { deleteProject(id: $p) }";
    assert_eq!(
        error_code(&t.gql(Some(&owner), delete, json!({ "p": scope1 })).await),
        "CONFLICT",
        "archive first"
    );
    t.ok(
        Some(&owner),
        "mutation($p: ID!) { archiveProject(id: $p) { archived } }",
        json!({ "p": scope1 }),
    )
    .await;
    assert_eq!(
        names(&t.ok(Some(&owner), list, json!({ "c": company.id })).await),
        ["Scope 2 electricity"]
    );
    assert_eq!(
        names(
            &t.ok(Some(&owner), list, json!({ "c": company.id, "a": true }))
                .await
        )
        .len(),
        2
    );
    let update = "mutation($p: ID!) { updateProject(id: $p, name: \"Renamed\") { name } }";
    assert_eq!(
        error_code(&t.gql(Some(&owner), update, json!({ "p": scope1 })).await),
        "CONFLICT",
        "archived is read-only"
    );
    t.ok(
        Some(&owner),
        "mutation($p: ID!) { restoreProject(id: $p) { archived } }",
        json!({ "p": scope1 }),
    )
    .await;
    t.ok(Some(&owner), update, json!({ "p": scope1 })).await;
    t.ok(
        Some(&owner),
        "mutation($p: ID!) { archiveProject(id: $p) { id } }",
        json!({ "p": scope1 }),
    )
    .await;
    t.ok(Some(&owner), delete, json!({ "p": scope1 })).await;
    assert_eq!(
        error_code(
            &t.gql(
                Some(&owner),
                "query($p: ID!) { project(id: $p) { id } }",
                json!({ "p": scope1 })
            )
            .await
        ),
        "NOT_FOUND"
    );

    let bad = t
        .gql(Some(&owner), CREATE, json!({ "c": company.id, "n": " " }))
        .await;
    assert_eq!(error_fields(&bad), ["name"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_project_grant_adds_to_the_company_role_in_that_project_only() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    let a = project(&t, &owner, &company, "A").await;
    let b = project(&t, &owner, &company, "B").await;
    let vic = t
        .member(&owner, &company, "vic@example.com", "Vic", "Viewer")
        .await;
    let vic_id = t.user_id(&vic).await;

    let granted = t
        .ok(
            Some(&owner),
            GRANT,
            json!({ "p": a, "u": vic_id, "r": company.role("Manager") }),
        )
        .await;
    assert_eq!(
        granted["grantProjectRole"],
        json!({ "user": { "name": "Vic" }, "role": { "name": "Manager" } })
    );
    let in_a = t
        .ok(Some(&vic), PERMISSIONS, json!({ "c": company.id, "p": a }))
        .await;
    let in_b = t
        .ok(Some(&vic), PERMISSIONS, json!({ "c": company.id, "p": b }))
        .await;
    let company_wide = t.ok(Some(&vic), PERMISSIONS, json!({ "c": company.id })).await;
    assert!(holds(&in_a, "ROW", "CREATE") && holds(&in_a, "PROJECT", "EDIT"));
    assert!(!holds(&in_b, "ROW", "CREATE") && !holds(&company_wide, "PROJECT", "EDIT"));

    let rename = "mutation($p: ID!, $n: String!) { updateProject(id: $p, name: $n) { name } }";
    t.ok(Some(&vic), rename, json!({ "p": a, "n": "A (2026)" })).await;
    assert_eq!(
        error_code(&t.gql(Some(&vic), rename, json!({ "p": b, "n": "Mine" })).await),
        "FORBIDDEN",
        "the grant does not reach B"
    );

    // Inside A, Vic may grant only what the project grant gives them.
    let ed = t.member(&owner, &company, "ed@example.com", "Ed", "Viewer").await;
    let ed_id = t.user_id(&ed).await;
    assert_eq!(
        error_code(
            &t.gql(
                Some(&vic),
                GRANT,
                json!({ "p": a, "u": ed_id, "r": company.role("Admin") })
            )
            .await
        ),
        "FORBIDDEN"
    );
    t.ok(
        Some(&vic),
        GRANT,
        json!({ "p": a, "u": ed_id, "r": company.role("Editor") }),
    )
    .await;
    assert_eq!(
        error_code(
            &t.gql(
                Some(&vic),
                GRANT,
                json!({ "p": b, "u": ed_id, "r": company.role("Editor") })
            )
            .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(
            &t.gql(
                Some(&ed),
                GRANT,
                json!({ "p": a, "u": vic_id, "r": company.role("Viewer") })
            )
            .await
        ),
        "FORBIDDEN"
    );

    let members = t
        .ok(
            Some(&owner),
            "query($p: ID!) { project(id: $p) { members { user { name } role { name } } } }",
            json!({ "p": a }),
        )
        .await;
    assert_eq!(members["project"]["members"].as_array().unwrap().len(), 2);

    let revoke = "mutation($p: ID!, $u: ID!) { revokeProjectRole(projectId: $p, userId: $u) }";
    t.ok(Some(&owner), revoke, json!({ "p": a, "u": vic_id })).await;
    assert_eq!(
        error_code(&t.gql(Some(&vic), rename, json!({ "p": a, "n": "Again" })).await),
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(&t.gql(Some(&owner), revoke, json!({ "p": a, "u": vic_id })).await),
        "NOT_FOUND"
    );

    // Leaving the company takes the remaining grants with it.
    t.ok(
        Some(&ed),
        "mutation($c: ID!) { leaveCompany(companyId: $c) }",
        json!({ "c": company.id }),
    )
    .await;
    let members = t
        .ok(
            Some(&owner),
            "query($p: ID!) { project(id: $p) { members { user { name } } } }",
            json!({ "p": a }),
        )
        .await;
    assert_eq!(members["project"]["members"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn another_companys_projects_are_not_found() {
    let t = TestApp::spawn().await;
    let ann = t.verified_user("ann@example.com", "Ann").await;
    let bob = t.verified_user("bob@example.com", "Bob").await;
    let ours = t.create_company(&ann, "Ours").await;
    let theirs = t.create_company(&bob, "Theirs").await;
    let their_project = project(&t, &bob, &theirs, "Secret").await;
    let ann_id = t.user_id(&ann).await;
    let cases = [
        (
            "query($p: ID!) { project(id: $p) { id } }",
            json!({ "p": their_project }),
        ),
        (
            "mutation($p: ID!) { updateProject(id: $p, name: \"x\") { id } }",
            json!({ "p": their_project }),
        ),
        (
            "mutation($p: ID!) { archiveProject(id: $p) { id } }",
            json!({ "p": their_project }),
        ),
        (
            "mutation($p: ID!) { deleteProject(id: $p) }",
            json!({ "p": their_project }),
        ),
        (
            GRANT,
            json!({ "p": their_project, "u": ann_id, "r": theirs.role("Owner") }),
        ),
        (
            "mutation($p: ID!, $u: ID!) { revokeProjectRole(projectId: $p, userId: $u) }",
            json!({ "p": their_project, "u": ann_id }),
        ),
        (CREATE, json!({ "c": theirs.id, "n": "Planted" })),
        (PERMISSIONS, json!({ "c": ours.id, "p": their_project })),
    ];
    for (query, variables) in cases {
        let response = t.gql(Some(&ann), query, variables).await;
        assert_eq!(error_code(&response), "NOT_FOUND", "{query}: {response}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn grants_respect_rank_archiving_and_company_level_visibility() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    let a = project(&t, &owner, &company, "A").await;
    let max = t
        .member(&owner, &company, "max@example.com", "Max", "Manager")
        .await;
    let ed = t.member(&owner, &company, "ed@example.com", "Ed", "Editor").await;
    let ed_id = t.user_id(&ed).await;
    t.ok(
        Some(&owner),
        GRANT,
        json!({ "p": a, "u": ed_id, "r": company.role("Admin") }),
    )
    .await;

    // A company Manager cannot overwrite or revoke the stronger grant an owner gave.
    let overwrite = t
        .gql(
            Some(&max),
            GRANT,
            json!({ "p": a, "u": ed_id, "r": company.role("Viewer") }),
        )
        .await;
    assert_eq!(error_code(&overwrite), "FORBIDDEN");
    let revoke = "mutation($p: ID!, $u: ID!) { revokeProjectRole(projectId: $p, userId: $u) }";
    assert_eq!(
        error_code(&t.gql(Some(&max), revoke, json!({ "p": a, "u": ed_id })).await),
        "FORBIDDEN"
    );

    // Ed's project Admin grant does not show him company-level member details.
    let members = "query($p: ID!) { project(id: $p) { members { user { name email lastLoginAt } } } }";
    let seen = t.gql(Some(&ed), members, json!({ "p": a })).await;
    assert_eq!(
        seen["data"]["project"]["members"][0]["user"]["email"],
        "ed@example.com"
    );
    let max_id = t.user_id(&max).await;
    t.ok(
        Some(&owner),
        GRANT,
        json!({ "p": a, "u": max_id, "r": company.role("Editor") }),
    )
    .await;
    let seen = t.gql(Some(&ed), members, json!({ "p": a })).await;
    let max_row = seen["data"]["project"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"]["name"] == "Max")
        .unwrap()
        .clone();
    assert_eq!(max_row["user"]["lastLoginAt"], Value::Null);
    assert_eq!(
        error_code(&seen),
        "FORBIDDEN",
        "member:manage comes only from the company role"
    );

    // A role used by a project grant cannot be deleted.
    let create = "mutation($c: ID!) { createRole(input: { companyId: $c, name: \"Reader\", permissions: [{ resource: PROJECT, action: VIEW }] }) { id } }";
    let reader = t.ok(Some(&owner), create, json!({ "c": company.id })).await["createRole"]["id"].clone();
    t.ok(Some(&owner), GRANT, json!({ "p": a, "u": max_id, "r": reader }))
        .await;
    assert_eq!(
        error_code(
            &t.gql(
                Some(&owner),
                "mutation($r: ID!) { deleteRole(id: $r) }",
                json!({ "r": reader })
            )
            .await
        ),
        "CONFLICT"
    );

    // Grants of an archived project are frozen.
    t.ok(
        Some(&owner),
        "mutation($p: ID!) { archiveProject(id: $p) { id } }",
        json!({ "p": a }),
    )
    .await;
    let frozen = t
        .gql(
            Some(&owner),
            GRANT,
            json!({ "p": a, "u": max_id, "r": company.role("Viewer") }),
        )
        .await;
    assert_eq!(error_code(&frozen), "CONFLICT");
}
