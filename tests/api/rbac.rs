//! Roles and permissions: the built-in matrix, custom roles, escalation, field guards.

use serde_json::{Value, json};

use crate::helpers::{Company, TestApp, error_code, error_fields};

/// The issue's table, written out independently of the code: resource → actions per role
/// (Owner, Admin, Manager, Editor, Viewer).
const TABLE: &[(&str, &str, [&str; 5])] = &[
    (
        "COMPANY",
        "VIEW EDIT DELETE MANAGE",
        [
            "VIEW EDIT DELETE MANAGE",
            "VIEW EDIT MANAGE",
            "VIEW",
            "VIEW",
            "VIEW",
        ],
    ),
    (
        "MEMBER",
        "VIEW MANAGE",
        ["VIEW MANAGE", "VIEW MANAGE", "VIEW", "VIEW", "VIEW"],
    ),
    (
        "INVITATION",
        "VIEW CREATE DELETE",
        ["VIEW CREATE DELETE", "VIEW CREATE DELETE", "VIEW CREATE", "", ""],
    ),
    (
        "ROLE",
        "VIEW MANAGE",
        ["VIEW MANAGE", "VIEW MANAGE", "VIEW", "VIEW", "VIEW"],
    ),
    (
        "PROJECT",
        "VIEW CREATE EDIT DELETE MANAGE",
        ["*", "*", "*", "VIEW", "VIEW"],
    ),
    (
        "MODULE",
        "VIEW CREATE EDIT DELETE",
        ["*", "*", "*", "VIEW", "VIEW"],
    ),
    (
        "CYCLE",
        "VIEW CREATE EDIT DELETE MANAGE",
        ["*", "*", "*", "VIEW", "VIEW"],
    ),
    (
        "TABLE",
        "VIEW CREATE EDIT DELETE MANAGE",
        ["*", "*", "*", "VIEW", "VIEW"],
    ),
    (
        "ROW",
        "VIEW CREATE EDIT DELETE EXPORT",
        ["*", "*", "*", "VIEW CREATE EDIT DELETE EXPORT", "VIEW"],
    ),
    ("AUDIT", "VIEW EXPORT", ["*", "*", "", "", ""]),
    ("API_KEY", "MANAGE", ["*", "*", "", "", ""]),
    ("WEBHOOK", "MANAGE", ["*", "*", "", "", ""]),
    ("FACTOR", "VIEW MANAGE", ["*", "*", "*", "VIEW", "VIEW"]),
];
const ROLES: [&str; 5] = ["Owner", "Admin", "Manager", "Editor", "Viewer"];

fn expected(resource: &str, action: &str, role_index: usize) -> bool {
    let (_, _, cells) = TABLE.iter().find(|(r, _, _)| *r == resource).unwrap();
    let cell = cells[role_index];
    cell == "*" || cell.split_whitespace().any(|a| a == action)
}

struct Team {
    company: Company,
    tokens: Vec<String>,
    target: String,
    /// A project that is never archived (view, edit, delete attempts).
    project: String,
    /// A project the manage attempts archive.
    archivable: String,
    /// A module of `project`, for edit attempts.
    module: String,
    /// A cycle of `project`, for close attempts.
    cycle: String,
    /// A data table of `project`, for view, edit and field attempts.
    table: String,
}

async fn team(t: &TestApp) -> Team {
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    let mut tokens = vec![owner.clone()];
    for role in &ROLES[1..] {
        let email = format!("{}@example.com", role.to_lowercase());
        tokens.push(t.member(&owner, &company, &email, role, role).await);
    }
    let target = t
        .member(&owner, &company, "target@example.com", "Target", "Viewer")
        .await;
    let target = t.user_id(&target).await;
    let create = "mutation($c: ID!, $n: String!) { createProject(companyId: $c, name: $n) { id } }";
    let project = t
        .ok(Some(&owner), create, json!({ "c": company.id, "n": "Scope 1" }))
        .await["createProject"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let archivable = t
        .ok(Some(&owner), create, json!({ "c": company.id, "n": "Old" }))
        .await["createProject"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let module = t
        .ok(
            Some(&owner),
            "mutation($p: ID!) { createModule(projectId: $p, name: \"Scope 1\", scope: 1) { id } }",
            json!({ "p": project }),
        )
        .await["createModule"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cycle_query = "mutation($p: ID!) { createCycle(projectId: $p, name: \"FY1999\", startsOn: \"1999-01-01\", endsOn: \"1999-12-31\") { id } }";
    let cycle = t.ok(Some(&owner), cycle_query, json!({ "p": project })).await["createCycle"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let table_query = "mutation($p: ID!) { createDataTable(projectId: $p, name: \"Fuel\") { id } }";
    let table = t.ok(Some(&owner), table_query, json!({ "p": project })).await["createDataTable"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Team {
        company,
        tokens,
        target,
        project,
        archivable,
        module,
        cycle,
        table,
    }
}

/// Runs the operation that needs (resource, action), if one exists yet; Some(allowed).
async fn attempt(
    t: &TestApp,
    team: &Team,
    token: &str,
    resource: &str,
    action: &str,
    cell: usize,
) -> Option<bool> {
    let c = &team.company;
    let owner = &team.tokens[0];
    let response = match (resource, action) {
        ("COMPANY", "VIEW") => {
            t.gql(
                Some(token),
                "query($c: ID!) { company(id: $c) { name } }",
                json!({ "c": c.id }),
            )
            .await
        }
        ("COMPANY", "EDIT") => {
            let update =
                "mutation($c: ID!) { updateCompany(input: { companyId: $c, industry: \"Energy\" }) { id } }";
            t.gql(Some(token), update, json!({ "c": c.id })).await
        }
        ("COMPANY", "DELETE") => {
            // A wrong confirmation: allowed callers get BAD_USER_INPUT and nothing is deleted.
            let delete = "mutation($c: ID!) { deleteCompany(companyId: $c, confirmName: \"not the name\") }";
            let response = t.gql(Some(token), delete, json!({ "c": c.id })).await;
            return Some(error_code(&response) == "BAD_USER_INPUT");
        }
        ("MEMBER", "VIEW") => {
            t.gql(
                Some(token),
                "query($c: ID!) { company(id: $c) { members { totalCount } } }",
                json!({ "c": c.id }),
            )
            .await
        }
        ("MEMBER", "MANAGE") => {
            let change = "mutation($c: ID!, $u: ID!, $r: ID!) { changeMemberRole(companyId: $c, userId: $u, roleId: $r) { id } }";
            t.gql(
                Some(token),
                change,
                json!({ "c": c.id, "u": team.target, "r": c.role("Viewer") }),
            )
            .await
        }
        ("INVITATION", "VIEW") => {
            let query = "query($c: ID!) { company(id: $c) { invitations { totalCount } } }";
            let response = t.gql(Some(token), query, json!({ "c": c.id })).await;
            return Some(response["data"]["company"]["invitations"].is_object());
        }
        ("INVITATION", "CREATE") => {
            let invite = "mutation($c: ID!, $r: ID!, $e: String!) { inviteMember(input: { companyId: $c, email: $e, roleId: $r }) { id } }";
            let email = format!("cell{cell}@example.com");
            t.gql(
                Some(token),
                invite,
                json!({ "c": c.id, "r": c.role("Viewer"), "e": email }),
            )
            .await
        }
        ("INVITATION", "DELETE") => {
            let invite = "mutation($c: ID!, $r: ID!, $e: String!) { inviteMember(input: { companyId: $c, email: $e, roleId: $r }) { id } }";
            let email = format!("revoke{cell}@example.com");
            let made = t
                .ok(
                    Some(owner),
                    invite,
                    json!({ "c": c.id, "r": c.role("Viewer"), "e": email }),
                )
                .await;
            let id = made["inviteMember"]["id"].clone();
            t.gql(
                Some(token),
                "mutation($i: ID!) { revokeInvitation(id: $i) { id } }",
                json!({ "i": id }),
            )
            .await
        }
        ("ROLE", "VIEW") => {
            t.gql(
                Some(token),
                "query($c: ID!) { company(id: $c) { roles { id } } }",
                json!({ "c": c.id }),
            )
            .await
        }
        ("ROLE", "MANAGE") => {
            let create = "mutation($c: ID!, $n: String!) { createRole(input: { companyId: $c, name: $n, permissions: [] }) { id } }";
            t.gql(
                Some(token),
                create,
                json!({ "c": c.id, "n": format!("Empty {cell}") }),
            )
            .await
        }
        ("PROJECT", "VIEW") => {
            t.gql(
                Some(token),
                "query($p: ID!) { project(id: $p) { name } }",
                json!({ "p": team.project }),
            )
            .await
        }
        ("PROJECT", "CREATE") => {
            let create = "mutation($c: ID!, $n: String!) { createProject(companyId: $c, name: $n) { id } }";
            t.gql(
                Some(token),
                create,
                json!({ "c": c.id, "n": format!("Project {cell}") }),
            )
            .await
        }
        ("PROJECT", "EDIT") => {
            let update =
                "mutation($p: ID!) { updateProject(id: $p, description: \"Scope 1 emissions\") { id } }";
            t.gql(Some(token), update, json!({ "p": team.project })).await
        }
        ("PROJECT", "DELETE") => {
            // The project is not archived: allowed callers get CONFLICT and nothing is deleted.
            let delete = "mutation($p: ID!) { deleteProject(id: $p) }";
            let response = t.gql(Some(token), delete, json!({ "p": team.project })).await;
            return Some(error_code(&response) == "CONFLICT");
        }
        ("PROJECT", "MANAGE") => {
            t.gql(
                Some(token),
                "mutation($p: ID!) { archiveProject(id: $p) { id } }",
                json!({ "p": team.archivable }),
            )
            .await
        }
        ("MODULE", "VIEW") => {
            t.gql(
                Some(token),
                "query($p: ID!) { project(id: $p) { modules { id } } }",
                json!({ "p": team.project }),
            )
            .await
        }
        ("MODULE", "CREATE") => {
            let create = "mutation($p: ID!, $n: String!) { createModule(projectId: $p, name: $n) { id } }";
            t.gql(
                Some(token),
                create,
                json!({ "p": team.project, "n": format!("Module {cell}") }),
            )
            .await
        }
        ("MODULE", "EDIT") => {
            let update =
                "mutation($m: ID!) { updateModule(id: $m, description: \"Direct emissions\") { id } }";
            t.gql(Some(token), update, json!({ "m": team.module })).await
        }
        ("MODULE", "DELETE") => {
            let create = "mutation($p: ID!) { createModule(projectId: $p, name: \"Doomed\") { id } }";
            let made = t.ok(Some(owner), create, json!({ "p": team.project })).await;
            t.gql(
                Some(token),
                "mutation($m: ID!) { deleteModule(id: $m) }",
                json!({ "m": made["createModule"]["id"] }),
            )
            .await
        }
        ("CYCLE", "VIEW") => {
            t.gql(
                Some(token),
                "query($p: ID!) { project(id: $p) { cycles { id } } }",
                json!({ "p": team.project }),
            )
            .await
        }
        ("CYCLE", "CREATE") => {
            let create = "mutation($p: ID!, $s: String!, $e: String!) { createCycle(projectId: $p, name: \"Year\", startsOn: $s, endsOn: $e) { id } }";
            let year = 2000 + cell;
            t.gql(
                Some(token),
                create,
                json!({ "p": team.project, "s": format!("{year}-01-01"), "e": format!("{year}-12-31") }),
            )
            .await
        }
        ("TABLE", "VIEW") => {
            t.gql(
                Some(token),
                "query($t: ID!) { dataTable(id: $t) { name } }",
                json!({ "t": team.table }),
            )
            .await
        }
        ("TABLE", "CREATE") => {
            let create = "mutation($p: ID!, $n: String!) { createDataTable(projectId: $p, name: $n) { id } }";
            t.gql(
                Some(token),
                create,
                json!({ "p": team.project, "n": format!("Table {cell}") }),
            )
            .await
        }
        ("TABLE", "EDIT") => {
            let update = "mutation($t: ID!) { updateDataTable(id: $t, description: \"Fuel use\") { id } }";
            t.gql(Some(token), update, json!({ "t": team.table })).await
        }
        ("TABLE", "DELETE") => {
            let create = "mutation($p: ID!) { createDataTable(projectId: $p, name: \"Doomed\") { id } }";
            let made = t.ok(Some(owner), create, json!({ "p": team.project })).await;
            t.gql(
                Some(token),
                "mutation($t: ID!) { deleteDataTable(id: $t) }",
                json!({ "t": made["createDataTable"]["id"] }),
            )
            .await
        }
        ("TABLE", "MANAGE") => {
            let add = "mutation($t: ID!, $k: String!) { addField(tableId: $t, field: { key: $k, label: \"Note\", type: TEXT }) { id } }";
            t.gql(
                Some(token),
                add,
                json!({ "t": team.table, "k": format!("note_{cell}") }),
            )
            .await
        }
        ("FACTOR", "VIEW") => {
            t.gql(
                Some(token),
                "query($c: ID!) { company(id: $c) { emissionFactors(search: \"diesel\") { key } } }",
                json!({ "c": c.id }),
            )
            .await
        }
        ("FACTOR", "MANAGE") => {
            let create = "mutation($i: EmissionFactorInput!) { createEmissionFactor(input: $i) { id } }";
            let input = json!({
                "companyId": c.id, "key": format!("site_{cell}"), "label": "Site mix",
                "value": "0.1", "unit": "kWh", "source": "Meter",
            });
            t.gql(Some(token), create, json!({ "i": input })).await
        }
        ("CYCLE", "MANAGE") => {
            t.gql(
                Some(token),
                "mutation($c: ID!) { closeCycle(id: $c) { id } }",
                json!({ "c": team.cycle }),
            )
            .await
        }
        _ => return None,
    };
    match error_code(&response) {
        "<no error>" => Some(true),
        "FORBIDDEN" => Some(false),
        other => panic!("{resource}:{action} answered {other}: {response}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_built_in_role_holds_exactly_the_permissions_of_the_table() {
    let t = TestApp::spawn().await;
    let team = team(&t).await;
    let mut failures = Vec::new();
    let mut cell = 0;
    for (role_index, role) in ROLES.iter().enumerate() {
        let token = &team.tokens[role_index];
        let granted = t
            .ok(
                Some(token),
                "query($c: ID!) { me { permissions(companyId: $c) { resource action } } }",
                json!({ "c": team.company.id }),
            )
            .await;
        let granted: Vec<(String, String)> = granted["me"]["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["resource"].as_str().unwrap().to_owned(),
                    p["action"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        for (resource, actions, _) in TABLE {
            for action in actions.split_whitespace() {
                cell += 1;
                let want = expected(resource, action, role_index);
                let has = granted.iter().any(|(r, a)| r == resource && a == action);
                if has != want {
                    failures.push(format!(
                        "{role} {resource}:{action}: me.permissions says {has}, table says {want}"
                    ));
                }
                if let Some(allowed) = attempt(&t, &team, token, resource, action, cell).await
                    && allowed != want
                {
                    failures.push(format!(
                        "{role} {resource}:{action}: operation allowed={allowed}, table says {want}"
                    ));
                }
            }
        }
        let extra: Vec<_> = granted
            .iter()
            .filter(|(r, a)| {
                !TABLE
                    .iter()
                    .any(|(res, acts, _)| res == r && acts.split_whitespace().any(|x| x == a))
            })
            .collect();
        if !extra.is_empty() {
            failures.push(format!("{role} holds permissions outside the catalog: {extra:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_catalog_lists_each_meaningful_pair_with_a_description() {
    let t = TestApp::spawn().await;
    let catalog = t
        .ok(
            None,
            "{ permissionCatalog { resource action description } }",
            json!({}),
        )
        .await;
    let catalog = catalog["permissionCatalog"].as_array().unwrap();
    let pairs: usize = TABLE
        .iter()
        .map(|(_, actions, _)| actions.split_whitespace().count())
        .sum();
    assert_eq!(catalog.len(), pairs);
    assert!(
        catalog
            .iter()
            .all(|p| p["description"].as_str().is_some_and(|d| d.len() > 5))
    );
    assert!(
        !catalog
            .iter()
            .any(|p| p["resource"] == "COMPANY" && p["action"] == "EXPORT")
    );
}

const CREATE_ROLE: &str = "mutation($input: RoleInput!) { createRole(input: $input) { id name builtIn permissions { resource action } } }";
const CHANGE_ROLE: &str = "mutation($c: ID!, $u: ID!, $r: ID!) { changeMemberRole(companyId: $c, userId: $u, roleId: $r) { role { name } } }";

fn perms(pairs: &[(&str, &str)]) -> Value {
    json!(
        pairs
            .iter()
            .map(|(r, a)| json!({ "resource": r, "action": a }))
            .collect::<Vec<_>>()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_owner_defines_an_auditor_role_and_its_holder_obeys_it_field_by_field() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    let auditor_perms = [
        ("COMPANY", "VIEW"),
        ("MEMBER", "VIEW"),
        ("ROLE", "VIEW"),
        ("PROJECT", "VIEW"),
        ("MODULE", "VIEW"),
        ("CYCLE", "VIEW"),
        ("TABLE", "VIEW"),
        ("ROW", "VIEW"),
        ("ROW", "EXPORT"),
        ("AUDIT", "VIEW"),
    ];
    let input = json!({ "input": { "companyId": company.id, "name": "Auditor", "description": "Reads everything", "permissions": perms(&auditor_perms) } });
    let created = t.ok(Some(&owner), CREATE_ROLE, input).await["createRole"].clone();
    assert_eq!(created["builtIn"], Value::Null);
    assert_eq!(
        created["permissions"].as_array().unwrap().len(),
        auditor_perms.len()
    );
    let role_id = created["id"].as_str().unwrap().to_owned();

    let aud = t
        .member(&owner, &company, "aud@example.com", "Aud", "Viewer")
        .await;
    let aud_id = t.user_id(&aud).await;
    t.ok(
        Some(&owner),
        CHANGE_ROLE,
        json!({ "c": company.id, "u": aud_id, "r": role_id }),
    )
    .await;

    let mine = t
        .ok(
            Some(&aud),
            "query($c: ID!) { me { permissions(companyId: $c) { resource action } } }",
            json!({ "c": company.id }),
        )
        .await;
    assert!(
        mine["me"]["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!({ "resource": "AUDIT", "action": "VIEW" }))
    );
    let seen = t
        .gql(Some(&aud), "query($c: ID!) { company(id: $c) { name myRole { name } members { totalCount } invitations { totalCount } } }", json!({ "c": company.id }))
        .await;
    assert_eq!(seen["data"]["company"]["myRole"]["name"], "Auditor");
    assert_eq!(seen["data"]["company"]["members"]["totalCount"], 2);
    assert_eq!(seen["data"]["company"]["invitations"], Value::Null);
    assert_eq!(seen["errors"][0]["path"], json!(["company", "invitations"]));
    let update = "mutation($c: ID!) { updateCompany(input: { companyId: $c, industry: \"x\" }) { id } }";
    assert_eq!(
        error_code(&t.gql(Some(&aud), update, json!({ "c": company.id })).await),
        "FORBIDDEN"
    );

    // Editing the role changes what its holder may do on their very next request.
    let mut more = auditor_perms.to_vec();
    more.push(("INVITATION", "VIEW"));
    let edit = "mutation($id: ID!, $input: RoleInput!) { updateRole(id: $id, input: $input) { permissions { resource } } }";
    t.ok(Some(&owner), edit, json!({ "id": role_id, "input": { "companyId": company.id, "name": "Auditor", "permissions": perms(&more) } }))
        .await;
    let now = t
        .gql(
            Some(&aud),
            "query($c: ID!) { company(id: $c) { invitations { totalCount } } }",
            json!({ "c": company.id }),
        )
        .await;
    assert_eq!(now["data"]["company"]["invitations"]["totalCount"], 1, "{now}");

    // A role still held cannot go; once nobody holds it, it can.
    let delete = "mutation($id: ID!) { deleteRole(id: $id) }";
    assert_eq!(
        error_code(&t.gql(Some(&owner), delete, json!({ "id": role_id })).await),
        "CONFLICT"
    );
    t.ok(
        Some(&owner),
        CHANGE_ROLE,
        json!({ "c": company.id, "u": aud_id, "r": company.role("Viewer") }),
    )
    .await;
    t.ok(Some(&owner), delete, json!({ "id": role_id })).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn nobody_grants_more_than_they_hold() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    let keeper_perms = [
        ("COMPANY", "VIEW"),
        ("MEMBER", "VIEW"),
        ("MEMBER", "MANAGE"),
        ("ROLE", "VIEW"),
        ("ROLE", "MANAGE"),
    ];
    let input = json!({ "input": { "companyId": company.id, "name": "Role keeper", "permissions": perms(&keeper_perms) } });
    let keeper_role = t.ok(Some(&owner), CREATE_ROLE, input).await["createRole"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let keeper = t
        .member(&owner, &company, "keeper@example.com", "Keeper", "Viewer")
        .await;
    let keeper_id = t.user_id(&keeper).await;
    t.ok(
        Some(&owner),
        CHANGE_ROLE,
        json!({ "c": company.id, "u": keeper_id, "r": keeper_role }),
    )
    .await;

    let beyond = json!({ "input": { "companyId": company.id, "name": "Inviter", "permissions": perms(&[("INVITATION", "CREATE")]) } });
    let refused = t.gql(Some(&keeper), CREATE_ROLE, beyond).await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("invitation:create")
    );
    let within = json!({ "input": { "companyId": company.id, "name": "Lookers", "permissions": perms(&[("MEMBER", "VIEW")]) } });
    t.ok(Some(&keeper), CREATE_ROLE, within).await;

    let vic = t
        .member(&owner, &company, "vic@example.com", "Vic", "Viewer")
        .await;
    let vic_id = t.user_id(&vic).await;
    let to_admin = t
        .gql(
            Some(&keeper),
            CHANGE_ROLE,
            json!({ "c": company.id, "u": vic_id, "r": company.role("Admin") }),
        )
        .await;
    assert_eq!(error_code(&to_admin), "FORBIDDEN", "cannot hand out Admin");
    let self_promotion = t
        .gql(
            Some(&keeper),
            CHANGE_ROLE,
            json!({ "c": company.id, "u": keeper_id, "r": company.role("Admin") }),
        )
        .await;
    assert_eq!(error_code(&self_promotion), "FORBIDDEN");
    let builtin = "mutation($id: ID!, $input: RoleInput!) { updateRole(id: $id, input: $input) { id } }";
    let edit_viewer = json!({ "id": company.role("Viewer"), "input": { "companyId": company.id, "name": "Viewer", "permissions": [] } });
    assert_eq!(
        error_code(&t.gql(Some(&owner), builtin, edit_viewer).await),
        "FORBIDDEN",
        "built-in roles are fixed"
    );

    let max = t
        .member(&owner, &company, "max@example.com", "Max", "Manager")
        .await;
    let invite = "mutation($c: ID!, $r: ID!) { inviteMember(input: { companyId: $c, email: \"new@example.com\", roleId: $r }) { id } }";
    assert_eq!(
        error_code(
            &t.gql(
                Some(&max),
                invite,
                json!({ "c": company.id, "r": company.role("Admin") })
            )
            .await
        ),
        "FORBIDDEN"
    );
    t.ok(
        Some(&max),
        invite,
        json!({ "c": company.id, "r": company.role("Editor") }),
    )
    .await;

    let ada = t
        .member(&owner, &company, "ada@example.com", "Ada", "Admin")
        .await;
    let ada_id = t.user_id(&ada).await;
    let self_owner = t
        .gql(
            Some(&ada),
            CHANGE_ROLE,
            json!({ "c": company.id, "u": ada_id, "r": company.role("Owner") }),
        )
        .await;
    assert_eq!(
        error_code(&self_owner),
        "FORBIDDEN",
        "an Admin cannot make themself Owner"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn role_input_is_checked_against_the_catalog() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    let input = json!({ "input": { "companyId": company.id, "name": " ", "permissions": perms(&[("ROW", "VIEW"), ("COMPANY", "EXPORT")]) } });
    let refused = t.gql(Some(&owner), CREATE_ROLE, input).await;
    assert_eq!(error_fields(&refused), ["input.name", "input.permissions.1"]);
    let taken = json!({ "input": { "companyId": company.id, "name": "viewer", "permissions": [] } });
    assert_eq!(
        error_code(&t.gql(Some(&owner), CREATE_ROLE, taken).await),
        "CONFLICT"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_viewer_gets_plain_fields_and_forbidden_at_exactly_the_guarded_paths() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    let vic = t
        .member(&owner, &company, "vic@example.com", "Vic", "Viewer")
        .await;
    let query = "query($c: ID!) { company(id: $c) { name invitations { totalCount }
        members { edges { node { user { name email lastLoginAt totpEnabled } } } } } }";
    let response = t.gql(Some(&vic), query, json!({ "c": company.id })).await;
    let company_data = &response["data"]["company"];
    assert_eq!(company_data["name"], "Acme");
    assert_eq!(company_data["invitations"], Value::Null);
    let owner_row = &company_data["members"]["edges"][0]["node"]["user"];
    assert_eq!(owner_row["name"], "Owner");
    assert_eq!(
        owner_row["email"], "owner@example.com",
        "member:view shows contact fields"
    );
    assert_eq!(owner_row["lastLoginAt"], Value::Null);
    let own_row = &company_data["members"]["edges"][1]["node"]["user"];
    assert_eq!(
        own_row["totpEnabled"], false,
        "a user always sees their own account fields"
    );
    let mut paths: Vec<String> = response["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["extensions"]["code"], "FORBIDDEN");
            e["path"].to_string()
        })
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            r#"["company","invitations"]"#,
            r#"["company","members","edges",0,"node","user","lastLoginAt"]"#,
            r#"["company","members","edges",0,"node","user","totpEnabled"]"#,
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_change_takes_effect_on_the_next_request() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    let max = t
        .member(&owner, &company, "max@example.com", "Max", "Manager")
        .await;
    let max_id = t.user_id(&max).await;
    let invitations = "query($c: ID!) { company(id: $c) { invitations { totalCount } } }";
    assert!(
        t.gql(Some(&max), invitations, json!({ "c": company.id })).await["data"]["company"]["invitations"]
            .is_object()
    );
    t.ok(
        Some(&owner),
        CHANGE_ROLE,
        json!({ "c": company.id, "u": max_id, "r": company.role("Viewer") }),
    )
    .await;
    let after = t.gql(Some(&max), invitations, json!({ "c": company.id })).await;
    assert_eq!(error_code(&after), "FORBIDDEN");
}

#[tokio::test(flavor = "multi_thread")]
async fn resending_an_invitation_needs_the_right_to_grant_its_role() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    let max = t
        .member(&owner, &company, "max@example.com", "Max", "Manager")
        .await;
    let invite = "mutation($c: ID!, $r: ID!) { inviteMember(input: { companyId: $c, email: \"boss@example.com\", roleId: $r }) { id } }";
    let id = t
        .ok(
            Some(&owner),
            invite,
            json!({ "c": company.id, "r": company.role("Admin") }),
        )
        .await["inviteMember"]["id"]
        .clone();
    let resend = t
        .gql(
            Some(&max),
            "mutation($i: ID!) { resendInvitation(id: $i) { id } }",
            json!({ "i": id }),
        )
        .await;
    assert_eq!(error_code(&resend), "FORBIDDEN");
}
