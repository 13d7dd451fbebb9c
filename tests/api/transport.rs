//! The real HTTP server: GraphQL over HTTP, the playground, websockets, health, errors.

use std::time::Duration;

use diesel_async::RunQueryDsl;
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::{TestApp, error_code};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

#[tokio::test(flavor = "multi_thread")]
async fn a_newcomer_registers_verifies_logs_in_and_reads_me_over_http() {
    let t = TestApp::spawn().await;
    let register = json!({
        "query": "mutation($input: RegisterInput!) { register(input: $input) }",
        "variables": { "input": { "email": "web@example.com", "password": "correct horse battery staple", "name": "Web" } }
    });
    let response = t.post(None, register).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["x-request-id"].to_str().unwrap().len() >= 8);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "data": { "register": true } })
    );

    let token = t.smtp.wait_for("web@example.com", "Verify").await.token();
    let page = t
        .http
        .get(format!("{}/verify-email?token={token}", t.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("verifyEmail"));
    let verify = json!({ "query": "mutation($t: String!) { verifyEmail(token: $t) { emailVerified } }", "variables": { "t": token } });
    let verified: Value = t.post(None, verify).await.json().await.unwrap();
    assert_eq!(verified["data"]["verifyEmail"]["emailVerified"], true);

    let login = json!({ "query": "mutation { login(input: { email: \"web@example.com\", password: \"correct horse battery staple\" }) { accessToken } }" });
    let login: Value = t.post(None, login).await.json().await.unwrap();
    let access = login["data"]["login"]["accessToken"].as_str().unwrap().to_owned();
    let me: Value = t
        .post(Some(&access), json!({ "query": "{ me { user { email } } }" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["data"]["me"]["user"]["email"], "web@example.com");

    let reset_page = t
        .http
        .get(format!("{}/reset-password", t.base_url()))
        .send()
        .await
        .unwrap();
    assert!(reset_page.text().await.unwrap().contains("requestPasswordReset"));
}

#[tokio::test(flavor = "multi_thread")]
async fn responses_follow_the_graphql_over_http_media_types_and_status_codes() {
    let t = TestApp::spawn().await;
    let url = format!("{}/graphql", t.base_url());
    let invalid = json!({ "query": "{ nope }" });

    let modern = t
        .http
        .post(&url)
        .header(ACCEPT, GRAPHQL_RESPONSE)
        .json(&invalid)
        .send()
        .await
        .unwrap();
    assert_eq!(modern.status(), StatusCode::BAD_REQUEST);
    assert!(
        modern.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with(GRAPHQL_RESPONSE)
    );
    let body: Value = modern.json().await.unwrap();
    assert!(
        body.get("data").is_none(),
        "a request error has no data entry: {body}"
    );
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");

    let legacy = t
        .http
        .post(&url)
        .header(ACCEPT, "application/json")
        .json(&invalid)
        .send()
        .await
        .unwrap();
    assert_eq!(legacy.status(), StatusCode::OK);
    assert!(
        legacy.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );

    let ok = t
        .http
        .post(&url)
        .header(ACCEPT, GRAPHQL_RESPONSE)
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);

    let unacceptable = t
        .http
        .post(&url)
        .header(ACCEPT, "text/csv")
        .json(&invalid)
        .send()
        .await
        .unwrap();
    assert_eq!(unacceptable.status(), StatusCode::NOT_ACCEPTABLE);

    let malformed = t
        .http
        .post(&url)
        .header(CONTENT_TYPE, "application/json")
        .body("{ not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread")]
async fn get_runs_queries_but_never_mutations() {
    let t = TestApp::spawn().await;
    let url = format!("{}/graphql", t.base_url());
    let query = t
        .http
        .get(&url)
        .query(&[("query", "{ __typename }")])
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), StatusCode::OK);
    assert_eq!(
        query.json::<Value>().await.unwrap(),
        json!({ "data": { "__typename": "Query" } })
    );

    let mutation = t
        .http
        .get(&url)
        .query(&[(
            "query",
            "mutation { resendVerificationEmail(email: \"a@example.com\") }",
        )])
        .send()
        .await
        .unwrap();
    assert_eq!(mutation.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(mutation.headers()["allow"], "POST");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_playground_opens_in_a_browser_wired_to_the_websocket() {
    let t = TestApp::spawn().await;
    let page = t
        .http
        .get(format!("{}/graphql", t.base_url()))
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.to_lowercase().contains("graphiql"));
    assert!(html.contains("/graphql/ws"));
}

#[tokio::test(flavor = "multi_thread")]
async fn simple_cross_site_requests_are_refused() {
    let t = TestApp::spawn().await;
    let url = format!("{}/graphql", t.base_url());
    let body = r#"{"query":"mutation { resendVerificationEmail(email: \"a@example.com\") }"}"#;
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let response = t
            .http
            .post(&url)
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}"
        );
    }
    let multipart = t
        .http
        .post(&url)
        .header(CONTENT_TYPE, "multipart/form-data; boundary=x")
        .body("--x--")
        .send()
        .await
        .unwrap();
    assert_eq!(multipart.status(), StatusCode::BAD_REQUEST);
    let text = multipart.text().await.unwrap();
    assert!(text.contains("Preflight"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_and_batches_are_refused_naming_the_limit() {
    let t = TestApp::spawn().await;
    let url = format!("{}/graphql", t.base_url());
    let padding = " ".repeat(2 * 1024 * 1024 + 1);
    let big = format!(r#"{{"query":"{{ __typename }}{padding}"}}"#);
    let response = t
        .http
        .post(&url)
        .header(CONTENT_TYPE, "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("MAX_BODY_BYTES") && message.contains("2097152"),
        "{message}"
    );

    let batch: Vec<Value> = (0..2).map(|_| json!({ "query": "{ __typename }" })).collect();
    let ok: Value = t.post(None, json!(batch)).await.json().await.unwrap();
    assert_eq!(
        ok,
        json!([{ "data": { "__typename": "Query" } }, { "data": { "__typename": "Query" } }])
    );
    let batch: Vec<Value> = (0..11).map(|_| json!({ "query": "{ __typename }" })).collect();
    let refused: Value = t.post(None, json!(batch)).await.json().await.unwrap();
    assert_eq!(error_code(&refused), "QUERY_TOO_COMPLEX");
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("limit is 10")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_bearer_token_is_401_unauthenticated() {
    let t = TestApp::spawn().await;
    let response = t
        .post(Some("not.a.jwt"), json!({ "query": "{ __typename }" }))
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key("www-authenticate"));
    assert_eq!(
        error_code(&response.json::<Value>().await.unwrap()),
        "UNAUTHENTICATED"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn internal_errors_show_a_request_id_and_no_sql() {
    let t = TestApp::spawn().await;
    let mut conn = t.db.connect().await;
    diesel::sql_query("DROP TABLE rate_limit_hits")
        .execute(&mut conn)
        .await
        .unwrap();
    let response = t
        .post(
            None,
            json!({ "query": "mutation { resendVerificationEmail(email: \"a@example.com\") }" }),
        )
        .await;
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "INTERNAL");
    assert_eq!(body["errors"][0]["extensions"]["requestId"], request_id.as_str());
    let text = body.to_string();
    assert!(
        !text.contains("rate_limit_hits") && !text.contains("relation"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn health_probes_report_liveness_and_database_readiness() {
    let t = TestApp::spawn().await;
    let live = t
        .http
        .get(format!("{}/health/live", t.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let ready = t
        .http
        .get(format!("{}/health/ready", t.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    let down = TestApp::spawn_with(|config| {
        config.database_url = "postgres://postgres@127.0.0.1:1/guildhall".to_owned();
    })
    .await;
    let ready = down
        .http
        .get(format!("{}/health/ready", down.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = ready.json().await.unwrap();
    assert!(body["reason"].as_str().unwrap().contains("database"), "{body}");
}

async fn open_websocket(
    t: &TestApp,
    protocol: &str,
    origin: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    tokio_tungstenite::tungstenite::Error,
> {
    let mut request = format!("ws://{}/graphql/ws", t.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", protocol.parse().unwrap());
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", origin.parse().unwrap());
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

async fn next_json<S>(socket: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("websocket message in time")
            .expect("open socket")
            .expect("valid frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_websocket_authenticates_with_the_token_in_connection_init() {
    let t = TestApp::spawn().await;
    let token = t.verified_user("ws@example.com", "Ws").await;
    let mut socket = open_websocket(&t, "graphql-transport-ws", Some("http://anywhere.test"))
        .await
        .unwrap();
    socket
        .send(Message::Text(
            json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    assert_eq!(next_json(&mut socket).await["type"], "connection_ack");
    socket
        .send(Message::Text(
            json!({ "id": "1", "type": "subscribe", "payload": { "query": "{ me { user { email } } }" } })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let next = next_json(&mut socket).await;
    assert_eq!(next["type"], "next");
    assert_eq!(next["payload"]["data"]["me"]["user"]["email"], "ws@example.com");
    assert_eq!(next_json(&mut socket).await["type"], "complete");

    // Signing out over HTTP ends the websocket's access too.
    let logout: Value = t
        .post(Some(&token), json!({ "query": "mutation { logout }" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(logout["data"]["logout"], true);
    socket
        .send(Message::Text(
            json!({ "id": "2", "type": "subscribe", "payload": { "query": "{ me { user { email } } }" } })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let refused = next_json(&mut socket).await;
    assert_eq!(
        refused["type"], "error",
        "an operation refused before it runs: {refused}"
    );
    assert_eq!(
        refused["payload"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{refused}"
    );

    let mut legacy = open_websocket(&t, "graphql-ws", None).await.unwrap();
    legacy
        .send(Message::Text(
            json!({ "type": "connection_init", "payload": {} })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    assert_eq!(next_json(&mut legacy).await["type"], "connection_ack");

    let mut bad = open_websocket(&t, "graphql-transport-ws", None).await.unwrap();
    bad.send(Message::Text(
        json!({ "type": "connection_init", "payload": { "token": "forged" } })
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(10), bad.next())
        .await
        .unwrap();
    assert!(matches!(closed, Some(Ok(Message::Close(Some(_))))), "{closed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn websocket_origins_outside_the_allowlist_are_refused() {
    let t =
        TestApp::spawn_with(|config| config.ws_allowed_origins = vec!["https://app.example.com".to_owned()])
            .await;
    assert!(
        open_websocket(&t, "graphql-transport-ws", Some("https://evil.example.com"))
            .await
            .is_err()
    );
    assert!(
        open_websocket(&t, "graphql-transport-ws", Some("https://app.example.com"))
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_closes_websockets_with_a_going_away_frame() {
    let mut t = TestApp::spawn().await;
    let mut socket = open_websocket(&t, "graphql-transport-ws", None).await.unwrap();
    socket
        .send(Message::Text(
            json!({ "type": "connection_init" }).to_string().into(),
        ))
        .await
        .unwrap();
    assert_eq!(next_json(&mut socket).await["type"], "connection_ack");
    let reader = tokio::spawn(async move {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                other => panic!("socket ended without a close frame: {other:?}"),
            }
        }
    });
    t.shutdown().await;
    let frame = tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(frame.code, CloseCode::Away);
    assert_eq!(
        frame.reason.as_str(),
        "server shutting down; reconnect and resume from your last cursor"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_trusted_proxy_the_client_address_is_the_one_the_proxy_appended() {
    let t = TestApp::spawn_with(|config| config.trust_proxy_headers = true).await;
    t.verified_user("px@example.com", "Px").await;
    let login = json!({ "query": "mutation { login(input: { email: \"px@example.com\", password: \"correct horse battery staple\" }) { accessToken } }" });
    let response: Value = t
        .http
        .post(format!("{}/graphql", t.base_url()))
        .header("x-forwarded-for", "6.6.6.6, 203.0.113.7")
        .json(&login)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = response["data"]["login"]["accessToken"].as_str().unwrap();
    let me = t
        .ok(Some(token), "{ me { sessions { ip current } } }", json!({}))
        .await;
    let current = me["me"]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()
        .clone();
    assert_eq!(current["ip"], "203.0.113.7");
}
