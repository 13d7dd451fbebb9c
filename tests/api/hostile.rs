//! Hostile documents: every transport that parses refuses what would crash the parser or
//! multiply the server's work, answers with the limit it hit, and goes on serving.

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::ws::{Received, Socket, WsClient, raw_socket};
use crate::helpers::{TestApp, error_code, multipart_body};

fn message(response: &Value) -> &str {
    response["errors"][0]["message"].as_str().unwrap_or_default()
}

fn assert_message_says(response: &Value, says: &str) {
    assert!(message(response).contains(says), "{says:?} in {response}");
}

/// The shapes that recurse in the parser, `levels` deep.
fn deep_documents(levels: usize) -> Vec<(&'static str, String)> {
    vec![
        (
            "list value",
            format!(
                "{{ permissionCatalog(x: {}1{}) {{ resource }} }}",
                "[".repeat(levels),
                "]".repeat(levels)
            ),
        ),
        (
            "object value",
            format!(
                "{{ permissionCatalog(x: {}1{}) {{ resource }} }}",
                "{a:".repeat(levels),
                "}".repeat(levels)
            ),
        ),
        (
            "selection set",
            format!("{{ {}__typename{} }}", "a { ".repeat(levels), " }".repeat(levels)),
        ),
        (
            "list type",
            format!(
                "query($v: {}Int{}) {{ __typename }}",
                "[".repeat(levels),
                "]".repeat(levels)
            ),
        ),
    ]
}

fn assert_nesting_refused(shape: &str, response: &Value) {
    assert_eq!(error_code(response), "QUERY_TOO_COMPLEX", "{shape}: {response}");
    assert!(
        message(response).contains("limit of 64"),
        "{shape}: {}",
        message(response)
    );
}

async fn still_answers(t: &TestApp) {
    let answer: Value = t
        .post(None, json!({ "query": "{ __typename }" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer, json!({ "data": { "__typename": "Query" } }));
}

#[tokio::test(flavor = "multi_thread")]
async fn deeply_nested_documents_are_refused_over_post_batches_and_get_and_the_server_goes_on() {
    let t = TestApp::spawn().await;
    for (shape, query) in deep_documents(100_000) {
        let response: Value = t
            .post(None, json!({ "query": query }))
            .await
            .json()
            .await
            .unwrap();
        assert_nesting_refused(shape, &response);
        let batch: Value = t
            .post(None, json!([{ "query": "{ __typename }" }, { "query": query }]))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(batch[0]["data"]["__typename"], "Query", "{shape}");
        assert_nesting_refused(shape, &batch[1]);
        still_answers(&t).await;
    }
    for (shape, query) in deep_documents(5_000) {
        let response = t
            .http
            .get(format!("{}/graphql", t.base_url()))
            .query(&[("query", query.as_str())])
            .send()
            .await
            .unwrap();
        let response: Value = response.json().await.unwrap();
        assert_nesting_refused(shape, &response);
        still_answers(&t).await;
    }
    let within = format!(
        "{{ permissionCatalog(x: {}1{}) {{ resource }} }}",
        "[".repeat(40),
        "]".repeat(40)
    );
    let response: Value = t
        .post(None, json!({ "query": within }))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        !message(&response).contains("limit of 64"),
        "40 levels pass the scan (and fail validation for the unknown argument): {response}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deeply_nested_documents_are_refused_in_multipart_operations() {
    let t = TestApp::spawn().await;
    let token = t.verified_user("deep@example.com", "Deep").await;
    for (shape, query) in deep_documents(100_000) {
        let boundary = "hostile-boundary";
        let operations = json!({ "query": query, "variables": { "file": null } });
        let body = multipart_body(boundary, &operations, "a.csv", "email");
        let response: Value = t
            .http
            .post(format!("{}/graphql", t.base_url()))
            .bearer_auth(&token)
            .header(CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
            .header("apollo-require-preflight", "true")
            .body(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_nesting_refused(shape, &response);
        still_answers(&t).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deeply_nested_documents_are_refused_over_both_websocket_protocols() {
    let t = TestApp::spawn().await;
    let mut modern = WsClient::connect_anonymous(t.addr).await;
    for (shape, query) in deep_documents(100_000) {
        modern.subscribe(shape, &query, json!({})).await;
        match modern.receive().await {
            Received::Message(message) => {
                assert_eq!(message["type"], "error", "{shape}: {message}");
                assert_eq!(message["id"], shape);
                assert_nesting_refused(shape, &json!({ "errors": message["payload"] }));
            }
            Received::Closed(frame) => panic!("{shape}: closed {frame:?}"),
        }
    }
    modern.subscribe("after", "{ __typename }", json!({})).await;
    assert_eq!(modern.next_payload().await["data"]["__typename"], "Query");

    let mut legacy = legacy_socket(&t).await;
    for (shape, query) in deep_documents(100_000) {
        let start = json!({ "id": shape, "type": "start", "payload": { "query": query } });
        legacy
            .send(Message::Text(start.to_string().into()))
            .await
            .unwrap();
        let answer = legacy_next(&mut legacy).await;
        assert_eq!(answer["id"], shape, "{answer}");
        assert_nesting_refused(shape, &answer["payload"]);
    }
    still_answers(&t).await;
}

/// A socket speaking the legacy graphql-ws protocol, initialised anonymously.
async fn legacy_socket(t: &TestApp) -> Socket {
    let mut socket = raw_socket(t.addr, "graphql-ws").await;
    let init = json!({ "type": "connection_init", "payload": {} });
    socket.send(Message::Text(init.to_string().into())).await.unwrap();
    assert_eq!(legacy_next(&mut socket).await["type"], "connection_ack");
    socket
}

/// The next legacy message that is neither a keep-alive nor a completion.
async fn legacy_next(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .expect("a message in time")
            .expect("open socket")
            .expect("a frame");
        if let Message::Text(text) = frame {
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] != "ka" && value["type"] != "complete" {
                return value;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_fields_and_fragments_count_against_the_selection_limit() {
    let t = TestApp::spawn().await;
    let duplicates = "invitationPreview(token: \"x\") { email } ".repeat(4_000);
    let response = t.gql(None, &format!("{{ {duplicates} }}"), json!({})).await;
    assert_eq!(error_code(&response), "QUERY_TOO_COMPLEX", "{response}");
    assert_message_says(&response, "limit is 500");

    let fields = "permissionCatalog { resource } ".repeat(251);
    let response = t.gql(None, &format!("{{ {fields} }}"), json!({})).await;
    assert_message_says(&response, "502 selections");
    let spread = format!(
        "{{ {} }} fragment F on Query {{ permissionCatalog {{ resource }} }}",
        "...F ".repeat(200)
    );
    let response = t.gql(None, &spread, json!({})).await;
    assert_message_says(&response, "600 selections");

    let within = "permissionCatalog { resource } ".repeat(10);
    let answer = t.ok(None, &format!("{{ {within} }}"), json!({})).await;
    assert!(
        answer["permissionCatalog"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fragment_bombs_and_cycles_are_refused_before_validation() {
    let t = TestApp::spawn().await;
    let mut bomb = String::from("{ ...F0 }\n");
    for level in 0..40 {
        bomb.push_str(&format!(
            "fragment F{level} on Query {{ ...F{} ...F{} }}\n",
            level + 1,
            level + 1
        ));
    }
    let started = std::time::Instant::now();
    let response = t.gql(None, &bomb, json!({})).await;
    assert_eq!(error_code(&response), "QUERY_TOO_COMPLEX", "{response}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "refused without expanding"
    );

    let mut unused = String::from("{ __typename }\n");
    for level in 0..50_000 {
        unused.push_str(&format!("fragment F{level} on Query {{ ...F{} }}\n", level + 1));
    }
    let response = t
        .post(None, json!({ "query": unused }))
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        error_code(&response),
        "QUERY_TOO_COMPLEX",
        "a chain of fragments no operation spreads: {response}"
    );
    still_answers(&t).await;

    let cycle = "{ ...A } fragment A on Query { __typename ...B ...B } fragment B on Query { ...A ...A }";
    let response = t.gql(None, cycle, json!({})).await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response}");
    assert_message_says(&response, "spreads itself");
    still_answers(&t).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn complexity_counts_repeated_fields_and_fragment_uses() {
    let t = TestApp::spawn_with(|config| config.max_complexity = 4).await;
    let token = t.verified_user("cost@example.com", "Cost").await;
    let repeated = t
        .gql(
            Some(&token),
            "{ me { preferences } me { preferences } me { preferences } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&repeated), "QUERY_TOO_COMPLEX", "{repeated}");
    let spread = t
        .gql(
            Some(&token),
            "{ ...M ...M ...M } fragment M on Query { me { preferences } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&spread), "QUERY_TOO_COMPLEX", "{spread}");
    t.ok(Some(&token), "{ me { preferences } }", json!({})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn directives_piled_on_one_field_are_refused_with_a_short_answer() {
    let t = TestApp::spawn().await;
    let query = format!("{{ __typename {} }}", "@include(if: true) ".repeat(20_000));
    let response = t.post(None, json!({ "query": query })).await;
    let body = response.text().await.unwrap();
    assert!(body.len() < 1_000, "the answer is short: {} bytes", body.len());
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error_code(&body), "QUERY_TOO_COMPLEX", "{body}");
    assert_message_says(&body, "limit is 10");
    let within = t
        .ok(
            None,
            "{ __typename @include(if: true) @skip(if: false) }",
            json!({}),
        )
        .await;
    assert_eq!(within["__typename"], "Query");
}

#[tokio::test(flavor = "multi_thread")]
async fn many_validation_errors_are_answered_with_a_bounded_list() {
    let t = TestApp::spawn().await;
    let arguments = (0..5_000)
        .map(|i| format!("a{i}: 1"))
        .collect::<Vec<_>>()
        .join(" ");
    let response = t
        .gql(
            None,
            &format!("{{ permissionCatalog({arguments}) {{ resource }} }}"),
            json!({}),
        )
        .await;
    let errors = response["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 51, "fifty errors and a count of the rest");
    assert!(
        errors[50]["message"]
            .as_str()
            .unwrap()
            .contains("more errors not shown"),
        "{}",
        errors[50]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn introspection_through_a_fragment_is_refused_when_it_is_off() {
    let t = TestApp::spawn_with(|config| {
        config.environment = guildhall::config::Environment::Production;
    })
    .await;
    let response = t
        .gql(
            None,
            "{ ...I } fragment I on Query { __schema { types { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&response), "FORBIDDEN", "{response}");
    let inline = t
        .gql(
            None,
            "{ ... on Query { __type(name: \"Query\") { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&inline), "FORBIDDEN", "{inline}");
    let aliased_and_nested = t
        .gql(
            None,
            "{ ...A } fragment A on Query { ... on Query { ...B } } \
             fragment B on Query { s: __schema { queryType { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        error_code(&aliased_and_nested),
        "FORBIDDEN",
        "{aliased_and_nested}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_without_a_query_says_so_plainly() {
    let t = TestApp::spawn().await;
    for body in [json!({}), json!({ "query": "" }), json!({ "query": "  \n " })] {
        let response = t.post(None, body.clone()).await;
        assert_eq!(response.status(), StatusCode::OK, "{body}");
        let response: Value = response.json().await.unwrap();
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response}");
        assert_eq!(message(&response), "the request has no query", "{response}");
    }
    let response: Value = t
        .http
        .get(format!("{}/graphql?query=", t.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(message(&response), "the request has no query", "{response}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_full_introspection_query_of_graphql_tools_is_within_the_limits() {
    let t = TestApp::spawn().await;
    let type_ref = format!(
        "fragment TypeRef on __Type {{ kind name {} }}",
        (0..9).fold(String::new(), |inner, _| format!(
            "ofType {{ kind name {inner} }}"
        ))
    );
    let query = format!(
        "query IntrospectionQuery {{ __schema {{ description queryType {{ name }} mutationType {{ name }} \
         subscriptionType {{ name }} types {{ ...FullType }} directives {{ name description isRepeatable \
         locations args(includeDeprecated: true) {{ ...InputValue }} }} }} }} \
         fragment FullType on __Type {{ kind name description specifiedByURL isOneOf \
         fields(includeDeprecated: true) {{ name description args(includeDeprecated: true) {{ ...InputValue }} \
         type {{ ...TypeRef }} isDeprecated deprecationReason }} inputFields(includeDeprecated: true) {{ ...InputValue }} \
         interfaces {{ ...TypeRef }} enumValues(includeDeprecated: true) {{ name description isDeprecated \
         deprecationReason }} possibleTypes {{ ...TypeRef }} }} \
         fragment InputValue on __InputValue {{ name description type {{ ...TypeRef }} defaultValue \
         isDeprecated deprecationReason }} {type_ref}"
    );
    let answer = t.ok(None, &query, json!({})).await;
    assert!(
        answer["__schema"]["types"]
            .as_array()
            .is_some_and(|types| types.len() > 50)
    );
}
