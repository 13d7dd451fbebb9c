//! Members' standing is remembered between requests (`guildhall::rbac::standing`). These
//! tests change it in every way it can change, right after the member's last read put it
//! in memory, and read a row by id again: on the same instance, on another instance, and
//! after a change made straight in the database.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Company, TestApp, error_code};

const ROW: &str = "query($id: ID!) { dataRow(id: $id) { id values } }";
const CREATE_ROLE: &str = "mutation($input: RoleInput!) { createRole(input: $input) { id } }";
const UPDATE_ROLE: &str =
    "mutation($id: ID!, $input: RoleInput!) { updateRole(id: $id, input: $input) { id } }";
const CHANGE_ROLE: &str = "mutation($c: ID!, $u: ID!, $r: ID!) { changeMemberRole(companyId: $c, userId: $u, roleId: $r) { role { name } } }";
const REMOVE: &str = "mutation($c: ID!, $u: ID!) { removeMember(companyId: $c, userId: $u) }";
const GRANT: &str = "mutation($p: ID!, $u: ID!, $r: ID!) { grantProjectRole(projectId: $p, userId: $u, roleId: $r) { role { name } } }";
const REVOKE: &str = "mutation($p: ID!, $u: ID!) { revokeProjectRole(projectId: $p, userId: $u) }";

/// A company with one project, one table and one row, and a Viewer who can read it.
struct Setup {
    owner: String,
    company: Company,
    project: String,
    row: String,
    viewer: String,
    viewer_id: String,
}

async fn setup(t: &TestApp) -> Setup {
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    let project = t.create_project(&owner, &company, "Footprint").await;
    let row = row_in(t, &owner, &project).await;
    let viewer = t
        .member(&owner, &company, "vera@example.com", "Vera", "Viewer")
        .await;
    let viewer_id = t.user_id(&viewer).await;
    Setup {
        owner,
        company,
        project,
        row,
        viewer,
        viewer_id,
    }
}

/// A table with one row in `project`, made by `token`; the row's id.
async fn row_in(t: &TestApp, token: &str, project: &str) -> String {
    let table = t
        .ok(
            Some(token),
            "mutation($p: ID!) { createDataTable(projectId: $p, name: \"Fuel\", fields: [{ key: \"site\", label: \"Site\", type: TEXT }]) { id } }",
            json!({ "p": project }),
        )
        .await["createDataTable"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    t.ok(
        Some(token),
        "mutation($t: ID!) { insertRows(tableId: $t, rows: [{ site: \"North yard\" }]) { id } }",
        json!({ "t": table }),
    )
    .await["insertRows"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// "OK" when the row came back, else the error code.
fn outcome(answer: &Value, row: &str) -> String {
    if answer["data"]["dataRow"]["id"] == row {
        assert_eq!(answer["data"]["dataRow"]["values"]["site"], "North yard");
        "OK".to_owned()
    } else {
        error_code(answer).to_owned()
    }
}

async fn read(t: &TestApp, token: &str, row: &str) -> String {
    outcome(&t.gql(Some(token), ROW, json!({ "id": row })).await, row)
}

/// A custom role that sees the company and its projects, and rows only with `rows`.
fn outsider(company: &str, rows: bool) -> Value {
    let mut permissions = vec![
        json!({ "resource": "COMPANY", "action": "VIEW" }),
        json!({ "resource": "PROJECT", "action": "VIEW" }),
        json!({ "resource": "TABLE", "action": "VIEW" }),
    ];
    if rows {
        permissions.push(json!({ "resource": "ROW", "action": "VIEW" }));
    }
    json!({ "companyId": company, "name": "Outsider", "permissions": permissions })
}

async fn sql(t: &TestApp, statement: &str) {
    let mut conn = t.db.connect().await;
    diesel_async::RunQueryDsl::execute(diesel::sql_query(statement), &mut conn)
        .await
        .expect(statement);
}

/// Creates the Outsider role (no row:view); its id.
async fn create_outsider(t: &TestApp, s: &Setup) -> String {
    let input = json!({ "input": outsider(&s.company.id, false) });
    t.ok(Some(&s.owner), CREATE_ROLE, input).await["createRole"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// An app whose database no longer announces standing changes: only the instance's own
/// forgetting after its commits remains, which these tests check.
async fn unannounced() -> TestApp {
    let t = TestApp::spawn().await;
    assert!(t.app.hub.until_listening(Duration::from_secs(10)).await);
    for table in ["memberships", "roles", "role_permissions", "project_role_grants"] {
        sql(&t, &format!("DROP TRIGGER {table}_standing ON {table}")).await;
    }
    t
}

#[tokio::test(flavor = "multi_thread")]
async fn every_change_of_standing_shows_on_the_very_next_read() {
    let t = unannounced().await;
    let s = setup(&t).await;
    let role = create_outsider(&t, &s).await;
    let viewer_role = s.company.role("Viewer").to_owned();
    let read = async || read(&t, &s.viewer, &s.row).await;
    let owner = Some(s.owner.as_str());

    assert_eq!(read().await, "OK");
    assert_eq!(read().await, "OK", "a remembered standing answers the same");

    let change = json!({ "c": s.company.id, "u": s.viewer_id, "r": role });
    t.ok(owner, CHANGE_ROLE, change).await;
    assert_eq!(read().await, "FORBIDDEN", "after a role change");

    let widen = json!({ "id": role, "input": outsider(&s.company.id, true) });
    t.ok(owner, UPDATE_ROLE, widen).await;
    assert_eq!(read().await, "OK", "after the role gained row:view");

    let narrow = json!({ "id": role, "input": outsider(&s.company.id, false) });
    t.ok(owner, UPDATE_ROLE, narrow).await;
    assert_eq!(read().await, "FORBIDDEN", "after the role lost row:view");

    let grant = json!({ "p": s.project, "u": s.viewer_id, "r": viewer_role });
    t.ok(owner, GRANT, grant).await;
    assert_eq!(read().await, "OK", "after a project grant");

    t.ok(owner, REVOKE, json!({ "p": s.project, "u": s.viewer_id }))
        .await;
    assert_eq!(read().await, "FORBIDDEN", "after the grant was revoked");

    t.ok(owner, REMOVE, json!({ "c": s.company.id, "u": s.viewer_id }))
        .await;
    assert_eq!(read().await, "NOT_FOUND", "after removal from the company");
}

#[tokio::test(flavor = "multi_thread")]
async fn joining_leaving_and_founding_show_on_the_very_next_read() {
    let t = unannounced().await;
    let s = setup(&t).await;
    let sam = t.verified_user("sam@example.com", "Sam").await;
    let read_acme = async || read(&t, &sam, &s.row).await;
    assert_eq!(read_acme().await, "NOT_FOUND", "before joining");

    let invitation = t.invite(&s.owner, &s.company, "sam@example.com", "Viewer").await;
    t.ok(
        Some(&sam),
        "mutation($t: String!) { acceptInvitation(token: $t) { id } }",
        json!({ "t": invitation }),
    )
    .await;
    assert_eq!(read_acme().await, "OK", "after accepting an invitation");

    t.ok(
        Some(&sam),
        "mutation($c: ID!) { leaveCompany(companyId: $c) }",
        json!({ "c": s.company.id }),
    )
    .await;
    assert_eq!(read_acme().await, "NOT_FOUND", "after leaving");

    let own = t.create_company(&sam, "Sam's").await;
    let project = t.create_project(&sam, &own, "Own").await;
    let row = row_in(&t, &sam, &project).await;
    assert_eq!(
        read(&t, &sam, &row).await,
        "OK",
        "in a company founded after the standing was remembered"
    );
}

/// Polls `probe` until it answers `wanted` or `within` passes; the last answer.
async fn eventually<F: AsyncFn() -> String>(probe: F, wanted: &str, within: Duration) -> String {
    let started = Instant::now();
    loop {
        let answer = probe().await;
        if answer == wanted || started.elapsed() > within {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn another_instance_forgets_a_removed_member_well_before_its_memory_expires() {
    // The memory would last a minute: only the commit's announcement can end it sooner.
    let t = TestApp::spawn_with(|config| config.standing_cache_secs = 60).await;
    let other = t.second_instance().await;
    assert!(other.app.hub.until_listening(Duration::from_secs(10)).await);
    let s = setup(&t).await;
    let url = format!("http://{}/graphql", other.addr);
    let read_there = async || {
        let answer: Value = t
            .http
            .post(&url)
            .bearer_auth(&s.viewer)
            .json(&json!({ "query": ROW, "variables": { "id": s.row } }))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        outcome(&answer, &s.row)
    };
    assert_eq!(read_there().await, "OK");

    t.ok(
        Some(&s.owner),
        REMOVE,
        json!({ "c": s.company.id, "u": s.viewer_id }),
    )
    .await;
    assert_eq!(
        eventually(read_there, "NOT_FOUND", Duration::from_secs(5)).await,
        "NOT_FOUND"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_written_straight_into_the_database_is_heard() {
    let t = TestApp::spawn_with(|config| config.standing_cache_secs = 60).await;
    assert!(t.app.hub.until_listening(Duration::from_secs(10)).await);
    let s = setup(&t).await;
    let role = create_outsider(&t, &s).await;
    assert_eq!(read(&t, &s.viewer, &s.row).await, "OK");

    let update = format!(
        "UPDATE memberships SET role_id = '{role}' WHERE user_id = '{}'",
        s.viewer_id
    );
    sql(&t, &update).await;
    let read = async || read(&t, &s.viewer, &s.row).await;
    assert_eq!(
        eventually(read, "FORBIDDEN", Duration::from_secs(5)).await,
        "FORBIDDEN"
    );
}
