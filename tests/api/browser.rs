//! What browsers are told: secure headers on every answer, page policies that allow
//! exactly the pages' own scripts, HSTS over https, and CORS only for listed origins.

use reqwest::header::ACCEPT;

use crate::helpers::TestApp;

async fn https_app_for(origin: &str) -> TestApp {
    let origin = origin.to_owned();
    TestApp::spawn_with(move |config| {
        config.public_url = Some("https://guildhall.example".to_owned());
        config.cors_allowed_origins = vec![origin];
    })
    .await
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .map_or("<none>", |value| value.to_str().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_carries_the_secure_headers_and_pages_their_own_policy() {
    let t = https_app_for("https://app.example").await;
    let client = reqwest::Client::new();
    let api = client
        .get(format!("{}/health/live", t.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&api, "x-content-type-options"), "nosniff");
    assert_eq!(header(&api, "x-frame-options"), "DENY");
    assert_eq!(header(&api, "referrer-policy"), "no-referrer");
    assert!(header(&api, "content-security-policy").starts_with("default-src 'none'"));
    assert!(header(&api, "strict-transport-security").starts_with("max-age="));

    let page = client
        .get(format!("{}/verify-email?token=x", t.base_url()))
        .send()
        .await
        .unwrap();
    let policy = header(&page, "content-security-policy").to_owned();
    let scripts = policy
        .split(';')
        .find(|part| part.trim().starts_with("script-src"))
        .unwrap();
    assert!(
        scripts.contains("'sha256-") && !scripts.contains("unsafe"),
        "{policy}"
    );
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");

    let playground = client
        .get(format!("{}/graphql", t.base_url()))
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    let policy = header(&playground, "content-security-policy").to_owned();
    assert!(policy.contains("script-src 'self';"), "{policy}");
    assert!(!policy.contains("https:"), "no other origin: {policy}");
    let page = playground.text().await.unwrap();
    let script = page
        .split("<script src=\"")
        .nth(3)
        .and_then(|rest| rest.split('"').next())
        .unwrap();
    let asset = client
        .get(format!("{}{script}", t.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(asset.status(), 200, "{script}");
    assert!(header(&asset, "cache-control").contains("immutable"));
    assert!(header(&asset, "content-type").starts_with("text/javascript"));
    assert!(asset.text().await.unwrap().contains("GraphiQL"));
    let unknown = client
        .get(format!("{}/playground/graphiql.0.js", t.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    // Served over plain http (no PUBLIC_URL on https): no HSTS.
    let plain = TestApp::spawn().await;
    let answer = client
        .get(format!("{}/health/live", plain.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&answer, "strict-transport-security"), "<none>");
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_answers_only_the_listed_origins() {
    let t = https_app_for("https://app.example").await;
    let client = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, format!("{}/graphql", t.base_url()))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization,content-type")
            .send()
    };
    let allowed = preflight("https://app.example").await.unwrap();
    assert_eq!(
        header(&allowed, "access-control-allow-origin"),
        "https://app.example"
    );
    assert!(header(&allowed, "access-control-allow-headers").contains("authorization"));
    let refused = preflight("https://evil.example").await.unwrap();
    assert_eq!(header(&refused, "access-control-allow-origin"), "<none>");

    let post = |origin: &'static str| {
        client
            .post(format!("{}/graphql", t.base_url()))
            .header("origin", origin)
            .json(&serde_json::json!({ "query": "{ __typename }" }))
            .send()
    };
    let answered = post("https://app.example").await.unwrap();
    assert_eq!(
        header(&answered, "access-control-allow-origin"),
        "https://app.example"
    );
    assert_eq!(
        header(&answered, "access-control-expose-headers"),
        "x-request-id,retry-after"
    );
    assert_eq!(
        header(
            &post("https://evil.example").await.unwrap(),
            "access-control-allow-origin"
        ),
        "<none>"
    );
}
