//! The audit log: every change (by a person or a key) and every sign-in event leaves one
//! entry with who, what, from where; a company's log is for audit:view, a person's own
//! security events are theirs; nothing can change or remove entries but retention and the
//! pseudonymisation of a deleted account, and no secret ever lands in it.

use chrono::Duration as Span;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use guildhall::db::schema::audit_log;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, error_code};

const LOG: &str = "query($c: ID!, $f: AuditFilter) { company(id: $c) { auditLog(first: 50, filter: $f) {
    totalCount edges { node { action targetType changes ip userAgent requestId actor { name } apiKey { name } } } } } }";
const SECURITY: &str =
    "{ me { securityEvents(first: 20) { totalCount edges { node { action ip userAgent changes } } } } }";

fn actions(log: &Value) -> Vec<String> {
    log["company"]["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"]["action"].as_str().unwrap().to_owned())
        .collect()
}

/// Signs in over real HTTP from `agent`; the answer.
async fn sign_in(t: &TestApp, password: &str, agent: &str) -> Value {
    t.http
        .post(format!("{}/graphql", t.base_url()))
        .header("user-agent", agent)
        .json(&json!({
            "query": "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
            "variables": { "i": { "email": "owner@example.com", "password": password } }
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_change_and_sign_in_names_who_and_where() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Olga").await;
    let company = t.create_company(&owner, "Acme").await;
    let project = t.create_project(&owner, &company, "Footprint").await;
    let table = t
        .ok(
            Some(&owner),
            "mutation($p: ID!) { createDataTable(projectId: $p, name: \"Fuel\", fields: [{ key: \"site\", label: \"Site\", type: TEXT }]) { id } }",
            json!({ "p": project }),
        )
        .await["createDataTable"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = t
        .ok(
            Some(&owner),
            "mutation($c: ID!, $r: ID!) { createApiKey(companyId: $c, name: \"ETL\", roleId: $r) { secret } }",
            json!({ "c": company.id, "r": company.role("Editor") }),
        )
        .await["createApiKey"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let inserted: Value = t
        .http
        .post(format!("{}/graphql", t.base_url()))
        .bearer_auth(&key)
        .header("user-agent", "etl/1.0")
        .header("x-request-id", "etl-run-7")
        .json(&json!({ "query": "mutation($t: ID!) { insertRows(tableId: $t, rows: [{ site: \"Leeds\" }]) { id } }", "variables": { "t": table } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(inserted.get("errors").is_none(), "{inserted}");
    assert_eq!(
        error_code(&sign_in(&t, "wrong password 123", "stranger/0.1").await),
        "UNAUTHENTICATED"
    );
    assert!(sign_in(&t, PASSWORD, "browser/2.0").await["data"]["login"]["accessToken"].is_string());

    let log = t.ok(Some(&owner), LOG, json!({ "c": company.id })).await;
    let listed = actions(&log);
    for expected in [
        "company.created",
        "project.created",
        "table.created",
        "api_key.created",
        "row.created",
    ] {
        assert!(listed.contains(&expected.to_owned()), "{expected} in {listed:?}");
    }
    let edges = log["company"]["auditLog"]["edges"].as_array().unwrap();
    let row = &edges
        .iter()
        .find(|e| e["node"]["action"] == "row.created")
        .unwrap()["node"];
    assert_eq!(row["apiKey"]["name"], "ETL");
    assert_eq!(row["actor"], Value::Null);
    assert_eq!(row["userAgent"], "etl/1.0");
    assert_eq!(row["requestId"], "etl-run-7");
    assert_eq!(row["ip"], "127.0.0.1");
    let created = &edges
        .iter()
        .find(|e| e["node"]["action"] == "company.created")
        .unwrap()["node"];
    assert_eq!(created["actor"]["name"], "Olga");

    // Filters narrow it; a Viewer may not read it.
    let rows_only = t
        .ok(
            Some(&owner),
            LOG,
            json!({ "c": company.id, "f": { "action": "row.created" } }),
        )
        .await;
    assert_eq!(actions(&rows_only), vec!["row.created"]);
    let future = t
        .ok(
            Some(&owner),
            LOG,
            json!({ "c": company.id, "f": { "since": (t.clock_now() + Span::hours(1)).to_rfc3339() } }),
        )
        .await;
    assert_eq!(future["company"]["auditLog"]["totalCount"], 0);
    let viewer = t
        .member(&owner, &company, "vic@example.com", "Vic", "Viewer")
        .await;
    let denied = t.gql(Some(&viewer), LOG, json!({ "c": company.id })).await;
    assert_eq!(error_code(&denied), "FORBIDDEN", "{denied}");

    // Changes to one's own account are audited too, naming the fields, not their values.
    t.ok(
        Some(&owner),
        "mutation { updateProfile(input: { name: \"Olga K\", bio: \"CFO\" }) { name } }",
        json!({}),
    )
    .await;
    // The owner sees their own sign-ins, the stranger's failed one included.
    let mine = t.ok(Some(&owner), SECURITY, json!({})).await;
    let profile = mine["me"]["securityEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["action"] == "profile.updated")
        .expect("profile.updated");
    assert_eq!(profile["node"]["changes"]["fields"], json!(["name", "bio"]));
    assert!(!profile["node"]["changes"].to_string().contains("CFO"));
    let events: Vec<(String, String)> = mine["me"]["securityEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["node"]["action"].as_str().unwrap().to_owned(),
                e["node"]["userAgent"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(
        events.contains(&("session.sign_in_failed".to_owned(), "stranger/0.1".to_owned())),
        "{events:?}"
    );
    assert!(
        events.contains(&("session.signed_in".to_owned(), "browser/2.0".to_owned())),
        "{events:?}"
    );
    // ...and no one else's.
    let theirs = t.ok(Some(&viewer), SECURITY, json!({})).await;
    let actions: Vec<&str> = theirs["me"]["securityEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["action"].as_str().unwrap())
        .collect();
    assert!(!actions.contains(&"session.sign_in_failed"), "{actions:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_is_append_only_keeps_no_secret_and_outlives_what_it_names() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Olga").await;
    let company = t.create_company(&owner, "Acme").await;
    let key = t
        .ok(
            Some(&owner),
            "mutation($c: ID!, $r: ID!) { createApiKey(companyId: $c, name: \"ETL\", roleId: $r) { secret } }",
            json!({ "c": company.id, "r": company.role("Viewer") }),
        )
        .await["createApiKey"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let (access, refresh) = t.login("owner@example.com", PASSWORD).await;
    let new_password = "a whole new passphrase 42";
    t.ok(
        Some(&access),
        "mutation($i: ChangePasswordInput!) { changePassword(input: $i) }",
        json!({ "i": { "currentPassword": PASSWORD, "newPassword": new_password } }),
    )
    .await;
    let mut conn = t.db.connect().await;
    let everything: Vec<String> = diesel::sql_query("SELECT row_to_json(a)::text AS text FROM audit_log a")
        .load::<Text>(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.text)
        .collect();
    let everything = everything.join("\n");
    assert!(everything.contains("password.changed"), "{everything}");
    for secret in [PASSWORD, new_password, &access, &refresh, &key, &owner] {
        assert!(
            !everything.contains(secret),
            "a secret in the audit log: {secret}"
        );
    }

    // Nothing the application can reach changes or removes an entry.
    for statement in [
        "DELETE FROM audit_log",
        "UPDATE audit_log SET action = 'x'",
        "TRUNCATE audit_log",
    ] {
        let refused = diesel::sql_query(statement).execute(&mut conn).await;
        assert!(
            refused.is_err_and(|err| err.to_string().contains("append-only")),
            "{statement}"
        );
    }
    // The company's entries outlive it; the owner's account deletion pseudonymises theirs.
    let before: i64 = audit_log::table.count().get_result(&mut conn).await.unwrap();
    let owner = t.login("owner@example.com", new_password).await.0;
    t.ok(
        Some(&owner),
        "mutation($c: ID!) { deleteCompany(companyId: $c, confirmName: \"Acme\") }",
        json!({ "c": company.id }),
    )
    .await;
    let company_id: uuid::Uuid = company.id.parse().unwrap();
    let kept: i64 = audit_log::table
        .filter(audit_log::company_id.eq(company_id))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert!(kept >= 2, "company.created and api_key.created stay");
    let user_id: uuid::Uuid = t.user_id(&owner).await.parse().unwrap();
    t.ok(
        Some(&owner),
        "mutation($p: String!) { deleteAccount(password: $p) }",
        json!({ "p": new_password }),
    )
    .await;
    let traced: i64 = audit_log::table
        .filter(audit_log::actor_id.eq(user_id))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(traced, 0, "no entry names the deleted account");
    let anonymous: Vec<(bool, Option<String>)> = audit_log::table
        .filter(audit_log::actor_deleted.eq(true))
        .select((audit_log::actor_deleted, audit_log::ip))
        .load(&mut conn)
        .await
        .unwrap();
    assert!(anonymous.len() as i64 >= before - 1, "{anonymous:?}");
    assert!(anonymous.iter().all(|(_, ip)| ip.is_none()));

    // Retention ends them.
    t.advance(Span::days(400));
    let purged = guildhall::audit::service::purge(&t.app).await.unwrap();
    assert!(purged >= anonymous.len(), "{purged}");
    let left: i64 = audit_log::table.count().get_result(&mut conn).await.unwrap();
    assert_eq!(left, 0);
}

#[derive(QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    text: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_exports_as_csv_or_json_through_a_link_that_dies_with_its_session() {
    let t = TestApp::spawn().await;
    let _ = t.verified_user("owner@example.com", "Olga").await;
    let (owner, _) = t.login("owner@example.com", PASSWORD).await;
    let company = t.create_company(&owner, "Acme").await;
    // A change made from a client whose user agent a spreadsheet would run.
    let renamed: Value = t
        .http
        .post(format!("{}/graphql", t.base_url()))
        .bearer_auth(&owner)
        .header("user-agent", "=HYPERLINK(\"http://evil\")")
        .json(&json!({
            "query": "mutation($c: ID!) { createProject(companyId: $c, name: \"Footprint\") { id } }",
            "variables": { "c": company.id }
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(renamed.get("errors").is_none(), "{renamed}");
    let export = "mutation($c: ID!, $f: String) { exportAuditLog(companyId: $c, format: $f) }";
    let link = |format: &str| {
        let format = format.to_owned();
        let (t, owner, company) = (&t, &owner, &company);
        async move {
            let link = t
                .ok(Some(owner), export, json!({ "c": company.id, "f": format }))
                .await["exportAuditLog"]
                .as_str()
                .unwrap()
                .to_owned();
            let path = link
                .strip_prefix("http://guildhall.test")
                .expect("a link to this server");
            assert!(path.starts_with("/exports/audit/"), "{link}");
            format!("{}{path}", t.base_url())
        }
    };
    let csv = t.http.get(link("csv").await).send().await.unwrap();
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("createdAt,action,targetType"), "{csv}");
    assert!(
        csv.contains("company.created") && csv.contains("project.created"),
        "{csv}"
    );
    assert!(csv.contains("'=HYPERLINK"), "the user agent is defused: {csv}");
    let json: Value = t
        .http
        .get(link("json").await)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "audit.exported",
            "audit.exported",
            "project.created",
            "company.created"
        ],
        "newest first, the two exports asked for included"
    );

    let wrong = t
        .gql(Some(&owner), export, json!({ "c": company.id, "f": "xml" }))
        .await;
    assert_eq!(error_code(&wrong), "BAD_USER_INPUT", "{wrong}");
    let viewer = t
        .member(&owner, &company, "vic@example.com", "Vic", "Viewer")
        .await;
    let denied = t
        .gql(Some(&viewer), export, json!({ "c": company.id, "f": "csv" }))
        .await;
    assert_eq!(error_code(&denied), "FORBIDDEN", "{denied}");
    // A link dies with the session that asked for it.
    let kept = link("csv").await;
    t.ok(Some(&owner), "mutation { logout }", json!({})).await;
    assert_eq!(t.http.get(kept).send().await.unwrap().status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_sees_who_asked_to_reset_their_password_and_an_unknown_address_leaves_no_trace() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("owner@example.com", "Olga").await;
    let reset = "mutation($e: String!) { requestPasswordReset(email: $e) }";
    let count = || async {
        let mut conn = t.db.connect().await;
        audit_log::table
            .count()
            .get_result::<i64>(&mut conn)
            .await
            .unwrap()
    };
    let before = count().await;
    t.gql_from("203.0.113.9", None, reset, json!({ "e": "nobody@example.com" }))
        .await;
    assert_eq!(
        count().await,
        before,
        "no account, no entry (and the same answer)"
    );
    t.gql_from("203.0.113.9", None, reset, json!({ "e": "owner@example.com" }))
        .await;
    let events = t
        .ok(
            Some(&owner),
            "{ me { securityEvents(first: 20) { edges { node { action ip } } } } }",
            json!({}),
        )
        .await;
    let actions: Vec<(String, Value)> = events["me"]["securityEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| {
            (
                edge["node"]["action"].as_str().unwrap().to_owned(),
                edge["node"]["ip"].clone(),
            )
        })
        .collect();
    assert_eq!(
        actions[0],
        ("password.reset_requested".to_owned(), json!("203.0.113.9"))
    );
    let names: Vec<&str> = actions.iter().map(|(action, _)| action.as_str()).collect();
    assert!(
        names.contains(&"account.registered") && names.contains(&"email.verified"),
        "{names:?}"
    );
}
