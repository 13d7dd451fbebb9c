//! Subscriptions over real websockets: live activity, resuming by cursor with no gap and no
//! repeat, notifications, row changes, two server instances, access loss, token expiry
//! and slow subscribers.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Data, Executor, Request, Variables};
use futures_util::StreamExt;
use guildhall::auth::caller::{Caller, ClientInfo};
use guildhall::events::cursor::Stream;
use guildhall::events::held::HeldSubscriptions;
use guildhall::events::live::{self, Start};
use guildhall::graphql::live_session;
use guildhall::graphql::pipeline::SocketExecutor;
use serde_json::{Value, json};

use crate::helpers::ws::{Received, WsClient};
use crate::helpers::{Company, TestApp, error_code};

const ACTIVITY: &str = "subscription($c: ID!, $a: String) { activity(companyId: $c, after: $a) { id cursor verb summary actor { name } } }";
const FEED: &str = "query($c: ID!, $n: Int) { company(id: $c) { activity(first: $n) { edges { cursor node { id verb } } } } }";
const CREATE_TABLE: &str = "mutation($p: ID!, $n: String!, $f: [FieldInput!]) { createDataTable(projectId: $p, name: $n, fields: $f) { id } }";
const INSERT: &str =
    "mutation($t: ID!, $c: ID, $r: [JSON!]!) { insertRows(tableId: $t, cycleId: $c, rows: $r) { id } }";

/// The cursor of the company's newest event the caller may read.
async fn newest_cursor(t: &TestApp, token: &str, company: &str) -> Value {
    t.ok(Some(token), FEED, json!({ "c": company, "n": 1 })).await["company"]["activity"]["edges"][0]["cursor"]
        .clone()
}

async fn fuel_table(t: &TestApp, token: &str, project: &str) -> String {
    t.ok(
        Some(token),
        CREATE_TABLE,
        json!({ "p": project, "n": "Fuel use", "f": [{ "key": "site", "label": "Site", "type": "TEXT" }] }),
    )
    .await["createDataTable"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Olga's company Acme, with Ann as an Editor: (Olga's token, Acme, Ann's token).
async fn acme_with_an_editor(t: &TestApp) -> (String, Company, String) {
    let owner = t.verified_user("owner@example.com", "Olga").await;
    let company = t.create_company(&owner, "Acme").await;
    let ann = t
        .member(&owner, &company, "ann@example.com", "Ann", "Editor")
        .await;
    (owner, company, ann)
}

/// `owner` removes the member whose token is `member` from `company`.
async fn remove_member(t: &TestApp, owner: &str, company: &Company, member: &str) {
    let user = t.user_id(member).await;
    t.ok(
        Some(owner),
        "mutation($c: ID!, $u: ID!) { removeMember(companyId: $c, userId: $u) }",
        json!({ "c": company.id, "u": user }),
    )
    .await;
}

/// A socket at `addr` signed in with `token`, subscribed to the company's activity as
/// operation "feed" from its newest event on (nothing after it is missed).
async fn feed_from_now(t: &TestApp, addr: std::net::SocketAddr, token: &str, company: &Company) -> WsClient {
    let start = newest_cursor(t, token, &company.id).await;
    let mut ws = WsClient::connect(addr, token).await;
    ws.subscribe("feed", ACTIVITY, json!({ "c": company.id, "a": start }))
        .await;
    ws
}

async fn next_event(ws: &mut WsClient) -> Value {
    let payload = ws.next_payload().await;
    assert!(payload["errors"].is_null(), "{payload}");
    payload["data"]["activity"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_feed_goes_live_and_a_reconnect_with_the_last_cursor_misses_nothing() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Olga").await;
    let company = t.create_company(&owner, "Acme").await;
    let project = t.create_project(&owner, &company, "Footprint").await;
    let mut ws = feed_from_now(&t, t.addr, &owner, &company).await;
    let table = fuel_table(&t, &owner, &project).await;
    t.ok(
        Some(&owner),
        INSERT,
        json!({ "t": table, "r": [{ "site": "A" }, { "site": "B" }] }),
    )
    .await;
    t.invite(&owner, &company, "new@example.com", "Editor").await;
    let cycle = t
        .ok(
            Some(&owner),
            "mutation($p: ID!) { createCycle(projectId: $p, name: \"Q1\", startsOn: \"2026-01-01\", endsOn: \"2026-03-31\") { id } }",
            json!({ "p": project }),
        )
        .await["createCycle"]["id"]
        .clone();
    t.ok(
        Some(&owner),
        "mutation($id: ID!) { closeCycle(id: $id) { id } }",
        json!({ "id": cycle }),
    )
    .await;
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(next_event(&mut ws).await);
    }
    let verbs: Vec<&str> = seen.iter().map(|e| e["verb"].as_str().unwrap()).collect();
    assert_eq!(
        verbs,
        [
            "table.created",
            "row.created",
            "member.invited",
            "cycle.created",
            "cycle.closed"
        ]
    );
    assert_eq!(seen[1]["summary"], "2 rows added to Fuel use");
    assert_eq!(seen[1]["actor"]["name"], "Olga");
    let last = seen[4]["cursor"].clone();
    ws.close().await;

    // Changes while disconnected arrive once, in order, after reconnecting with the cursor.
    t.ok(
        Some(&owner),
        "mutation($id: ID!) { updateProject(id: $id, name: \"Footprint 2026\") { id } }",
        json!({ "id": project }),
    )
    .await;
    t.ok(
        Some(&owner),
        INSERT,
        json!({ "t": table, "r": [{ "site": "C" }] }),
    )
    .await;
    let mut ws = WsClient::connect(t.addr, &owner).await;
    ws.subscribe("feed", ACTIVITY, json!({ "c": company.id, "a": last }))
        .await;
    assert_eq!(next_event(&mut ws).await["verb"], "project.updated");
    assert_eq!(next_event(&mut ws).await["verb"], "row.created");
    ws.expect_quiet(300).await;
    t.ok(
        Some(&owner),
        INSERT,
        json!({ "t": table, "r": [{ "site": "D" }] }),
    )
    .await;
    assert_eq!(next_event(&mut ws).await["summary"], "1 row added to Fuel use");
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_and_live_meet_with_no_gap_and_no_repeat() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Olga").await;
    let company = t.create_company(&owner, "Acme").await;
    let project = t.create_project(&owner, &company, "Footprint").await;
    let table = fuel_table(&t, &owner, &project).await;
    for site in 0..10 {
        t.ok(
            Some(&owner),
            INSERT,
            json!({ "t": table, "r": [{ "site": site.to_string() }] }),
        )
        .await;
    }
    // The cursor of table.created: the ten row events above come after it.
    let oldest = t
        .ok(Some(&owner), FEED, json!({ "c": company.id, "n": 11 }))
        .await["company"]["activity"]["edges"][10]["cursor"]
        .clone();

    // Writers keep going while the subscriber replays from that older cursor.
    let writer = {
        let http = t.http.clone();
        let url = format!("{}/graphql", t.base_url());
        let token = owner.clone();
        let table = table.clone();
        tokio::spawn(async move {
            for site in 0..30 {
                let body = json!({ "query": INSERT, "variables": { "t": table, "r": [{ "site": format!("live {site}") }] } });
                let response: Value = http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert!(response["errors"].is_null(), "{response}");
            }
        })
    };
    let mut ws = WsClient::connect(t.addr, &owner).await;
    ws.subscribe("feed", ACTIVITY, json!({ "c": company.id, "a": oldest }))
        .await;
    let mut received = Vec::new();
    while received.len() < 40 {
        received.push(next_event(&mut ws).await["id"].as_str().unwrap().to_owned());
    }
    writer.await.unwrap();
    ws.expect_quiet(300).await;

    let unique: HashSet<&String> = received.iter().collect();
    assert_eq!(unique.len(), 40, "no event twice");
    let feed = t
        .ok(Some(&owner), FEED, json!({ "c": company.id, "n": 40 }))
        .await;
    let mut expected: Vec<String> = feed["company"]["activity"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    expected.reverse();
    assert_eq!(received, expected, "every event, in stream order");
}

#[tokio::test(flavor = "multi_thread")]
async fn notifications_and_row_changes_arrive_live() {
    let t = TestApp::spawn().await;
    let (owner, company, ann) = acme_with_an_editor(&t).await;
    let project = t.create_project(&owner, &company, "Footprint").await;
    let table = fuel_table(&t, &owner, &project).await;

    let mut ws = WsClient::connect(t.addr, &ann).await;
    ws.subscribe(
        "n",
        "subscription { notificationAdded { kind title read cursor } }",
        json!({}),
    )
    .await;
    ws.subscribe(
        "r",
        "subscription($t: ID!) { rowChanges(tableId: $t) { kind rowId row { values } actor { name } } }",
        json!({ "t": table }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;

    let ann_id = t.user_id(&ann).await;
    t.ok(
        Some(&owner),
        "mutation($c: ID!, $u: ID!, $r: ID!) { changeMemberRole(companyId: $c, userId: $u, roleId: $r) { id } }",
        json!({ "c": company.id, "u": ann_id, "r": company.role("Manager") }),
    )
    .await;
    let notice = ws.next_payload().await;
    assert_eq!(
        notice["data"]["notificationAdded"]["kind"], "member.role_changed",
        "{notice}"
    );
    assert_eq!(notice["data"]["notificationAdded"]["read"], false);

    let inserted = t
        .ok(
            Some(&owner),
            INSERT,
            json!({ "t": table, "r": [{ "site": "A" }, { "site": "B" }] }),
        )
        .await;
    let first = inserted["insertRows"][0]["id"].clone();
    let mut created = Vec::new();
    for _ in 0..2 {
        let change = ws.next_payload().await["data"]["rowChanges"].clone();
        assert_eq!(change["kind"], "CREATED", "{change}");
        assert_eq!(change["actor"]["name"], "Olga");
        created.push(change["row"]["values"]["site"].as_str().unwrap().to_owned());
    }
    created.sort();
    assert_eq!(created, ["A", "B"]);
    t.ok(
        Some(&owner),
        "mutation($id: ID!) { updateRow(id: $id, values: { site: \"A2\" }) { id } }",
        json!({ "id": first }),
    )
    .await;
    let change = ws.next_payload().await["data"]["rowChanges"].clone();
    assert_eq!(change["kind"], "UPDATED");
    assert_eq!(change["row"]["values"]["site"], "A2");
    t.ok(
        Some(&owner),
        "mutation($ids: [ID!]!) { deleteRows(ids: $ids) }",
        json!({ "ids": [first] }),
    )
    .await;
    let change = ws.next_payload().await["data"]["rowChanges"].clone();
    assert_eq!(change["kind"], "DELETED");
    assert_eq!(change["rowId"], first);
    assert!(change["row"].is_null());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_through_one_instance_reaches_a_subscriber_on_another() {
    let t = TestApp::spawn().await;
    let other = t.second_instance().await;
    let owner = t.verified_user("owner@example.com", "Olga").await;
    let company = t.create_company(&owner, "Acme").await;
    let mut ws = feed_from_now(&t, other.addr, &owner, &company).await;
    t.create_project(&owner, &company, "Footprint").await;
    assert_eq!(next_event(&mut ws).await["verb"], "project.created");
    t.create_project(&owner, &company, "Water").await;
    assert_eq!(next_event(&mut ws).await["summary"], "Project Water created");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_member_stops_receiving_with_forbidden() {
    let t = TestApp::spawn().await;
    let (owner, company, ann) = acme_with_an_editor(&t).await;
    let mut ws = feed_from_now(&t, t.addr, &ann, &company).await;
    t.create_project(&owner, &company, "Footprint").await;
    assert_eq!(next_event(&mut ws).await["verb"], "project.created");

    remove_member(&t, &owner, &company, &ann).await;
    let ended = ws.next_payload().await;
    assert_eq!(error_code(&ended), "FORBIDDEN", "{ended}");
    match ws.receive().await {
        Received::Message(message) => assert_eq!(message["type"], "complete", "{message}"),
        Received::Closed(frame) => panic!("socket closed: {frame:?}"),
    }
    // Nothing more reaches them, and a new subscription is refused.
    t.create_project(&owner, &company, "Secret").await;
    ws.subscribe("again", ACTIVITY, json!({ "c": company.id })).await;
    let refused = ws.next_payload().await;
    assert_eq!(error_code(&refused), "NOT_FOUND", "{refused}");
}

#[tokio::test(flavor = "multi_thread")]
async fn announcements_committed_together_are_applied_in_their_order() {
    use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
    let t = TestApp::spawn().await;
    let (owner, company, ann) = acme_with_an_editor(&t).await;
    let ann_id = t.user_id(&ann).await;
    let mut ws = feed_from_now(&t, t.addr, &ann, &company).await;
    t.create_project(&owner, &company, "Footprint").await;
    assert_eq!(next_event(&mut ws).await["verb"], "project.created");
    // Once what the setup changed has been forgotten, Ann's feed holds a standing no
    // announcement has touched since.
    tokio::time::sleep(Duration::from_millis(500)).await;
    t.create_project(&owner, &company, "Water").await;
    assert_eq!(next_event(&mut ws).await["summary"], "Project Water created");

    // One commit announces an event Ann may read, her removal, and an event after it: the
    // listener hears them together and must apply them in that order, the removal before
    // the event committed after it.
    let copy_of_the_event = |summary: &str| {
        format!(
            "WITH e AS (INSERT INTO activity_events (id, company_id, project_id, actor_id, verb, target_type, \
             target_id, summary, data, visible_with, created_at) SELECT gen_random_uuid(), company_id, project_id, \
             actor_id, verb, target_type, target_id, '{summary}', data, visible_with, now() FROM activity_events \
             WHERE company_id = '{c}' AND verb = 'project.created' LIMIT 1 RETURNING seq) \
             SELECT pg_notify('guildhall_events', 'a:{c}:' || seq) FROM e;",
            c = company.id
        )
    };
    let mut conn = t.db.connect().await;
    conn.batch_execute(&format!(
        "BEGIN; {} DELETE FROM memberships WHERE company_id = '{}' AND user_id = '{ann_id}'; {} COMMIT;",
        copy_of_the_event("Before the removal"),
        company.id,
        copy_of_the_event("After the removal"),
    ))
    .await
    .unwrap();
    let removed: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
        "(SELECT count(*) FROM memberships WHERE user_id = '{ann_id}')"
    )))
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(removed, 0);

    // The event before may reach her or not (her feed checks her standing as it sends,
    // and may already know); the one after never does.
    let mut ended = ws.next_payload().await;
    if ended["errors"].is_null() {
        assert_eq!(ended["data"]["activity"]["summary"], "Before the removal");
        ended = ws.next_payload().await;
    }
    assert_eq!(
        error_code(&ended),
        "FORBIDDEN",
        "the event after the removal is not hers: {ended}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_tokens_are_refused_and_an_expired_token_ends_the_socket_unless_renewed() {
    let t = TestApp::spawn_with(|config| {
        config.access_token_ttl_secs = 3;
        config.ws_ping_secs = 1;
    })
    .await;
    let mut refused = WsClient::open(t.addr, "not-a-token").await;
    match refused.receive().await {
        Received::Closed(Some(frame)) => assert_eq!(u16::from(frame.code), 4403),
        other => panic!("expected 4403, got {other:?}"),
    }

    t.verified_user("owner@example.com", "Olga").await;
    let (token, refresh) = t.login("owner@example.com", crate::helpers::PASSWORD).await;
    let mut expiring = WsClient::connect(t.addr, &token).await;
    let mut renewed = WsClient::connect(t.addr, &token).await;
    let mut elsewhere = WsClient::connect(t.addr, &token).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let fresh = t
        .ok(
            None,
            "mutation($r: String!) { refreshSession(refreshToken: $r) { accessToken } }",
            json!({ "r": refresh }),
        )
        .await["refreshSession"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    renewed
        .send(json!({ "type": "ping", "payload": { "Authorization": format!("Bearer {fresh}") } }))
        .await;
    let other_session = t.login("owner@example.com", crate::helpers::PASSWORD).await.0;
    elsewhere
        .send(json!({ "type": "ping", "payload": { "Authorization": format!("Bearer {other_session}") } }))
        .await;
    for socket in [&mut expiring, &mut elsewhere] {
        match socket.receive().await {
            Received::Closed(Some(frame)) => assert_eq!(
                u16::from(frame.code),
                4401,
                "a token of another session does not renew the socket's"
            ),
            other => panic!("expected 4401, got {other:?}"),
        }
    }
    // The renewed socket outlives the first token, kept alive by the server's pings.
    renewed.wait_for_ping().await;
    renewed
        .subscribe("me", "{ me { user { name } } }", json!({}))
        .await;
    assert_eq!(renewed.next_payload().await["data"]["me"]["user"]["name"], "Olga");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscriber_that_falls_behind_is_closed_and_resumes_by_cursor() {
    let t = TestApp::spawn_with(|config| config.subscriber_queue = 2).await;
    let owner = t.verified_user("owner@example.com", "Olga").await;
    let company = t.create_company(&owner, "Acme").await;
    let caller = t.caller(&owner).await;
    let actor = caller.actor().unwrap();
    let company_id = company.id.parse().unwrap();
    let standing = guildhall::events::service::standing(&t.app, &caller, company_id)
        .await
        .unwrap();
    let mut slow = Box::pin(
        live::company_events(
            t.app.clone(),
            company_id,
            (actor, standing.clone()),
            Stream::Activity,
            Start::Now,
        )
        .await
        .unwrap(),
    );
    for name in ["A", "B", "C", "D", "E"] {
        t.create_project(&owner, &company, name).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let err = slow.next().await.unwrap().unwrap_err();
    assert_eq!(err.code.as_str(), "CONFLICT");
    assert!(err.message.contains("fell"), "{}", err.message);
    assert!(slow.next().await.is_none(), "the stream ends");

    // The cursor in the message recovers all five.
    let cursor = err.message.split('"').nth(1).unwrap().to_owned();
    let after =
        guildhall::events::cursor::decode(guildhall::events::cursor::Stream::Activity, &cursor).unwrap();
    let resumed = live::company_events(
        t.app.clone(),
        company_id,
        (actor, standing),
        Stream::Activity,
        Start::After(after),
    )
    .await
    .unwrap();
    let summaries: Vec<String> = resumed
        .take(5)
        .map(|item| item.unwrap().event.summary.clone())
        .collect()
        .await;
    assert_eq!(
        summaries,
        [
            "Project A created",
            "Project B created",
            "Project C created",
            "Project D created",
            "Project E created"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_listener_reconnects_by_itself_and_the_gap_is_caught_up() {
    use diesel_async::RunQueryDsl;

    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Olga").await;
    let company = t.create_company(&owner, "Acme").await;
    let mut ws = feed_from_now(&t, t.addr, &owner, &company).await;
    t.create_project(&owner, &company, "Before").await;
    assert_eq!(next_event(&mut ws).await["summary"], "Project Before created");

    // As after a PostgreSQL restart: the LISTEN connection is killed.
    let mut conn = t.db.connect().await;
    let killed = diesel::sql_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    assert_eq!(killed, 1);
    for name in ["During 1", "During 2", "During 3"] {
        t.create_project(&owner, &company, name).await;
    }
    for name in ["During 1", "During 2", "During 3"] {
        assert_eq!(
            next_event(&mut ws).await["summary"],
            format!("Project {name} created")
        );
    }
    t.create_project(&owner, &company, "After").await;
    assert_eq!(next_event(&mut ws).await["summary"], "Project After created");
    ws.expect_quiet(300).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn another_companys_streams_are_not_found_and_anonymous_sockets_get_none() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Olga").await;
    let company = t.create_company(&owner, "Acme").await;
    let project = t.create_project(&owner, &company, "Footprint").await;
    let table = fuel_table(&t, &owner, &project).await;
    let outsider = t.verified_user("outsider@example.com", "Out").await;
    t.create_company(&outsider, "Elsewhere").await;

    let mut ws = WsClient::connect(t.addr, &outsider).await;
    ws.subscribe("a", ACTIVITY, json!({ "c": company.id })).await;
    assert_eq!(error_code(&ws.next_payload().await), "NOT_FOUND");
    assert!(matches!(ws.receive().await, Received::Message(m) if m["type"] == "complete"));
    ws.subscribe(
        "r",
        "subscription($t: ID!) { rowChanges(tableId: $t) { rowId } }",
        json!({ "t": table }),
    )
    .await;
    let refused = ws.next_payload().await;
    assert_eq!(error_code(&refused), "NOT_FOUND", "{refused}");

    // A position this company's stream never reached is not one of its cursors.
    let mut member = WsClient::connect(t.addr, &owner).await;
    let beyond = guildhall::events::cursor::encode(guildhall::events::cursor::Stream::Activity, 1_000_000);
    member
        .subscribe("b", ACTIVITY, json!({ "c": company.id, "a": beyond }))
        .await;
    let refused = member.next_payload().await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");

    let mut anonymous = WsClient::connect_anonymous(t.addr).await;
    anonymous
        .subscribe("n", "subscription { notificationAdded { id } }", json!({}))
        .await;
    assert_eq!(error_code(&anonymous.next_payload().await), "UNAUTHENTICATED");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_legacy_graphql_ws_protocol_streams_activity_too() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Olga").await;
    let company = t.create_company(&owner, "Acme").await;
    let start = newest_cursor(&t, &owner, &company.id).await;
    let mut ws = WsClient::open_with(t.addr, &owner, "graphql-ws").await;
    match ws.receive().await {
        Received::Message(ack) => assert_eq!(ack["type"], "connection_ack", "{ack}"),
        Received::Closed(frame) => panic!("closed: {frame:?}"),
    }
    ws.send(json!({ "id": "1", "type": "start", "payload": { "query": ACTIVITY, "variables": { "c": company.id, "a": start } } }))
        .await;
    t.create_project(&owner, &company, "Footprint").await;
    match ws.receive().await {
        Received::Message(data) => {
            assert_eq!(data["type"], "data", "{data}");
            assert_eq!(data["payload"]["data"]["activity"]["verb"], "project.created");
        }
        Received::Closed(frame) => panic!("closed: {frame:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn subscribers_asking_the_same_share_an_answer_and_each_gets_exactly_what_they_asked() {
    let t = TestApp::spawn().await;
    let (owner, company, ann) = acme_with_an_editor(&t).await;
    let start = newest_cursor(&t, &owner, &company.id).await;
    let plain =
        "subscription Feed($c: ID!, $a: String) { activity(companyId: $c, after: $a) { verb summary } }";
    let skipping = "subscription($c: ID!, $a: String, $s: Boolean!) { activity(companyId: $c, after: $a) { \
                    verb summary @skip(if: $s) } }";
    let fragment = "subscription($c: ID!, $a: String, $i: Boolean!) { activity(companyId: $c, after: $a) { \
                    verb ...Said @include(if: $i) } } fragment Said on ActivityEvent { said: summary cursor }";
    let reaching = "subscription($c: ID!, $a: String) { activity(companyId: $c, after: $a) { verb summary actor { name } } }";
    let guarded = "subscription($c: ID!, $a: String) { activity(companyId: $c, after: $a) { verb actor { totpEnabled } } }";
    // (reader, query, variables beside the company and cursor, the keys of the answer)
    let subscribers: [(&String, &str, Value, &[&str]); 9] = [
        (&owner, plain, json!({}), &["verb", "summary"]),
        (&ann, plain, json!({}), &["verb", "summary"]),
        (&owner, skipping, json!({ "s": true }), &["verb"]),
        (&ann, skipping, json!({ "s": false }), &["verb", "summary"]),
        (
            &owner,
            fragment,
            json!({ "i": true }),
            &["verb", "said", "cursor"],
        ),
        (&ann, fragment, json!({ "i": false }), &["verb"]),
        (&ann, reaching, json!({}), &["verb", "summary", "actor"]),
        // Whether the actor's two-factor status shows depends on the reader (owners see it).
        (&owner, guarded, json!({}), &["verb", "actor"]),
        (&ann, guarded, json!({}), &["verb", "actor"]),
    ];
    let mut sockets = Vec::new();
    for (token, query, variables, _) in &subscribers {
        let mut variables = variables.clone();
        variables["c"] = json!(company.id);
        variables["a"] = start.clone();
        let mut ws = WsClient::connect(t.addr, token).await;
        ws.subscribe("feed", query, variables).await;
        sockets.push(ws);
    }
    // One event reaches them all (replayed or live), then another goes to all of them at once.
    let warm_up = t.create_project(&owner, &company, "Warm-up").await;
    for ws in &mut sockets {
        assert_eq!(
            ws.next_payload().await["data"]["activity"]["verb"],
            "project.created"
        );
    }
    t.ok(
        Some(&owner),
        "mutation($id: ID!) { updateProject(id: $id, name: \"Footprint\") { id } }",
        json!({ "id": warm_up }),
    )
    .await;
    let mut answers = Vec::new();
    for (ws, (_, _, _, keys)) in sockets.iter_mut().zip(&subscribers) {
        let answer = ws.next_payload().await;
        answers.push(answer.clone());
        let event = answer["data"]["activity"].clone();
        let mut got: Vec<&str> = event.as_object().unwrap().keys().map(String::as_str).collect();
        let mut wanted = keys.to_vec();
        got.sort_unstable();
        wanted.sort_unstable();
        assert_eq!(got, wanted, "{event}");
        assert_eq!(event["verb"], "project.updated");
        if let Some(summary) = event.get("summary").or_else(|| event.get("said")) {
            assert!(summary.as_str().unwrap().contains("Footprint"), "{event}");
        }
        if let Some(name) = event.pointer("/actor/name") {
            assert_eq!(name, "Olga", "{event}");
        }
    }
    assert_eq!(
        answers[7]["data"]["activity"]["actor"]["totpEnabled"], false,
        "{}",
        answers[7]
    );
    assert!(answers[7]["errors"].is_null(), "{}", answers[7]);
    assert!(
        answers[8]["data"]["activity"]["actor"]["totpEnabled"].is_null(),
        "{}",
        answers[8]
    );
    assert_eq!(error_code(&answers[8]), "FORBIDDEN", "{}", answers[8]);
    for answer in &answers[..7] {
        assert!(answer["errors"].is_null(), "{answer}");
    }
    // A document that passed validation is still refused with values of the wrong type.
    sockets[0]
        .subscribe("bad", plain, json!({ "c": company.id, "a": 7 }))
        .await;
    match sockets[0].receive().await {
        Received::Message(refused) => {
            assert_eq!(
                (&refused["type"], &refused["id"]),
                (&json!("error"), &json!("bad")),
                "{refused}"
            );
            let errors = json!({ "errors": refused["payload"] });
            assert_eq!(error_code(&errors), "BAD_USER_INPUT", "{refused}");
            let message = errors["errors"][0]["message"].as_str().unwrap();
            assert!(
                message.contains("Invalid value for argument \"after\""),
                "{refused}"
            );
        }
        Received::Closed(frame) => panic!("closed: {frame:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_socket_whose_session_ended_is_closed_at_the_next_ping() {
    let t = TestApp::spawn_with(|config| config.ws_ping_secs = 1).await;
    let (owner, company, _) = acme_with_an_editor(&t).await;
    let start = newest_cursor(&t, &owner, &company.id).await;
    let other_session = t.login("owner@example.com", crate::helpers::PASSWORD).await.0;
    let mut ended = WsClient::connect(t.addr, &owner).await;
    ended
        .subscribe("feed", ACTIVITY, json!({ "c": company.id, "a": start }))
        .await;
    let mut kept = WsClient::connect(t.addr, &other_session).await;
    kept.subscribe("feed", ACTIVITY, json!({ "c": company.id, "a": start }))
        .await;

    t.ok(Some(&owner), "mutation { logout }", json!({})).await;
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ended.receive().await {
                Received::Closed(frame) => return frame,
                Received::Message(message) => assert_eq!(message["type"], "next", "{message}"),
            }
        }
    })
    .await
    .expect("the socket is closed within a few pings")
    .expect("with a close frame");
    assert_eq!(u16::from(closed.code), 4401, "{closed:?}");
    assert!(closed.reason.contains("session has ended"), "{closed:?}");
    // The same person's other session keeps its socket and its subscription.
    kept.wait_for_ping().await;
    t.create_project(&other_session, &company, "Footprint").await;
    assert_eq!(next_event(&mut kept).await["verb"], "project.created");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscriber_s_rights_follow_every_standing_change_whatever_the_event_names() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Olga").await;
    let company = t.create_company(&owner, "Acme").await;
    let sam = t
        .member(&owner, &company, "sam@example.com", "Sam", "Manager")
        .await;
    let project = t.create_project(&owner, &company, "Footprint").await;
    let table = fuel_table(&t, &owner, &project).await;
    let mut ws = WsClient::connect(t.addr, &sam).await;
    ws.subscribe("feed", ACTIVITY, json!({ "c": company.id })).await;
    ws.expect_quiet(300).await;
    let add = "mutation($t: ID!, $f: FieldInput!) { addField(tableId: $t, field: $f) { id } }";
    let restricted = |key: &str| json!({ "t": table, "f": { "key": key, "label": key, "type": "DECIMAL", "restricted": true } });
    t.ok(Some(&owner), add, restricted("cost")).await;
    assert_eq!(
        next_event(&mut ws).await["verb"],
        "table.field_added",
        "a Manager holds table:manage"
    );

    // A change no event names (an administrator's SQL, a cascade): the database announces it.
    use diesel_async::RunQueryDsl;
    let mut conn = t.db.connect().await;
    diesel::sql_query(format!(
        "UPDATE memberships SET role_id = '{}' WHERE user_id = (SELECT id FROM users WHERE email = 'sam@example.com')",
        company.role("Viewer")
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    t.ok(Some(&owner), add, restricted("margin")).await;
    t.create_project(&owner, &company, "Next").await;
    assert_eq!(
        next_event(&mut ws).await["verb"],
        "project.created",
        "as a Viewer, Sam no longer receives a restricted field's change"
    );
}

const ROW_CHANGES: &str =
    "subscription($t: ID!, $a: String) { rowChanges(tableId: $t, after: $a) { kind rowId count cursor } }";

/// The next `n` row changes a socket receives, as (kind, rowId, count).
async fn row_changes(ws: &mut WsClient, n: usize) -> Vec<(String, Value, i64)> {
    let mut changes = Vec::new();
    for _ in 0..n {
        let payload = ws.next_payload().await;
        assert!(payload["errors"].is_null(), "{payload}");
        let change = &payload["data"]["rowChanges"];
        changes.push((
            change["kind"].as_str().unwrap().to_owned(),
            change["rowId"].clone(),
            change["count"].as_i64().unwrap(),
        ));
    }
    changes
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_grid_hears_imports_and_field_rewrites_and_resumes_after_any_change() {
    let t = TestApp::spawn().await;
    let (owner, company, ann) = acme_with_an_editor(&t).await;
    let project = t.create_project(&owner, &company, "Footprint").await;
    let table = fuel_table(&t, &owner, &project).await;
    let mut live = WsClient::connect(t.addr, &ann).await;
    live.subscribe("grid", ROW_CHANGES, json!({ "t": table })).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let inserted = t
        .ok(
            Some(&owner),
            INSERT,
            json!({ "t": table, "r": [{ "site": "A" }, { "site": "B" }, { "site": "C" }] }),
        )
        .await;
    let first = live.next_payload().await["data"]["rowChanges"].clone();
    assert_eq!(first["kind"], "CREATED", "{first}");
    let imported = t
        .upload(
            &owner,
            "mutation($t: ID!, $file: Upload!) { importCsv(tableId: $t, csv: $file) { inserted } }",
            json!({ "t": table }),
            "fuel.csv",
            "site\nD\nE\n",
        )
        .await;
    assert_eq!(imported["data"]["importCsv"]["inserted"], 2, "{imported}");
    let note = t
        .ok(
            Some(&owner),
            "mutation($t: ID!) { addField(tableId: $t, field: { key: \"note\", label: \"Note\", type: TEXT }) { id } }",
            json!({ "t": table }),
        )
        .await["addField"]["id"]
        .clone();
    let a = inserted["insertRows"][0]["id"].clone();
    t.ok(
        Some(&owner),
        "mutation($id: ID!) { updateRow(id: $id, values: { note: \"checked\" }) { id } }",
        json!({ "id": a }),
    )
    .await;
    t.ok(
        Some(&owner),
        "mutation($id: ID!) { removeField(id: $id) }",
        json!({ "id": note }),
    )
    .await;

    let rest = row_changes(&mut live, 5).await;
    let kinds: Vec<&str> = rest.iter().map(|(kind, _, _)| kind.as_str()).collect();
    assert_eq!(kinds, ["CREATED", "CREATED", "BULK", "UPDATED", "BULK"]);
    assert_eq!(
        (&rest[2].1, rest[2].2),
        (&Value::Null, 2),
        "the import: two rows, none named"
    );
    assert_eq!((&rest[3].1, rest[3].2), (&a, 1));
    assert_eq!(
        (&rest[4].1, rest[4].2),
        (&Value::Null, 1),
        "the removed field was only in one row"
    );

    // A grid that saw only the first of the three inserted rows gets exactly the rest.
    let mut resumed = WsClient::connect(t.addr, &ann).await;
    resumed
        .subscribe("grid", ROW_CHANGES, json!({ "t": table, "a": first["cursor"] }))
        .await;
    assert_eq!(row_changes(&mut resumed, 5).await, rest);
    resumed.expect_quiet(300).await;

    let mut refused = WsClient::connect(t.addr, &ann).await;
    let activity_cursor = newest_cursor(&t, &ann, &company.id).await;
    refused
        .subscribe("grid", ROW_CHANGES, json!({ "t": table, "a": activity_cursor }))
        .await;
    let refusal = refused.next_payload().await;
    assert_eq!(error_code(&refusal), "BAD_USER_INPUT", "{refusal}");
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_company_ends_its_feeds_with_a_clear_error() {
    let t = TestApp::spawn().await;
    let (owner, company, ann) = acme_with_an_editor(&t).await;
    let project = t.create_project(&owner, &company, "Footprint").await;
    let table = fuel_table(&t, &owner, &project).await;
    let mut ws = WsClient::connect(t.addr, &ann).await;
    ws.subscribe("feed", ACTIVITY, json!({ "c": company.id, "a": null }))
        .await;
    ws.subscribe("grid", ROW_CHANGES, json!({ "t": table })).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    t.ok(
        Some(&owner),
        "mutation($c: ID!) { deleteCompany(companyId: $c, confirmName: \"Acme\") }",
        json!({ "c": company.id }),
    )
    .await;
    let mut ended = Vec::new();
    while ended.len() < 2 {
        match ws.receive().await {
            Received::Message(message) if message["type"] == "next" => {
                let payload = &message["payload"];
                assert_eq!(error_code(payload), "NOT_FOUND", "{message}");
                assert_eq!(payload["errors"][0]["message"], "the company was deleted");
            }
            Received::Message(message) if message["type"] == "complete" => {
                ended.push(message["id"].as_str().unwrap().to_owned());
            }
            other => panic!("expected the feeds to end, got {other:?}"),
        }
    }
    ended.sort();
    assert_eq!(ended, ["feed", "grid"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replay_never_shows_a_removed_member_what_came_after_the_removal() {
    let t = TestApp::spawn().await;
    let (owner, company, ann) = acme_with_an_editor(&t).await;
    let start = newest_cursor(&t, &ann, &company.id).await;
    let after = guildhall::events::cursor::decode(Stream::Activity, start.as_str().unwrap()).unwrap();
    let caller = t.caller(&ann).await;
    let company_id = company.id.parse().unwrap();
    // What Ann's subscription knew of her before the removal: the listener has not told it yet.
    let stale = guildhall::events::service::standing(&t.app, &caller, company_id)
        .await
        .unwrap();
    remove_member(&t, &owner, &company, &ann).await;
    t.create_project(&owner, &company, "After Ann left").await;

    let mut replay = Box::pin(
        live::company_events(
            t.app.clone(),
            company_id,
            (caller.actor().unwrap(), stale),
            Stream::Activity,
            Start::After(after),
        )
        .await
        .unwrap(),
    );
    let err = replay.next().await.unwrap().unwrap_err();
    assert_eq!(err.code.as_str(), "FORBIDDEN", "{}", err.message);
    assert!(replay.next().await.is_none(), "the stream ends");
}

const GRID: &str = "subscription($t: ID!) { rowChanges(tableId: $t) { kind row { values } } }";

/// Inserts `rows` rows into `table` as `token` and waits until every grid heard each one;
/// returns the SQL statements the server ran meanwhile and each grid's values, in order.
async fn insert_heard_by(
    t: &TestApp,
    token: &str,
    table: &str,
    rows: usize,
    grids: &mut [WsClient],
) -> (u64, Vec<Vec<Value>>) {
    let before = t.app.statements.total();
    let values: Vec<Value> = (0..rows)
        .map(|n| json!({ "site": format!("Site {n}"), "cost": "9.99" }))
        .collect();
    t.ok(Some(token), INSERT, json!({ "t": table, "r": values }))
        .await;
    let mut heard = Vec::new();
    for grid in grids.iter_mut() {
        let mut seen = Vec::new();
        for _ in 0..rows {
            let change = grid.next_payload().await["data"]["rowChanges"].clone();
            assert_eq!(change["kind"], "CREATED", "{change}");
            seen.push(change["row"]["values"].clone());
        }
        heard.push(seen);
    }
    (t.app.statements.total() - before, heard)
}

#[tokio::test(flavor = "multi_thread")]
async fn grids_showing_a_change_share_one_read_of_its_rows_and_each_sees_only_what_it_may() {
    let t = TestApp::spawn().await;
    let (owner, company, ann) = acme_with_an_editor(&t).await;
    let project = t.create_project(&owner, &company, "Footprint").await;
    let table = t
        .ok(
            Some(&owner),
            CREATE_TABLE,
            json!({ "p": project, "n": "Costs", "f": [
                { "key": "site", "label": "Site", "type": "TEXT" },
                { "key": "cost", "label": "Cost", "type": "DECIMAL", "restricted": true }] }),
        )
        .await["createDataTable"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let open = async |token: &str| {
        let mut grid = WsClient::connect(t.addr, token).await;
        grid.subscribe("g", GRID, json!({ "t": table })).await;
        grid
    };

    let mut one = vec![open(&ann).await];
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (alone, _) = insert_heard_by(&t, &owner, &table, 10, &mut one).await;

    // Ann (an Editor, who may not see restricted fields) and Olga (the owner) three times each.
    let mut six = one;
    six.push(open(&ann).await);
    six.push(open(&ann).await);
    for _ in 0..3 {
        six.push(open(&owner).await);
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (shared, heard) = insert_heard_by(&t, &owner, &table, 10, &mut six).await;

    for (grid, values) in heard.iter().enumerate() {
        let olga = grid >= 3;
        for (n, row) in values.iter().enumerate() {
            assert_eq!(row["site"], format!("Site {n}"), "{row}");
            if olga {
                assert_eq!(row["cost"], "9.99", "the owner sees restricted values: {row}");
            } else {
                assert!(row.get("cost").is_none(), "an Editor never sees them: {row}");
            }
        }
    }
    // Each grid used to read every row itself: 5 more grids × 10 rows, 3 or 4 statements
    // each. Background workers add a few statements of their own to either figure.
    assert!(
        shared < alone + 50,
        "six grids cost {shared} statements, one grid {alone}"
    );
}

/// A selection of every one of the event's own fields, with an alias, a fragment and an
/// inline fragment: an activity subscription a graphql-transport-ws socket holds itself.
const HELD: &str = "subscription Feed($c: ID!, $p: ID, $a: String) { feed: activity(companyId: $c, projectId: $p, after: $a) { \
                    __typename id cursor kind: verb ...Said ... on ActivityEvent { targetType targetId } data createdAt } } \
                    fragment Said on ActivityEvent { summary }";

/// The `payload` of a `next` (graphql-transport-ws) or `data` (graphql-ws) message, as written.
fn raw_payload(message: &str) -> &str {
    let start = message.find("\"payload\":").expect("a payload") + "\"payload\":".len();
    &message[start..message.len() - 1]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_subscription_sends_byte_for_byte_what_a_streamed_one_sends_and_ends_as_it_does() {
    let t = TestApp::spawn().await;
    let (owner, company, ann) = acme_with_an_editor(&t).await;
    let footprint = t.create_project(&owner, &company, "Footprint").await;
    // From a cursor: on a busy machine a subscription may still be setting up as the
    // events below commit, and must miss none of them.
    let start = newest_cursor(&t, &ann, &company.id).await;
    // graphql-transport-ws holds the subscriptions; the legacy protocol streams them
    // through async-graphql.
    let mut held_ws = WsClient::connect(t.addr, &ann).await;
    let mut streamed_ws = WsClient::open_with(t.addr, &ann, "graphql-ws").await;
    assert_eq!(streamed_ws.receive_text().await, r#"{"type":"connection_ack"}"#);
    for ws in [&mut held_ws, &mut streamed_ws] {
        ws.subscribe("all", HELD, json!({ "c": company.id, "a": start }))
            .await;
        ws.subscribe(
            "footprint",
            HELD,
            json!({ "c": company.id, "p": footprint, "a": start }),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    t.create_project(&owner, &company, "Elsewhere").await;
    t.ok(
        Some(&owner),
        "mutation($id: ID!) { updateProject(id: $id, name: \"Footprint 2026\", description: \"Scope \\\"1\\\" ü\") { id } }",
        json!({ "id": footprint }),
    )
    .await;
    // Both feeds see both events and then end; the project feed sees only its project's.
    let read = async |ws: &mut WsClient, count: usize| {
        let mut messages = Vec::new();
        while messages.len() < count {
            messages.push(ws.receive_text().await);
        }
        messages
    };
    // The events are received before the removal: a feed that hears of the removal first
    // ends at once, before events committed ahead of it.
    let (mut held, mut streamed) = (read(&mut held_ws, 3).await, read(&mut streamed_ws, 3).await);
    remove_member(&t, &owner, &company, &ann).await;
    held.extend(read(&mut held_ws, 4).await);
    streamed.extend(read(&mut streamed_ws, 4).await);
    let by_operation = |messages: &[String], id: &str| -> Vec<(String, Option<String>)> {
        messages
            .iter()
            .filter(|text| text.contains(&format!("\"id\":\"{id}\"")))
            .map(|text| {
                let kind: Value = serde_json::from_str(text).unwrap();
                let kind = kind["type"].as_str().unwrap().to_owned();
                let payload = (kind != "complete").then(|| raw_payload(text).to_owned());
                (kind, payload)
            })
            .collect()
    };
    for id in ["all", "footprint"] {
        let (held, streamed) = (by_operation(&held, id), by_operation(&streamed, id));
        let kinds: Vec<&str> = held.iter().map(|(kind, _)| kind.as_str()).collect();
        let wanted: &[&str] = if id == "all" {
            &["next", "next", "next", "complete"]
        } else {
            &["next", "next", "complete"]
        };
        assert_eq!(kinds, wanted, "{held:?}");
        let payloads = |messages: &[(String, Option<String>)]| -> Vec<Option<String>> {
            messages.iter().map(|(_, payload)| payload.clone()).collect()
        };
        assert_eq!(payloads(&held), payloads(&streamed), "{id}");
    }
    let events: Vec<Value> = by_operation(&held, "all")
        .iter()
        .filter_map(|(_, payload)| payload.as_deref().map(|p| serde_json::from_str(p).unwrap()))
        .collect();
    assert_eq!(
        events[0]["data"]["feed"]["kind"], "project.created",
        "{}",
        events[0]
    );
    assert_eq!(events[0]["data"]["feed"]["__typename"], "ActivityEvent");
    assert_eq!(
        events[1]["data"]["feed"]["kind"], "project.updated",
        "{}",
        events[1]
    );
    assert_eq!(error_code(&events[2]), "FORBIDDEN", "{}", events[2]);
    assert_eq!(events[2]["errors"][0]["path"], json!(["feed"]), "{}", events[2]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_subscription_the_client_completes_stops_and_gives_its_id_and_place_back() {
    let t = TestApp::spawn_with(|config| config.ws_max_subscriptions = 1).await;
    let (owner, company, _) = acme_with_an_editor(&t).await;
    let mut ws = WsClient::connect(t.addr, &owner).await;
    ws.subscribe("feed", HELD, json!({ "c": company.id })).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    t.create_project(&owner, &company, "First").await;
    assert_eq!(ws.next_payload().await["data"]["feed"]["kind"], "project.created");

    ws.send(json!({ "id": "feed", "type": "complete" })).await;
    match ws.receive().await {
        Received::Message(message) => assert_eq!(message, json!({ "type": "complete", "id": "feed" })),
        other => panic!("expected complete, got {other:?}"),
    }
    t.create_project(&owner, &company, "Unheard").await;
    ws.expect_quiet(300).await;

    // The one place the socket has is free again and the id can start a new operation,
    // even sent right behind the `complete`, before its answer.
    ws.subscribe("feed", HELD, json!({ "c": company.id })).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    ws.send(json!({ "id": "feed", "type": "complete" })).await;
    ws.subscribe("feed", HELD, json!({ "c": company.id })).await;
    match ws.receive().await {
        Received::Message(message) => assert_eq!(message, json!({ "type": "complete", "id": "feed" })),
        other => panic!("expected complete, got {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    t.create_project(&owner, &company, "Heard").await;
    let heard = ws.next_payload().await;
    assert!(
        heard["data"]["feed"]["summary"]
            .as_str()
            .unwrap()
            .contains("Heard"),
        "{heard}"
    );
    ws.expect_quiet(300).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_socket_holds_plain_activity_subscriptions_replays_included_and_streams_the_rest() {
    let t = TestApp::spawn().await;
    let (owner, company, _) = acme_with_an_editor(&t).await;
    let start = newest_cursor(&t, &owner, &company.id).await;
    let held = Arc::new(HeldSubscriptions::default());
    let executor = SocketExecutor {
        pipeline: t.pipeline.clone(),
        held: Some(Arc::clone(&held)),
    };
    let principal = live_session::authenticate(&t.app, &owner).await.unwrap();
    let mut session = Data::default();
    session.insert(Caller {
        principal,
        client: ClientInfo::default(),
        request_id: "socket".to_owned(),
    });
    let session = Arc::new(session);
    let serials = std::sync::atomic::AtomicU64::new(0);
    let run = |id: &str, query: &str, variables: Value| {
        let serial = serials.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        held.starting(id.to_owned(), serial);
        let request = Request::new(query).variables(Variables::from_json(variables));
        let mut answers = executor.execute_stream(request, Some(Arc::clone(&session)));
        async move {
            // A held subscription's stream ends at once; a streamed one waits for events.
            tokio::time::timeout(Duration::from_secs(2), answers.next())
                .await
                .map(|answer| answer.map(|answer| answer.errors))
        }
    };
    assert_eq!(run("plain", HELD, json!({ "c": company.id })).await, Ok(None));
    assert!(held.take("plain").is_some(), "held by the socket");

    let beyond = ACTIVITY;
    assert!(run("reaching", beyond, json!({ "c": company.id })).await.is_err());
    assert!(
        held.take("reaching").is_none(),
        "an answer that depends on the reader"
    );
    t.create_project(&owner, &company, "Missed").await;
    let replaying = HELD
        .replace("$p: ID)", "$p: ID, $a: String)")
        .replace("projectId: $p)", "projectId: $p, after: $a)");
    let replayed = run("replaying", &replaying, json!({ "c": company.id, "a": start })).await;
    assert_eq!(replayed, Ok(None), "held, with its replay still to run");
    let mut resumed = held.take("replaying").expect("held by the socket");
    let missed = resumed.next_message().await.expect("the missed event");
    assert!(
        missed.starts_with(r#"{"type":"next","id":"replaying","payload":{"data":{"feed":"#)
            && missed.contains("Project Missed created"),
        "{missed}"
    );
}
