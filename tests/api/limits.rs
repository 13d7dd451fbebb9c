//! Query size limits, introspection and suggestions.

use serde_json::json;

use crate::helpers::{TestApp, error_code};

fn message(response: &serde_json::Value) -> String {
    response["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn aliases_beyond_the_limit_are_refused_naming_it() {
    let t = TestApp::spawn().await;
    let within: String = (0..30).map(|i| format!("a{i}: __typename ")).collect();
    t.ok(None, &format!("{{ {within} }}"), json!({})).await;
    let beyond: String = (0..31).map(|i| format!("a{i}: __typename ")).collect();
    let response = t.gql(None, &format!("{{ {beyond} }}"), json!({})).await;
    assert_eq!(error_code(&response), "QUERY_TOO_COMPLEX");
    assert!(message(&response).contains("30"), "{}", message(&response));
}

#[tokio::test(flavor = "multi_thread")]
async fn depth_and_complexity_limits_answer_query_too_complex() {
    let t = TestApp::spawn_with(|config| {
        config.max_depth = 2;
        config.max_complexity = 4;
    })
    .await;
    let deep = t.gql(None, "{ me { user { name } } }", json!({})).await;
    assert_eq!(error_code(&deep), "QUERY_TOO_COMPLEX");
    assert!(message(&deep).contains("limit of 2"), "{}", message(&deep));

    let wide = t
        .gql(
            None,
            "{ me { preferences } a: me { preferences } b: me { preferences } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&wide), "QUERY_TOO_COMPLEX");
    assert!(message(&wide).contains("limit of 4"), "{}", message(&wide));
}

#[tokio::test(flavor = "multi_thread")]
async fn production_mode_hides_introspection_and_suggestions() {
    let t = TestApp::spawn_with(|config| {
        config.environment = guildhall::config::Environment::Production;
    })
    .await;
    let introspection = t.gql(None, "{ __schema { types { name } } }", json!({})).await;
    assert_eq!(error_code(&introspection), "FORBIDDEN", "{introspection}");
    assert!(message(&introspection).contains("introspection is disabled"));
    let typo = t.gql(None, "{ me { prefrences } }", json!({})).await;
    assert!(!message(&typo).contains("Did you mean"), "{}", message(&typo));

    let dev = TestApp::spawn().await;
    let introspection = dev
        .ok(None, "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(introspection["__schema"]["queryType"]["name"], "Query");
    let typo = dev.gql(None, "{ me { prefrences } }", json!({})).await;
    assert!(message(&typo).contains("Did you mean"), "{}", message(&typo));
}
