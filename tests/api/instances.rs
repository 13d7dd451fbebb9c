//! Several server instances on one database, one of them reaching it through PgBouncer
//! (session mode), as deployments behind a load balancer run: a mutation through any
//! instance reaches the subscribers of all, and a key revoked through one is refused by
//! every other. And an instance behind PgBouncer in transaction mode.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::helpers::pgbouncer::PgBouncer;
use crate::helpers::ws::WsClient;

async fn post(t: &TestApp, addr: SocketAddr, token: &str, query: &str, variables: Value) -> (u16, Value) {
    let response = t
        .http
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// The cursor of the company's newest event: subscribers start after it, so they miss
/// nothing made while they subscribe.
async fn newest_cursor(t: &TestApp, token: &str, company: &str) -> String {
    t.ok(
        Some(token),
        "query($c: ID!) { company(id: $c) { activity(first: 1) { edges { node { cursor } } } } }",
        json!({ "c": company }),
    )
    .await["company"]["activity"]["edges"][0]["node"]["cursor"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A socket on `addr` following the company's activity summaries after `after`.
async fn feed_subscriber(addr: SocketAddr, token: &str, company: &str, after: &str) -> WsClient {
    let mut socket = WsClient::connect(addr, token).await;
    socket
        .subscribe(
            "feed",
            "subscription($c: ID!, $a: String) { activity(companyId: $c, after: $a) { summary } }",
            json!({ "c": company, "a": after }),
        )
        .await;
    socket
}

#[tokio::test(flavor = "multi_thread")]
async fn three_instances_one_through_pgbouncer_serve_and_hear_every_event() {
    let bouncer = PgBouncer::start("session", 40).await;
    let t = TestApp::spawn().await;
    let second = t.second_instance().await;
    let through_bouncer = bouncer.through(&guildhall::db::roles::derived_url(&t.db.url).unwrap());
    let third = t
        .instance_with(|config| config.database_app_url = Some(through_bouncer))
        .await;
    let instances = [t.addr, second.addr, third.addr];
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    let newest = newest_cursor(&t, &owner, &company.id).await;

    // A subscriber on each instance, from the same cursor; a project made through each.
    let mut subscribers = Vec::new();
    for addr in instances {
        subscribers.push(feed_subscriber(addr, &owner, &company.id, &newest).await);
    }
    for (n, addr) in instances.iter().enumerate() {
        let (status, answer) = post(
            &t,
            *addr,
            &owner,
            "mutation($c: ID!, $n: String!) { createProject(companyId: $c, name: $n) { id } }",
            json!({ "c": company.id, "n": format!("Project {n}") }),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        assert!(answer["errors"].is_null(), "{answer}");
    }
    for (n, socket) in subscribers.iter_mut().enumerate() {
        let mut heard = Vec::new();
        for _ in 0..3 {
            let event = socket.next_payload().await;
            heard.push(event["data"]["activity"]["summary"].as_str().unwrap().to_owned());
        }
        heard.sort();
        assert_eq!(
            heard,
            [
                "Project Project 0 created",
                "Project Project 1 created",
                "Project Project 2 created"
            ],
            "the subscriber on instance {n}"
        );
        socket.expect_quiet(200).await;
    }

    // A key revoked through the instance behind PgBouncer is refused by the others.
    let key = t
        .ok(
            Some(&owner),
            "mutation($c: ID!, $r: ID!) { createApiKey(companyId: $c, name: \"Sync\", roleId: $r) { secret apiKey { id } } }",
            json!({ "c": company.id, "r": company.role("Viewer") }),
        )
        .await;
    let secret = key["createApiKey"]["secret"].as_str().unwrap().to_owned();
    let key_id = key["createApiKey"]["apiKey"]["id"].as_str().unwrap().to_owned();
    let read = "query($c: ID!) { company(id: $c) { name } }";
    for addr in instances {
        let (status, answer) = post(&t, addr, &secret, read, json!({ "c": company.id })).await;
        assert_eq!(status, 200, "every instance knows the key: {answer}");
    }
    let (status, answer) = post(
        &t,
        third.addr,
        &owner,
        "mutation($k: ID!) { revokeApiKey(id: $k) { id } }",
        json!({ "k": key_id }),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    for addr in [t.addr, second.addr] {
        let mut refused = false;
        for _ in 0..40 {
            let (status, _) = post(&t, addr, &secret, read, json!({ "c": company.id })).await;
            if status == 401 {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(refused, "instance {addr} heard the revocation");
    }
}

/// PgBouncer 1.18 in transaction mode gives each transaction whichever server connection
/// is free, so no statement may outlive its transaction: with `DATABASE_KEEP_PREPARED=false`
/// and LISTEN on a direct connection, an instance whose pool goes through it serves
/// concurrent reads and writes and hears every event.
#[tokio::test(flavor = "multi_thread")]
async fn an_instance_behind_pgbouncer_in_transaction_mode_serves_and_hears_events() {
    // Two server connections for eight pooled ones: transactions share them all the time.
    let bouncer = PgBouncer::start("transaction", 2).await;
    let t = TestApp::spawn().await;
    let direct = guildhall::db::roles::derived_url(&t.db.url).unwrap();
    let pooled = bouncer.through(&direct);
    let behind = t
        .instance_with(|config| {
            config.database_app_url = Some(pooled);
            config.database_direct_url = Some(direct);
            config.database_keep_prepared = false;
            config.database_pool_size = 8;
        })
        .await;
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    let newest = newest_cursor(&t, &owner, &company.id).await;
    let mut socket = feed_subscriber(behind.addr, &owner, &company.id, &newest).await;

    let create = "mutation($c: ID!, $n: String!) { createProject(companyId: $c, name: $n) { id } }";
    let read = "query($c: ID!) { company(id: $c) { name projects(first: 50) { totalCount edges { node { name } } } } }";
    let calls = (0..40).map(|n| {
        let (query, variables) = if n % 2 == 0 {
            (create, json!({ "c": company.id, "n": format!("P{n:02}") }))
        } else {
            (read, json!({ "c": company.id }))
        };
        post(&t, behind.addr, &owner, query, variables)
    });
    for (status, answer) in futures_util::future::join_all(calls).await {
        assert_eq!(status, 200, "{answer}");
        assert!(answer["errors"].is_null(), "{answer}");
    }
    let (_, listed) = post(&t, behind.addr, &owner, read, json!({ "c": company.id })).await;
    assert_eq!(
        listed["data"]["company"]["projects"]["totalCount"], 20,
        "{listed}"
    );

    let mut heard = Vec::new();
    for _ in 0..20 {
        let event = socket.next_payload().await;
        heard.push(event["data"]["activity"]["summary"].as_str().unwrap().to_owned());
    }
    heard.sort();
    let expected: Vec<String> = (0..40)
        .step_by(2)
        .map(|n| format!("Project P{n:02} created"))
        .collect();
    assert_eq!(heard, expected);
    socket.expect_quiet(200).await;
}
