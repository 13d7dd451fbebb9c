//! Startup behaviour of the real binary and production configuration checks.

use std::process::Command;

use guildhall::config::{Config, Environment};

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
    let err = config.check().unwrap_err().to_string();
    assert!(err.contains("JWT_SECRET") && err.contains("SMTP_URL"), "{err}");

    config.jwt_secret = Some("a-production-secret-of-at-least-32-chars".to_owned());
    config.smtp_url = Some("smtps://user:pass@mail.example.com".to_owned());
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
