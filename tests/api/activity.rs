//! Activity feed and notifications: every change leaves one event in its transaction, the
//! feed shows each member only what they may read, and notifications reach the people a
//! change concerns.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use guildhall::db::schema::{activity_events, row_changes};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code};

const FEED: &str = "query($c: ID!, $n: Int, $a: String, $p: ID, $u: ID) { company(id: $c) {
    activity(first: $n, after: $a, projectId: $p, actorId: $u) {
        totalCount pageInfo { hasNextPage endCursor }
        edges { cursor node { id verb summary targetType data actor { name } project { name } company { id } } } } } }";
const NOTIFICATIONS: &str = "query($u: Boolean) { me { unreadNotificationCount
    notifications(unreadOnly: $u) { totalCount edges { node { id kind title body read } } } } }";
const CREATE_TABLE: &str = "mutation($p: ID!, $n: String!, $f: [FieldInput!]) { createDataTable(projectId: $p, name: $n, fields: $f) { id } }";
const INSERT: &str =
    "mutation($t: ID!, $c: ID, $r: [JSON!]!) { insertRows(tableId: $t, cycleId: $c, rows: $r) { id } }";

fn verbs(feed: &Value) -> Vec<String> {
    feed["company"]["activity"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["verb"].as_str().unwrap().to_owned())
        .collect()
}

fn kinds(data: &Value) -> Vec<String> {
    data["me"]["notifications"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_change_leaves_one_event_and_the_feed_pages_newest_first() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Olga").await;
    let company = t.create_company(&owner, "Acme").await;
    let project = t.create_project(&owner, &company, "Footprint").await;
    let table = t
        .ok(
            Some(&owner),
            CREATE_TABLE,
            json!({ "p": project, "n": "Fuel use", "f": [{ "key": "site", "label": "Site", "type": "TEXT" }] }),
        )
        .await["createDataTable"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rows = t
        .ok(
            Some(&owner),
            INSERT,
            json!({ "t": table, "r": [{ "site": "A" }, { "site": "B" }, { "site": "C" }] }),
        )
        .await;
    let first_row = rows["insertRows"][0]["id"].as_str().unwrap().to_owned();
    t.ok(
        Some(&owner),
        "mutation($id: ID!) { updateRow(id: $id, values: { site: \"A2\" }) { id } }",
        json!({ "id": first_row }),
    )
    .await;

    let feed = t.ok(Some(&owner), FEED, json!({ "c": company.id })).await;
    assert_eq!(
        verbs(&feed),
        [
            "row.updated",
            "row.created",
            "table.created",
            "project.created",
            "company.created"
        ]
    );
    let activity = &feed["company"]["activity"];
    assert_eq!(activity["totalCount"], 5);
    let created = &activity["edges"][1]["node"];
    assert_eq!(created["summary"], "3 rows added to Fuel use");
    assert_eq!(created["data"]["count"], 3);
    assert_eq!(created["actor"]["name"], "Olga");
    assert_eq!(created["project"]["name"], "Footprint");
    assert_eq!(created["company"]["id"], company.id.as_str());

    // One event for the bulk insert, with the three rows listed for live grids.
    let mut conn = t.db.connect().await;
    let events: i64 = activity_events::table
        .filter(activity_events::verb.eq("row.created"))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(events, 1);
    let touched: i64 = row_changes::table
        .filter(row_changes::kind.eq("CREATED"))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(touched, 3);

    // Pages follow the cursor without overlap.
    let page = t.ok(Some(&owner), FEED, json!({ "c": company.id, "n": 2 })).await;
    assert_eq!(verbs(&page), ["row.updated", "row.created"]);
    assert_eq!(page["company"]["activity"]["pageInfo"]["hasNextPage"], true);
    let after = page["company"]["activity"]["pageInfo"]["endCursor"].clone();
    let next = t
        .ok(Some(&owner), FEED, json!({ "c": company.id, "n": 2, "a": after }))
        .await;
    assert_eq!(verbs(&next), ["table.created", "project.created"]);

    // Filters by project and by actor; a foreign cursor is refused with its field named.
    let in_project = t
        .ok(Some(&owner), FEED, json!({ "c": company.id, "p": project }))
        .await;
    assert_eq!(in_project["company"]["activity"]["totalCount"], 4);
    let bad = t
        .gql(
            Some(&owner),
            FEED,
            json!({ "c": company.id, "a": "bm90LWEtY3Vyc29y" }),
        )
        .await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");
    assert_eq!(
        bad["errors"][0]["extensions"]["fields"][0]["path"],
        json!(["after"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_feed_shows_each_member_only_what_they_may_read() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Olga").await;
    let company = t.create_company(&owner, "Acme").await;
    let viewer = t
        .member(&owner, &company, "viewer@example.com", "Vic", "Viewer")
        .await;
    let project = t.create_project(&owner, &company, "Footprint").await;
    let table = t
        .ok(
            Some(&owner),
            CREATE_TABLE,
            json!({ "p": project, "n": "Payroll", "f": [] }),
        )
        .await["createDataTable"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let add = "mutation($t: ID!, $f: FieldInput!) { addField(tableId: $t, field: $f) { id } }";
    t.ok(
        Some(&owner),
        add,
        json!({ "t": table, "f": { "key": "salary", "label": "Salary", "type": "DECIMAL", "restricted": true } }),
    )
    .await;
    t.ok(
        Some(&owner),
        add,
        json!({ "t": table, "f": { "key": "team", "label": "Team", "type": "TEXT" } }),
    )
    .await;
    t.invite(&owner, &company, "later@example.com", "Editor").await;

    let owners = verbs(&t.ok(Some(&owner), FEED, json!({ "c": company.id })).await);
    assert_eq!(
        owners,
        [
            "member.invited",
            "table.field_added",
            "table.field_added",
            "table.created",
            "project.created",
            "member.joined",
            "member.invited",
            "company.created"
        ]
    );
    // A Viewer reads neither invitations (no invitation:view) nor the restricted field.
    let viewers = t.ok(Some(&viewer), FEED, json!({ "c": company.id })).await;
    assert_eq!(
        verbs(&viewers),
        [
            "table.field_added",
            "table.created",
            "project.created",
            "member.joined",
            "company.created"
        ]
    );
    assert_eq!(viewers["company"]["activity"]["totalCount"], 5);
    assert_eq!(
        viewers["company"]["activity"]["edges"][0]["node"]["data"]["key"],
        "team"
    );

    let viewer_id = t.user_id(&viewer).await;
    let own = t
        .ok(Some(&viewer), FEED, json!({ "c": company.id, "u": viewer_id }))
        .await;
    assert_eq!(verbs(&own), ["member.joined"]);

    // Outsiders learn nothing, not even that the company exists.
    let outsider = t.verified_user("outsider@example.com", "Out").await;
    let refused = t.gql(Some(&outsider), FEED, json!({ "c": company.id })).await;
    assert_eq!(error_code(&refused), "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread")]
async fn notifications_reach_the_people_a_change_concerns() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Olga").await;
    let company = t.create_company(&owner, "Acme").await;
    let ann = t.verified_user("ann@example.com", "Ann").await;

    // Invited with an existing account: told in the app too.
    let token = t.invite(&owner, &company, "ann@example.com", "Editor").await;
    let data = t.ok(Some(&ann), NOTIFICATIONS, json!({})).await;
    assert_eq!(kinds(&data), ["invitation.received"]);
    assert_eq!(data["me"]["unreadNotificationCount"], 1);
    assert_eq!(
        data["me"]["notifications"]["edges"][0]["node"]["title"],
        "You were invited to Acme"
    );

    // Accepting tells the inviter.
    t.ok(
        Some(&ann),
        "mutation($t: String!) { acceptInvitation(token: $t) { id } }",
        json!({ "t": token }),
    )
    .await;
    let data = t.ok(Some(&owner), NOTIFICATIONS, json!({})).await;
    assert_eq!(kinds(&data), ["invitation.accepted"]);
    assert_eq!(
        data["me"]["notifications"]["edges"][0]["node"]["title"],
        "Ann accepted your invitation"
    );

    // Rows in a cycle that closes; an import; a role change; removal.
    let project = t.create_project(&owner, &company, "Footprint").await;
    let cycle = t
        .ok(
            Some(&owner),
            "mutation($p: ID!) { createCycle(projectId: $p, name: \"Q1\", startsOn: \"2026-01-01\", endsOn: \"2026-03-31\") { id } }",
            json!({ "p": project }),
        )
        .await["createCycle"]["id"]
        .clone();
    let table = t
        .ok(
            Some(&owner),
            CREATE_TABLE,
            json!({ "p": project, "n": "Fuel use", "f": [{ "key": "site", "label": "Site", "type": "TEXT" }] }),
        )
        .await["createDataTable"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    t.ok(
        Some(&ann),
        INSERT,
        json!({ "t": table, "c": cycle, "r": [{ "site": "A" }] }),
    )
    .await;
    let import = "mutation($t: ID!, $file: Upload!) { importCsv(tableId: $t, csv: $file) { inserted } }";
    let imported = t
        .upload(&ann, import, json!({ "t": table }), "fuel.csv", "site\nB\nC\n")
        .await;
    assert_eq!(imported["data"]["importCsv"]["inserted"], 2, "{imported}");
    t.ok(
        Some(&owner),
        "mutation($id: ID!) { closeCycle(id: $id) { id } }",
        json!({ "id": cycle }),
    )
    .await;
    let ann_id = t.user_id(&ann).await;
    t.ok(
        Some(&owner),
        "mutation($c: ID!, $u: ID!, $r: ID!) { changeMemberRole(companyId: $c, userId: $u, roleId: $r) { id } }",
        json!({ "c": company.id, "u": ann_id, "r": company.role("Viewer") }),
    )
    .await;
    let data = t.ok(Some(&ann), NOTIFICATIONS, json!({})).await;
    assert_eq!(
        kinds(&data),
        [
            "member.role_changed",
            "cycle.closed",
            "import.finished",
            "invitation.received"
        ]
    );
    assert_eq!(data["me"]["unreadNotificationCount"], 4);
    let body = data["me"]["notifications"]["edges"][0]["node"]["body"]
        .as_str()
        .unwrap();
    assert!(body.contains("Viewer"), "{body}");

    // Reading: one, then all; someone else's notification is NOT_FOUND.
    let first = data["me"]["notifications"]["edges"][0]["node"]["id"].clone();
    let mark = "mutation($id: ID!) { markNotificationRead(id: $id) { id read } }";
    let read = t.ok(Some(&ann), mark, json!({ "id": first })).await;
    assert_eq!(read["markNotificationRead"]["read"], true);
    let foreign = t.gql(Some(&owner), mark, json!({ "id": first })).await;
    assert_eq!(error_code(&foreign), "NOT_FOUND");
    let unread = t.ok(Some(&ann), NOTIFICATIONS, json!({ "u": true })).await;
    assert_eq!(unread["me"]["notifications"]["totalCount"], 3);
    let all = t
        .ok(Some(&ann), "mutation { markAllNotificationsRead }", json!({}))
        .await;
    assert_eq!(all["markAllNotificationsRead"], 3);
    let data = t.ok(Some(&ann), NOTIFICATIONS, json!({})).await;
    assert_eq!(data["me"]["unreadNotificationCount"], 0);

    t.ok(
        Some(&owner),
        "mutation($c: ID!, $u: ID!) { removeMember(companyId: $c, userId: $u) }",
        json!({ "c": company.id, "u": ann_id }),
    )
    .await;
    let data = t.ok(Some(&ann), NOTIFICATIONS, json!({ "u": true })).await;
    assert_eq!(kinds(&data), ["member.removed"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_account_leaves_the_company_feed_with_an_event() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Olga").await;
    let company = t.create_company(&owner, "Acme").await;
    let ann = t
        .member(&owner, &company, "ann@example.com", "Ann", "Editor")
        .await;
    t.ok(
        Some(&ann),
        "mutation($p: String!) { deleteAccount(password: $p) }",
        json!({ "p": crate::helpers::PASSWORD }),
    )
    .await;
    let feed = t.ok(Some(&owner), FEED, json!({ "c": company.id, "n": 1 })).await;
    assert_eq!(verbs(&feed), ["member.left"]);
    assert_eq!(
        feed["company"]["activity"]["edges"][0]["node"]["summary"],
        "A member deleted their account"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_feed_page_counts_its_total_only_when_asked() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    t.stop_workers().await;
    let page = |total: &str| {
        format!(
            "query($c: ID!) {{ company(id: $c) {{ activity(first: 5) {{ {total} edges {{ node {{ verb }} }} }} }} }}"
        )
    };
    let cost = |query: String| {
        let t = &t;
        let owner = owner.clone();
        let company = company.id.clone();
        async move {
            t.ok(Some(&owner), &query, json!({ "c": company })).await;
            let before = t.app.statements.total();
            let answer = t.ok(Some(&owner), &query, json!({ "c": company })).await;
            (t.app.statements.total() - before, answer)
        }
    };
    let (without, answer) = cost(page("")).await;
    assert_eq!(verbs(&answer), ["company.created"]);
    let (with, answer) = cost(page("totalCount")).await;
    assert_eq!(answer["company"]["activity"]["totalCount"], 1);
    assert_eq!(
        with,
        without + 1,
        "the count is one statement, run only for totalCount"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn renaming_and_redescribing_say_which_with_the_name_and_description_before_and_after() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Olga").await;
    let company = t.create_company(&owner, "Acme").await;
    let project = t.create_project(&owner, &company, "Footprint").await;
    let table = t
        .ok(
            Some(&owner),
            CREATE_TABLE,
            json!({ "p": project, "n": "Fuel use" }),
        )
        .await["createDataTable"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    t.ok(
        Some(&owner),
        "mutation($p: ID!) { updateProject(id: $p, name: \"Footprint 2026\") { id } }",
        json!({ "p": project }),
    )
    .await;
    t.ok(
        Some(&owner),
        "mutation($t: ID!) { updateDataTable(id: $t, description: \"Litres by site\") { id } }",
        json!({ "t": table }),
    )
    .await;

    let feed = t.ok(Some(&owner), FEED, json!({ "c": company.id, "n": 2 })).await;
    let edges = &feed["company"]["activity"]["edges"];
    let described = &edges[0]["node"];
    assert_eq!(described["verb"], "table.updated");
    assert_eq!(described["summary"], "Table Fuel use updated");
    assert_eq!(
        described["data"],
        json!({ "before": { "name": "Fuel use", "description": null },
                "after": { "name": "Fuel use", "description": "Litres by site" } })
    );
    let renamed = &edges[1]["node"];
    assert_eq!(renamed["verb"], "project.updated");
    assert_eq!(renamed["summary"], "Project Footprint renamed to Footprint 2026");
    assert_eq!(renamed["data"]["before"]["name"], "Footprint");
    assert_eq!(renamed["data"]["after"]["name"], "Footprint 2026");
}
