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

#[tokio::test(flavor = "multi_thread")]
async fn a_document_known_to_be_valid_is_still_checked_for_what_its_values_change() {
    let t = TestApp::spawn_with(|config| config.max_complexity = 50).await;
    let token = t.verified_user("values@example.com", "Values").await;
    for query in [
        "query($n: Int) { me { notifications(first: $n) { totalCount } } }",
        "query Count($n: Int) { me { notifications(first: $n) { totalCount } } }",
    ] {
        for _ in 0..3 {
            let answer = t.ok(Some(&token), query, json!({ "n": 1 })).await;
            assert_eq!(answer["me"]["notifications"]["totalCount"], 0);
        }
        let costly = t.gql(Some(&token), query, json!({ "n": 100 })).await;
        assert_eq!(error_code(&costly), "QUERY_TOO_COMPLEX", "{costly}");
        assert!(message(&costly).contains("limit of 50"), "{}", message(&costly));

        let wrong_kind = t.gql(Some(&token), query, json!({ "n": "many" })).await;
        assert_eq!(error_code(&wrong_kind), "BAD_USER_INPUT", "{wrong_kind}");
        assert!(
            message(&wrong_kind).contains("Invalid value for argument"),
            "a value of the wrong kind still meets full validation: {}",
            message(&wrong_kind)
        );
        assert!(wrong_kind["data"].is_null(), "{wrong_kind}");
        let too_big = t
            .gql(Some(&token), query, json!({ "n": 3_000_000_000_i64 }))
            .await;
        assert_eq!(error_code(&too_big), "BAD_USER_INPUT", "{too_big}");

        let answer = t.ok(Some(&token), query, json!({ "n": 2 })).await;
        assert_eq!(answer["me"]["notifications"]["totalCount"], 0);
    }
}
