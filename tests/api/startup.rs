//! Startup behaviour of the real binary and production configuration checks.

use std::process::Command;

use diesel::prelude::*;
use diesel_async::{AsyncMigrationHarness, RunQueryDsl};
use diesel_migrations::MigrationHarness;
use guildhall::config::{Config, Environment};
use guildhall::db::MIGRATIONS;

use crate::helpers::TestDb;
use crate::helpers::db::server_url;

#[test]
fn an_unreachable_database_exits_with_one_clear_line() {
    let output = Command::new(env!("CARGO_BIN_EXE_guildhall"))
        .env("DATABASE_URL", "postgres://postgres:secret@127.0.0.1:1/guildhall")
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "off")
        .output()
        .expect("run guildhall");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].contains("postgres://postgres:***@127.0.0.1:1/guildhall"),
        "{stderr}"
    );
    assert!(lines[0].contains("DATABASE_URL"), "{stderr}");
    assert!(
        !stderr.contains("secret") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn production_refuses_to_start_without_secrets() {
    let mut config = Config::from_env();
    config.environment = Environment::Production;
    config.jwt_secret = None;
    config.smtp_url = None;
    config.secrets_key = None;
    let err = config.check().unwrap_err().to_string();
    assert!(
        err.contains("JWT_SECRET") && err.contains("SMTP_URL") && err.contains("SECRETS_KEY"),
        "{err}"
    );

    config.jwt_secret = Some("a-production-secret-of-at-least-32-chars".to_owned());
    config.smtp_url = Some("smtps://user:pass@mail.example.com".to_owned());
    config.secrets_key = Some("c2VjcmV0cy1rZXktb2YtZXhhY3RseS0zMi1ieXRlcyE=".to_owned());
    config.check().unwrap();
    assert!(!config.introspection_enabled());
    assert!(!config.playground_enabled());
    assert!(!config.websocket_origin_allowed(Some("https://elsewhere.example.com")));
}

#[test]
fn print_schema_writes_the_sdl() {
    let output = Command::new(env!("CARGO_BIN_EXE_guildhall"))
        .arg("print-schema")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        guildhall::graphql::sdl()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_creates_a_missing_database() {
    let name = format!("guildhall_test_{}", uuid::Uuid::new_v4().simple());
    let db = TestDb {
        url: format!("{}/{name}", server_url()),
        name,
    };
    let output = Command::new(env!("CARGO_BIN_EXE_guildhall"))
        .arg("migrate")
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "off")
        .output()
        .expect("run guildhall migrate");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut conn = db.connect().await;
    let users: i64 = guildhall::db::schema::users::table
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(users, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_migration_reverts_cleanly_and_applies_again() {
    let db = TestDb::create().await;
    let mut harness = AsyncMigrationHarness::new(db.connect().await);
    let reverted = harness.revert_all_migrations(MIGRATIONS).unwrap().len();
    assert!(reverted > 0);
    let mut conn = harness.into_inner();
    let tables: Vec<TableName> = diesel::sql_query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' \
         AND table_name <> '__diesel_schema_migrations'",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let names: Vec<&str> = tables.iter().map(|t| t.table_name.as_str()).collect();
    assert!(names.is_empty(), "left behind by down.sql: {names:?}");
    let mut harness = AsyncMigrationHarness::new(conn);
    assert_eq!(
        harness.run_pending_migrations(MIGRATIONS).unwrap().len(),
        reverted
    );
}

#[derive(diesel::QueryableByName)]
struct TableName {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_shuts_the_server_down_cleanly() {
    let db = TestDb::create().await;
    let server = Command::new(env!("CARGO_BIN_EXE_guildhall"))
        .env("DATABASE_URL", &db.url)
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start guildhall");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = tokio::task::spawn_blocking(move || server.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit {:?}: {log}", output.status);
    assert!(log.contains("stopped"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_request_log_names_routes_not_the_secrets_in_their_paths() {
    let db = TestDb::create().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = Command::new(env!("CARGO_BIN_EXE_guildhall"))
        .env("DATABASE_URL", &db.url)
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start guildhall");
    let base = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..100 {
        if reqwest::get(format!("{base}/health/live")).await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "the server started");
    let secret = "a-download-token-that-must-stay-secret";
    let download = reqwest::get(format!("{base}/exports/{secret}")).await.unwrap();
    assert_eq!(download.status(), 404);
    let stray = reqwest::get(format!("{base}/exports/{secret}/more"))
        .await
        .unwrap();
    assert_eq!(stray.status(), 404);
    let verify = reqwest::get(format!("{base}/verify-email?token={secret}"))
        .await
        .unwrap();
    assert!(verify.status().is_success() || verify.status().is_client_error());
    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    let output = tokio::task::spawn_blocking(move || server.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("/exports/{token}"), "the route is logged: {log}");
    assert!(!log.contains(secret), "the token is not: {log}");
}
