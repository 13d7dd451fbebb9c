//! What one websocket and one account may hold: operations per socket, sockets per
//! account, and the time a socket has to introduce itself.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::ws::{Received, WsClient, raw_socket};
use crate::helpers::{TestApp, error_code};

const ACTIVITY: &str = "subscription($c: ID!) { activity(companyId: $c) { verb } }";

fn closed_with(received: Received) -> (u16, String) {
    match received {
        Received::Closed(Some(frame)) => (u16::from(frame.code), frame.reason.to_string()),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_socket_runs_at_most_its_maximum_of_operations_and_a_completed_one_frees_its_place() {
    let t = TestApp::spawn_with(|config| config.ws_max_subscriptions = 3).await;
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    let mut socket = WsClient::connect(t.addr, &owner).await;
    for id in ["1", "2", "3", "4"] {
        socket.subscribe(id, ACTIVITY, json!({ "c": company.id })).await;
    }
    let refused = match socket.receive().await {
        Received::Message(message) => message,
        other => panic!("expected an error, got {other:?}"),
    };
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "4");
    let errors = json!({ "errors": refused["payload"] });
    assert_eq!(error_code(&errors), "QUERY_TOO_COMPLEX", "{refused}");
    assert!(
        errors["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("WS_MAX_SUBSCRIPTIONS"),
        "{refused}"
    );
    socket.expect_quiet(300).await;

    socket.send(json!({ "id": "2", "type": "complete" })).await;
    let completed = socket.receive().await;
    assert!(
        matches!(&completed, Received::Message(m) if m["type"] == "complete" && m["id"] == "2"),
        "{completed:?}"
    );
    socket.subscribe("5", "{ __typename }", json!({})).await;
    assert_eq!(socket.next_payload().await["data"]["__typename"], "Query");

    t.ok(
        Some(&owner),
        "mutation($c: ID!) { createProject(companyId: $c, name: \"Live\") { id } }",
        json!({ "c": company.id }),
    )
    .await;
    let mut delivered = Vec::new();
    for _ in 0..3 {
        match socket.receive().await {
            Received::Message(message) if message["type"] == "next" => {
                delivered.push(message["id"].as_str().unwrap().to_owned());
            }
            Received::Message(message) if message["type"] == "complete" && message["id"] == "5" => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    delivered.sort();
    delivered.dedup();
    assert!(
        delivered.contains(&"1".to_owned()) && delivered.contains(&"3".to_owned()),
        "{delivered:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_socket_that_never_introduces_itself_is_closed_with_4408() {
    let t = TestApp::spawn_with(|config| config.ws_init_timeout_secs = 1).await;
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        let mut socket = raw_socket(t.addr, protocol).await;
        let started = std::time::Instant::now();
        let frame = loop {
            match tokio::time::timeout(Duration::from_secs(5), socket.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => break frame,
                Ok(Some(Ok(_))) => {}
                other => panic!("{protocol}: expected a close, got {other:?}"),
            }
        };
        let frame = frame.expect("a close frame");
        assert_eq!(u16::from(frame.code), 4408, "{protocol}");
        assert_eq!(frame.reason.as_str(), "Connection initialisation timeout");
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "not before the timeout"
        );
    }
    let introduced = WsClient::connect_anonymous(t.addr).await;
    introduced.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_holds_at_most_its_maximum_of_sockets_and_a_closed_one_frees_its_seat() {
    let t = TestApp::spawn_with(|config| config.ws_max_sockets_per_user = 2).await;
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let other = t.verified_user("other@example.com", "Other").await;
    let first = WsClient::connect(t.addr, &owner).await;
    let _second = WsClient::connect(t.addr, &owner).await;
    let mut third = WsClient::open(t.addr, &owner).await;
    let (code, reason) = closed_with(third.receive().await);
    assert_eq!(code, 4403);
    assert!(reason.contains("WS_MAX_SOCKETS_PER_USER"), "{reason}");
    WsClient::connect(t.addr, &other).await;

    first.close().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = WsClient::open(t.addr, &owner).await;
        match again.receive().await {
            Received::Message(ack) if ack["type"] == "connection_ack" => break,
            _ if std::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            other => panic!("the closed socket's seat was not freed: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operation_refused_before_it_runs_gets_one_error_message_and_nothing_after() {
    let t = TestApp::spawn().await;
    let mut socket = WsClient::connect_anonymous(t.addr).await;
    socket.subscribe("bad", "{ nope }", json!({})).await;
    let refused = match socket.receive().await {
        Received::Message(message) => message,
        other => panic!("{other:?}"),
    };
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "bad");
    let payload: &Value = &refused["payload"];
    assert!(
        payload[0]["message"].as_str().unwrap().contains("nope"),
        "{refused}"
    );
    socket.subscribe("good", "{ __typename }", json!({})).await;
    let next = socket.receive().await;
    assert!(
        matches!(&next, Received::Message(m) if m["type"] == "next" && m["id"] == "good"),
        "no complete for the refused operation comes first: {next:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_and_finished_operations_give_their_place_back_and_a_reused_id_closes_with_4409() {
    let t = TestApp::spawn_with(|config| config.ws_max_subscriptions = 2).await;
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    let mut socket = WsClient::connect(t.addr, &owner).await;
    for n in 0..5 {
        let id = format!("bad{n}");
        socket.subscribe(&id, "{ nope }", json!({})).await;
        let refused = socket.receive().await;
        assert!(
            matches!(&refused, Received::Message(m) if m["type"] == "error" && m["id"] == id.as_str()),
            "{refused:?}"
        );
        let id = format!("query{n}");
        socket.subscribe(&id, "{ __typename }", json!({})).await;
        assert_eq!(socket.next_payload().await["data"]["__typename"], "Query");
        let completed = socket.receive().await;
        assert!(
            matches!(&completed, Received::Message(m) if m["type"] == "complete"),
            "{completed:?}"
        );
    }
    socket.subscribe("a", ACTIVITY, json!({ "c": company.id })).await;
    socket.subscribe("b", ACTIVITY, json!({ "c": company.id })).await;
    socket.expect_quiet(300).await;
    socket.subscribe("b", ACTIVITY, json!({ "c": company.id })).await;
    let (code, reason) = closed_with(socket.receive().await);
    assert_eq!((code, reason.as_str()), (4409, "Subscriber for b already exists"));
}
