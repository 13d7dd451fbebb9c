//! Row-level security, the second line behind every store function's company filter: the
//! pool works as a role the policies hold, a transaction reaches only the companies its
//! scope names, and a connection back in the pool carries no scope.

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use guildhall::db::scope::Scope;
use guildhall::db::tx;
use guildhall::projects::store as project_store;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, error_code};

const CREATE_TABLE: &str = "mutation($p: ID!) { createDataTable(projectId: $p, name: \"Fuel\", fields: [{ key: \"site\", label: \"Site\", type: TEXT }]) { id } }";
const INSERT: &str = "mutation($t: ID!) { insertRows(tableId: $t, rows: [{ site: \"Mill\" }]) { id } }";

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

#[derive(QueryableByName)]
struct Role {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Bool)]
    superuser: bool,
    #[diesel(sql_type = Bool)]
    bypasses: bool,
    #[diesel(sql_type = BigInt)]
    owned: i64,
}

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    value: String,
}

async fn count(conn: &mut AsyncPgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .await
        .expect(sql)
        .count
}

/// A person with a company holding one project, one table and one row: (their id, the
/// company's id, the project's id).
async fn tenant(t: &TestApp, email: &str, name: &str) -> (Uuid, Uuid, Uuid) {
    let token = t.verified_user(email, name).await;
    let company = t.create_company(&token, &format!("{name}'s company")).await;
    let project = t.create_project(&token, &company, "Plant").await;
    let table = t.ok(Some(&token), CREATE_TABLE, json!({ "p": project })).await["createDataTable"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    t.ok(Some(&token), INSERT, json!({ "t": table })).await;
    (
        t.user_id(&token).await.parse().unwrap(),
        company.id.parse().unwrap(),
        project.parse().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pool_works_as_a_role_that_owns_nothing_and_bypasses_no_policy() {
    let t = TestApp::spawn().await;
    let mut conn = t.app.pool.get().await.unwrap();
    let role: Role = diesel::sql_query(
        "SELECT current_user::text AS name, r.rolsuper AS superuser, r.rolbypassrls AS bypasses, \
         (SELECT count(*) FROM pg_tables WHERE tableowner = current_user) AS owned \
         FROM pg_roles r WHERE r.rolname = current_user",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(role.name, "guildhall_app");
    assert!(
        !role.superuser && !role.bypasses,
        "the pool's role must be held by the policies"
    );
    assert_eq!(role.owned, 0, "the pool's role owns no table");
    let unprotected = count(
        &mut conn,
        "SELECT count(*) FROM pg_class WHERE relname IN ('companies', 'memberships', 'projects', \
         'data_tables', 'data_rows', 'activity_events', 'audit_log', 'api_keys', 'webhooks') \
         AND NOT relrowsecurity",
    )
    .await;
    assert_eq!(unprotected, 0, "every tenant table has row-level security on");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_function_without_its_company_filter_still_reads_only_the_callers_companies() {
    let t = TestApp::spawn().await;
    let (ann, ann_company, ann_project) = tenant(&t, "ann@example.com", "Ann").await;
    let (bob, bob_company, bob_project) = tenant(&t, "bob@example.com", "Bob").await;
    let both = [ann_project, bob_project];

    // `projects_by_ids` filters by id only (its callers check the company afterwards).
    for (scope, expected) in [
        (Scope::Person(ann), vec![ann_project]),
        (Scope::Person(bob), vec![bob_project]),
        (Scope::Company(bob_company), vec![bob_project]),
        (Scope::Nobody, vec![]),
    ] {
        let found = tx::read(&t.app, scope, async |conn| {
            Ok(project_store::projects_by_ids(conn, &both).await?)
        })
        .await
        .unwrap();
        let ids: Vec<Uuid> = found.iter().map(|project| project.id).collect();
        assert_eq!(ids, expected, "projects reached in {scope:?}");
    }

    // Hand-written SQL with no filter at all sees the same.
    let (rows, tables, events, companies) = tx::read(&t.app, Scope::Person(ann), async |conn| {
        Ok((
            count(conn, "SELECT count(*) FROM data_rows").await,
            count(conn, "SELECT count(*) FROM data_tables").await,
            count(
                conn,
                &format!("SELECT count(*) FROM activity_events WHERE company_id = '{bob_company}'"),
            )
            .await,
            count(conn, "SELECT count(*) FROM companies").await,
        ))
    })
    .await
    .unwrap();
    assert_eq!((rows, tables, events, companies), (1, 1, 0, 1));

    // Writing into another company is refused, and nothing is stored.
    let sql = format!(
        "INSERT INTO projects (id, company_id, name, created_at, updated_at) \
         VALUES ('{}', '{bob_company}', 'Planted', now(), now())",
        Uuid::new_v4()
    );
    let refused = tx::read(&t.app, Scope::Person(ann), async |conn| {
        Ok(diesel::sql_query(&sql).execute(conn).await?)
    })
    .await
    .expect_err("a write into another company");
    assert_eq!(refused.code.as_str(), "INTERNAL");
    let mut owner = t.db.connect().await;
    assert_eq!(
        count(&mut owner, "SELECT count(*) FROM projects WHERE name = 'Planted'").await,
        0
    );
    assert_eq!(
        count(
            &mut owner,
            &format!("SELECT count(*) FROM projects WHERE company_id = '{ann_company}'")
        )
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pooled_connection_carries_no_scope_after_its_transaction() {
    let t = TestApp::spawn_with(|config| config.database_pool_size = 1).await;
    let (ann, _, _) = tenant(&t, "ann@example.com", "Ann").await;
    let reached = tx::read(&t.app, Scope::Person(ann), async |conn| {
        Ok(count(conn, "SELECT count(*) FROM projects").await)
    })
    .await
    .unwrap();
    assert_eq!(reached, 1);

    // The pool holds one connection: the same one, back from that transaction.
    let mut conn = t.app.pool.get().await.unwrap();
    let left: Setting = diesel::sql_query(
        "SELECT COALESCE(current_setting('app.user_id', true), '') || \
         COALESCE(current_setting('app.reach', true), '') || \
         COALESCE(current_setting('app.crossing', true), '') AS value",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(left.value, "", "no scope outlives its transaction");
    assert_eq!(count(&mut conn, "SELECT count(*) FROM projects").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_who_leaves_still_records_leaving_and_then_reaches_nothing() {
    let t = TestApp::spawn().await;
    let owner = t.verified_user("olga@example.com", "Olga").await;
    let company = t.create_company(&owner, "Acme").await;
    let ann = t
        .member(&owner, &company, "ann@example.com", "Ann", "Editor")
        .await;
    let ann_id: Uuid = t.user_id(&ann).await.parse().unwrap();
    t.ok(
        Some(&ann),
        "mutation($c: ID!) { leaveCompany(companyId: $c) }",
        json!({ "c": company.id }),
    )
    .await;
    let feed = t
        .ok(
            Some(&owner),
            "query($c: ID!) { company(id: $c) { activity(first: 5) { edges { node { verb } } } } }",
            json!({ "c": company.id }),
        )
        .await;
    assert!(
        feed.to_string().contains("member.left"),
        "the company's feed records the leaving: {feed}"
    );
    let reached = tx::read(&t.app, Scope::Person(ann_id), async |conn| {
        Ok(count(conn, "SELECT count(*) FROM companies").await)
    })
    .await
    .unwrap();
    assert_eq!(reached, 0);
    let again = t
        .gql(
            Some(&ann),
            "query($c: ID!) { company(id: $c) { id } }",
            json!({ "c": company.id }),
        )
        .await;
    assert_eq!(error_code(&again), "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_whose_pool_would_bypass_the_policies_refuses_to_start() {
    let db = crate::helpers::TestDb::create().await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_guildhall"))
        .env("DATABASE_URL", &db.url)
        .env("DATABASE_APP_URL", &db.url)
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("METRICS_ADDR", "off")
        .env("RUST_LOG", "off")
        .output()
        .await
        .expect("run guildhall");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("row-level security does not hold"),
        "the start names why: {stderr}"
    );
}
