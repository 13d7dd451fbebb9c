//! Multipart uploads are decided before any file is received: the operations and map parts
//! obey MAX_BODY_BYTES, and only a verified caller allowed to run the operation that takes
//! the file may send one. Requests here stall after the map part, so an answer proves the
//! server did not wait for (or store) the file.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{PASSWORD, TestApp, error_code};

const BOUNDARY: &str = "upload-limits";
const IMPORT: &str = "mutation($t: ID!, $file: Upload!) { importCsv(tableId: $t, csv: $file) { inserted } }";

/// The parts before the file's content: operations, map, and the file part's headers.
fn opening(operations: &Value, map: &str) -> String {
    format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{operations}\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{map}\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"0\"; filename=\"big.csv\"\r\n\
         Content-Type: text/csv\r\n\r\nsite\r\n"
    )
}

/// Sends a multipart request announcing 50 MB, writes only `opening`, and returns the status
/// and body the server answers with before the rest arrives.
async fn stalled_upload(t: &TestApp, token: &str, opening: &str) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(t.addr).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nApollo-Require-Preflight: true\r\n\
         Content-Length: 50000000\r\n\r\n",
        t.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(opening.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = [0u8; 4096];
        loop {
            let read = stream.read(&mut buffer).await.unwrap_or(0);
            if read == 0 {
                break;
            }
            received.extend_from_slice(&buffer[..read]);
            if let Some(response) = complete_response(&received) {
                return response;
            }
        }
        complete_response(&received).expect("a whole response")
    })
    .await
    .expect("the server answers without waiting for the file")
}

/// The status and JSON body of a whole HTTP/1.1 response with a content length.
fn complete_response(received: &[u8]) -> Option<(u16, Value)> {
    let text = std::str::from_utf8(received).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })?
        .trim()
        .parse()
        .ok()?;
    (body.len() >= length).then(|| (status, serde_json::from_str(&body[..length]).unwrap()))
}

struct Setup {
    owner: String,
    viewer: String,
    table: String,
}

async fn table_with_a_viewer(t: &TestApp) -> Setup {
    let owner = t.verified_user("owner@example.com", "Owner").await;
    let company = t.create_company(&owner, "Acme").await;
    let viewer = t
        .member(&owner, &company, "viewer@example.com", "Viewer", "Viewer")
        .await;
    let project = t.create_project(&owner, &company, "Footprint").await;
    let table = t
        .ok(
            Some(&owner),
            "mutation($p: ID!) { createDataTable(projectId: $p, name: \"Sites\", fields: [{ key: \"site\", label: \"Site\", type: TEXT }]) { id } }",
            json!({ "p": project }),
        )
        .await["createDataTable"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Setup { owner, viewer, table }
}

fn message(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caller_who_may_not_import_is_refused_before_the_file_arrives() {
    let t = TestApp::spawn().await;
    let Setup { owner, viewer, table } = table_with_a_viewer(&t).await;
    let operations = json!({ "query": IMPORT, "variables": { "t": table, "file": null } });
    let map = r#"{"0": ["variables.file"]}"#;

    let (status, body) = stalled_upload(&t, &viewer, &opening(&operations, map)).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{status} {body}");

    let elsewhere = json!({ "query": IMPORT, "variables": { "t": "00000000-0000-0000-0000-000000000000", "file": null } });
    let (_, body) = stalled_upload(&t, &owner, &opening(&elsewhere, map)).await;
    assert_eq!(error_code(&body), "NOT_FOUND", "{body}");

    let no_taker = json!({ "query": "{ __typename }", "variables": { "file": null } });
    let (_, body) = stalled_upload(&t, &owner, &opening(&no_taker, map)).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert!(message(&body).contains("importCsv"), "{body}");

    t.register("squatter@example.com", "Unverified").await;
    let unverified = t.login("squatter@example.com", PASSWORD).await.0;
    let (status, body) = stalled_upload(&t, &unverified, &opening(&operations, map)).await;
    assert_eq!((status, error_code(&body)), (403, "EMAIL_NOT_VERIFIED"), "{body}");

    let stored = t
        .upload(
            &owner,
            IMPORT,
            json!({ "t": table }),
            "sites.csv",
            "site\r\nLeeds\r\n",
        )
        .await;
    assert_eq!(
        stored["data"]["importCsv"]["inserted"], 1,
        "the owner still imports: {stored}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operations_and_map_parts_obey_the_body_limit() {
    let t = TestApp::spawn_with(|config| config.max_body_bytes = 8 * 1024).await;
    let Setup { owner, table, .. } = table_with_a_viewer(&t).await;
    let padded = format!("{IMPORT}{}", " ".repeat(10 * 1024));
    let operations = json!({ "query": padded, "variables": { "t": table, "file": null } });
    let (status, body) =
        stalled_upload(&t, &owner, &opening(&operations, r#"{"0": ["variables.file"]}"#)).await;
    assert_eq!((status, error_code(&body)), (413, "BAD_USER_INPUT"), "{body}");
    assert!(
        message(&body).contains("MAX_BODY_BYTES") && message(&body).contains("8192"),
        "{body}"
    );

    let operations = json!({ "query": IMPORT, "variables": { "t": table, "file": null } });
    let map = format!(
        r#"{{"0": ["variables.file"], "pad": "{}"}}"#,
        "x".repeat(10 * 1024)
    );
    let (status, body) = stalled_upload(&t, &owner, &opening(&operations, &map)).await;
    assert_eq!((status, error_code(&body)), (413, "BAD_USER_INPUT"), "{body}");

    let many_places = format!(r#"{{"0": [{}]}}"#, vec![r#""variables.file""#; 17].join(", "));
    let (status, body) = stalled_upload(&t, &owner, &opening(&operations, &many_places)).await;
    assert_eq!((status, error_code(&body)), (400, "BAD_USER_INPUT"), "{body}");
    assert!(message(&body).contains("16"), "{body}");

    let out_of_order = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"0\"; filename=\"a.csv\"\r\n\r\nsite\r\n"
    );
    let (status, body) = stalled_upload(&t, &owner, &out_of_order).await;
    assert_eq!((status, error_code(&body)), (400, "BAD_USER_INPUT"), "{body}");
    assert!(message(&body).contains("operations part"), "{body}");
}
