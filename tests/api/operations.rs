//! Operating the real binary: `/metrics` (served on METRICS_ADDR only, in Prometheus text,
//! its counters moving with the traffic), a stop on SIGTERM, and backups.

use std::process::{Child, Command};

use serde_json::{Value, json};

use crate::helpers::db::server_url;
use crate::helpers::ws::{Received, WsClient};
use crate::helpers::{TestApp, TestDb};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary on a fresh database, with `/metrics` on its own port.
struct Server {
    process: Child,
    base: String,
    metrics: String,
    _db: TestDb,
}

impl Server {
    async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// The binary with extra settings.
    async fn start_with(settings: &[(&str, &str)]) -> Self {
        let db = TestDb::create().await;
        let (port, metrics_port) = (free_port(), free_port());
        let process = Command::new(env!("CARGO_BIN_EXE_guildhall"))
            .env("DATABASE_URL", &db.url)
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("METRICS_ADDR", format!("127.0.0.1:{metrics_port}"))
            .env("AUTH_RATE_LIMIT_PER_IP", "1")
            .env("RUST_LOG", "warn")
            .envs(settings.iter().copied())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start guildhall");
        let server = Self {
            process,
            base: format!("http://127.0.0.1:{port}"),
            metrics: format!("http://127.0.0.1:{metrics_port}/metrics"),
            _db: db,
        };
        for _ in 0..100 {
            if reqwest::get(&server.metrics).await.is_ok() {
                return server;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the server did not serve /metrics");
    }

    async fn post(&self, body: Value) -> Value {
        self.post_as(None, body).await
    }

    /// Posts `body` with `token`'s bearer header, if any; the answer.
    async fn post_as(&self, token: Option<&str>, body: Value) -> Value {
        let mut request = reqwest::Client::new()
            .post(format!("{}/graphql", self.base))
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap().json().await.unwrap()
    }

    /// Runs `query` as the holder of `token` and returns the id at `data.<field>.id`.
    async fn created(&self, token: &str, field: &str, query: &str, variables: Value) -> String {
        let answer = self
            .post_as(Some(token), json!({ "query": query, "variables": variables }))
            .await;
        answer["data"][field]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{field}: {answer}"))
            .to_owned()
    }

    async fn scrape(&self) -> String {
        let response = reqwest::get(&self.metrics).await.unwrap();
        assert_eq!(response.status(), 200);
        let media = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(media.starts_with("text/plain; version=0.0.4"), "{media}");
        response.text().await.unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The value of the sample `name{labels}` (labels as rendered), if the text has it.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_operations_refusals_sockets_and_the_pool() {
    let server = Server::start().await;
    let probe = json!({ "query": "query MetricsProbe { __typename }", "operationName": "MetricsProbe" });
    for _ in 0..3 {
        assert_eq!(server.post(probe.clone()).await["data"]["__typename"], "Query");
    }
    let invalid = server
        .post(json!({ "query": "query MetricsBroken { nothingHere }", "operationName": "MetricsBroken" }))
        .await;
    assert!(invalid["errors"].is_array(), "{invalid}");
    let resend = "mutation($e: String!) { resendVerificationEmail(email: $e) }";
    server
        .post(json!({ "query": resend, "variables": { "e": "a@example.com" } }))
        .await;
    let limited = server
        .post(json!({ "query": resend, "variables": { "e": "b@example.com" } }))
        .await;
    assert_eq!(
        limited["errors"][0]["extensions"]["code"], "RATE_LIMITED",
        "{limited}"
    );
    let addr = server.base.trim_start_matches("http://").parse().unwrap();
    let socket = WsClient::connect_anonymous(addr).await;

    let text = server.scrape().await;
    let value = |series: &str| sample(&text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"));
    assert_eq!(
        value(r#"guildhall_graphql_operations_total{operation="MetricsProbe",outcome="ok"}"#),
        3.0
    );
    assert_eq!(
        value(r#"guildhall_graphql_operation_duration_seconds_count{operation="MetricsProbe"}"#),
        3.0
    );
    assert_eq!(
        value(r#"guildhall_graphql_operations_total{operation="MetricsBroken",outcome="BAD_USER_INPUT"}"#),
        1.0
    );
    assert!(value(r#"guildhall_http_requests_total{route="/graphql",status="200"}"#) >= 3.0);
    assert_eq!(
        value(r#"guildhall_rate_limit_refusals_total{limit="auth_mail_ip"}"#),
        1.0
    );
    assert_eq!(value("guildhall_websockets_open"), 1.0);
    assert_eq!(value(r#"guildhall_db_pool_connections{state="max"}"#), 16.0);
    assert!(value(r#"guildhall_db_pool_connections{state="open"}"#) >= 1.0);
    assert_eq!(value("guildhall_db_pool_waiting"), 0.0);
    for kind in ["mail", "webhooks"] {
        assert!(value(&format!(r#"guildhall_outbox_depth{{kind="{kind}"}}"#)) >= 0.0);
        assert!(value(&format!(r#"guildhall_outbox_oldest_seconds{{kind="{kind}"}}"#)) >= 0.0);
    }
    assert!(
        text.contains("# HELP guildhall_graphql_operations_total"),
        "described"
    );

    socket.close().await;
    let mut closed = false;
    for _ in 0..50 {
        if sample(&server.scrape().await, "guildhall_websockets_open") == Some(0.0) {
            closed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(closed, "a closed socket leaves the gauge");

    let public = reqwest::get(format!("{}/metrics", server.base)).await.unwrap();
    assert_eq!(public.status(), 404, "the public address does not serve metrics");
}

#[test]
fn a_metrics_address_that_is_not_an_address_stops_the_start() {
    let output = Command::new(env!("CARGO_BIN_EXE_guildhall"))
        .env("METRICS_ADDR", "everywhere")
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "off")
        .output()
        .expect("run guildhall");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("METRICS_ADDR"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_turns_not_ready_closes_sockets_with_a_resume_hint_and_stops_within_30_seconds() {
    let mut server = Server::start_with(&[("SHUTDOWN_NOTICE_SECS", "3")]).await;
    let ready = reqwest::get(format!("{}/health/ready", server.base))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let addr = server.base.trim_start_matches("http://").parse().unwrap();
    let mut sockets = Vec::new();
    for _ in 0..3 {
        sockets.push(WsClient::connect_anonymous(addr).await);
    }
    let started = std::time::Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &server.process.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // The notice lasts 3 s: the signal is seen well within it, even on a loaded machine.
    let mut draining = None;
    while draining.is_none() && started.elapsed() < std::time::Duration::from_millis(2500) {
        if let Ok(ready) = reqwest::get(format!("{}/health/ready", server.base)).await
            && ready.status() == 503
        {
            draining = Some(ready.json::<Value>().await.unwrap());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(draining.expect("503 while draining")["status"], "draining");
    for socket in &mut sockets {
        match socket.receive().await {
            Received::Closed(Some(frame)) => {
                assert_eq!(u16::from(frame.code), 1001);
                assert!(
                    frame.reason.contains("resume from your last cursor"),
                    "{}",
                    frame.reason
                );
            }
            other => panic!("expected a going-away close, got {other:?}"),
        }
    }
    let mut status = None;
    while started.elapsed() < std::time::Duration::from_secs(30) {
        if let Some(exited) = server.process.try_wait().unwrap() {
            status = Some(exited);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let status = status.expect("the server stopped within 30 s");
    assert!(status.success(), "{status:?}");
    assert!(
        reqwest::get(format!("{}/health/live", server.base))
            .await
            .is_err(),
        "nothing answers after the stop"
    );
}

/// Runs `guildhall <args>` against `database_url`; answers (success, stderr).
fn guildhall(database_url: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_guildhall"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run guildhall");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn drop_database(name: &str) {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let mut admin = AsyncPgConnection::establish(&format!("{}/postgres", server_url()))
        .await
        .unwrap();
    diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
}

/// The names of the companies in the database at `url`.
async fn company_names(url: &str) -> Vec<String> {
    use diesel::prelude::*;
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    use guildhall::db::schema::companies;
    let mut conn = AsyncPgConnection::establish(url).await.unwrap();
    companies::table
        .select(companies::name)
        .order(companies::name)
        .load(&mut conn)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_restores_into_a_fresh_database_and_never_under_an_older_schema() {
    use diesel_async::RunQueryDsl;
    let t = TestApp::spawn().await;
    let owner = t.verified_user("backup@example.com", "Backup Owner").await;
    t.create_company(&owner, "Kept Ltd").await;
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("guildhall.dump");
    let file_arg = file.to_str().unwrap();

    let (done, log) = guildhall(&t.db.url, &["backup", file_arg]);
    assert!(done, "{log}");
    assert!(std::fs::metadata(&file).unwrap().len() > 0);
    assert!(
        !folder.path().join("guildhall.partial").exists(),
        "no partial file is left"
    );

    let fresh = format!("guildhall_test_restore_{}", uuid::Uuid::new_v4().simple());
    let fresh_url = format!("{}/{fresh}", server_url());
    let (done, log) = guildhall(&fresh_url, &["restore", file_arg]);
    assert!(done, "{log}");
    assert_eq!(company_names(&fresh_url).await, ["Kept Ltd"]);

    let (done, log) = guildhall(&fresh_url, &["restore", file_arg]);
    assert!(!done, "a database with data is not overwritten unasked");
    assert!(log.contains("--replace"), "{log}");
    let (done, log) = guildhall(&fresh_url, &["restore", "--replace", file_arg]);
    assert!(done, "{log}");
    assert_eq!(company_names(&fresh_url).await, ["Kept Ltd"]);

    // A backup from a release whose schema this binary does not know is refused untouched.
    let mut conn = t.db.connect().await;
    diesel::sql_query("INSERT INTO __diesel_schema_migrations (version) VALUES ('99991231000000')")
        .execute(&mut conn)
        .await
        .unwrap();
    let newer = folder.path().join("newer.dump");
    let (done, log) = guildhall(&t.db.url, &["backup", newer.to_str().unwrap()]);
    assert!(done, "{log}");
    let (done, log) = guildhall(&fresh_url, &["restore", "--replace", newer.to_str().unwrap()]);
    assert!(!done);
    assert!(
        log.contains("99991231000000") && log.contains("newer than this binary"),
        "{log}"
    );
    assert_eq!(
        company_names(&fresh_url).await,
        ["Kept Ltd"],
        "the database is left as it was"
    );

    let (done, log) = guildhall(
        &fresh_url,
        &["restore", folder.path().join("none.dump").to_str().unwrap()],
    );
    assert!(!done);
    assert!(log.contains("none.dump"), "{log}");
    drop_database(&fresh).await;
}

/// A TCP proxy to PostgreSQL that a test can cut, the way a database restart looks to
/// its clients: every open connection dropped, new ones turned away until it is back.
struct DatabaseProxy {
    addr: std::net::SocketAddr,
    down: tokio::sync::watch::Sender<bool>,
}

impl DatabaseProxy {
    async fn start(target: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (down, is_down) = tokio::sync::watch::channel(false);
        let target = target.to_owned();
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if *is_down.borrow() {
                    drop(client);
                    continue;
                }
                let mut cut = is_down.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.wait_for(|down| *down) => {}
                    }
                });
            }
        });
        Self { addr, down }
    }

    fn set_down(&self, down: bool) {
        self.down.send_replace(down);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_restart_fails_requests_briefly_and_loses_nothing_acknowledged() {
    use std::time::{Duration, Instant};
    let proxy = DatabaseProxy::start("127.0.0.1:5432").await;
    let through = proxy.addr.to_string();
    let t = TestApp::spawn_with(move |config| {
        assert!(
            config.database_url.contains("127.0.0.1:5432"),
            "the tests' PostgreSQL is the default one"
        );
        config.database_url = config.database_url.replacen("127.0.0.1:5432", &through, 1);
    })
    .await;
    let owner = t.verified_user("restart@example.com", "Rita").await;
    let company = t.create_company(&owner, "Steady").await;
    let create = "mutation($c: ID!, $n: String!) { createProject(companyId: $c, name: $n) { id } }";
    let mut acknowledged = Vec::new();
    // From the newest event on, so nothing committed while the subscription starts is missed.
    let newest = t
        .ok(
            Some(&owner),
            "query($c: ID!) { company(id: $c) { activity(first: 1) { edges { cursor } } } }",
            json!({ "c": company.id }),
        )
        .await["company"]["activity"]["edges"][0]["cursor"]
        .clone();
    let mut ws = WsClient::connect(t.addr, &owner).await;
    ws.subscribe(
        "feed",
        "subscription($c: ID!, $a: String) { activity(companyId: $c, after: $a) { verb summary } }",
        json!({ "c": company.id, "a": newest }),
    )
    .await;
    // Several pooled connections, all of which the restart will kill.
    let warm: Vec<_> = (0..6)
        .map(|n| {
            t.gql(
                Some(&owner),
                create,
                json!({ "c": company.id, "n": format!("Before {n}") }),
            )
        })
        .collect();
    for answer in futures_util::future::join_all(warm).await {
        assert!(answer["errors"].is_null(), "{answer}");
        acknowledged.push(answer["data"]["createProject"]["id"].as_str().unwrap().to_owned());
    }
    for _ in 0..6 {
        assert_eq!(next_activity(&mut ws).await["verb"], "project.created");
    }

    proxy.set_down(true);
    let outage = Instant::now();
    let mut failures = 0;
    while outage.elapsed() < Duration::from_secs(2) {
        let asked = Instant::now();
        let answer = tokio::time::timeout(
            Duration::from_secs(12),
            t.gql(Some(&owner), create, json!({ "c": company.id, "n": "During" })),
        )
        .await
        .expect("a request during the outage is answered, not left hanging");
        assert!(asked.elapsed() < Duration::from_secs(11));
        let code = answer["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or("none");
        assert_eq!(
            code, "INTERNAL",
            "an outage is the server's failure, never the caller's: {answer}"
        );
        failures += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(failures > 0);
    proxy.set_down(false);
    let back = Instant::now();
    loop {
        let answer = t
            .gql(Some(&owner), create, json!({ "c": company.id, "n": "After 0" }))
            .await;
        if answer["errors"].is_null() {
            acknowledged.push(answer["data"]["createProject"]["id"].as_str().unwrap().to_owned());
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "recovered within 10 s: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "time to recovery after the database came back: {:?}",
        back.elapsed()
    );
    for n in 1..20 {
        let answer = t
            .gql(
                Some(&owner),
                create,
                json!({ "c": company.id, "n": format!("After {n}") }),
            )
            .await;
        assert!(
            answer["errors"].is_null(),
            "no request fails once the database is back: {answer}"
        );
        acknowledged.push(answer["data"]["createProject"]["id"].as_str().unwrap().to_owned());
    }
    let mut heard = 0;
    while heard < 20 {
        let event = next_activity(&mut ws).await;
        if event["verb"] == "project.created" && event["summary"].as_str().unwrap_or("").contains("After") {
            heard += 1;
        }
    }
    let mut conn = t.db.connect().await;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use guildhall::db::schema::projects;
    let stored: Vec<uuid::Uuid> = projects::table
        .select(projects::id)
        .load(&mut conn)
        .await
        .unwrap();
    for id in &acknowledged {
        assert!(
            stored.contains(&id.parse().unwrap()),
            "acknowledged project {id} is stored"
        );
    }
    assert_eq!(stored.len(), acknowledged.len(), "nothing refused was stored");
}

async fn next_activity(ws: &mut WsClient) -> Value {
    let payload = ws.next_payload().await;
    assert!(payload["errors"].is_null(), "{payload}");
    payload["data"]["activity"].clone()
}

/// A server process, killed if a test fails while it runs.
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut process) = self.0.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

/// The binary with `DATABASE_URL=embedded` in `dir`, once it answers ready.
async fn embedded_server(dir: &std::path::Path) -> (Running, String) {
    let port = free_port();
    let mut process = Command::new(env!("CARGO_BIN_EXE_guildhall"))
        .current_dir(dir)
        .env("DATABASE_URL", "embedded")
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("METRICS_ADDR", "off")
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start guildhall");
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..600 {
        if let Ok(ready) = reqwest::get(format!("{base}/health/ready")).await
            && ready.status() == 200
        {
            return (Running(Some(process)), base);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = process.kill();
    let _ = process.wait();
    panic!("the server on its private cluster never became ready");
}

async fn stop(mut running: Running) {
    let mut process = running.0.take().unwrap();
    Command::new("kill")
        .args(["-TERM", &process.id().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || process.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
}

async fn graphql(base: &str, body: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn with_database_url_embedded_the_server_runs_and_stops_a_private_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let _cluster = ClusterGuard(dir.path().join(".guildhall/postgres/data/postmaster.pid"));
    // The cluster may run as another account (as root, `postgres`): it must reach the folder.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.path().join(".guildhall/postgres/data");

    let (server, base) = embedded_server(dir.path()).await;
    assert!(
        data.join("PG_VERSION").exists(),
        "the cluster lives in the working folder"
    );
    assert!(data.join("postmaster.pid").exists(), "and runs");
    let made = graphql(
        &base,
        json!({ "query": "mutation { register(input: { email: \"ada@example.com\", password: \"a long passphrase\", name: \"Ada\" }) }" }),
    )
    .await;
    assert_eq!(made["data"]["register"], true, "{made}");
    let socket = dir.path().join(".guildhall/postgres");
    let url = format!("postgres:///guildhall?user=postgres&host={}", socket.display());
    let mut conn = <diesel_async::AsyncPgConnection as diesel_async::AsyncConnection>::establish(&url)
        .await
        .unwrap();
    let accounts: Vec<Count> = diesel_async::RunQueryDsl::load(
        diesel::sql_query("SELECT count(*) AS n FROM users WHERE email = 'ada@example.com'"),
        &mut conn,
    )
    .await
    .unwrap();
    assert_eq!(accounts[0].n, 1, "the account is in the private cluster");
    drop(conn);
    stop(server).await;
    assert!(
        !data.join("postmaster.pid").exists(),
        "the cluster stops with the server"
    );

    // Started again, it finds its cluster and its data.
    let (server, base) = embedded_server(dir.path()).await;
    let again = graphql(
        &base,
        json!({ "query": "mutation { login(input: { email: \"ada@example.com\", password: \"a long passphrase\" }) { accessToken } }" }),
    )
    .await;
    assert!(
        again["data"]["login"]["accessToken"].is_string(),
        "the account made before the restart signs in: {again}"
    );
    stop(server).await;
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Stops a private cluster a failed test left running (its postmaster's pid is the first
/// line of `postmaster.pid`; SIGQUIT is PostgreSQL's immediate shutdown).
struct ClusterGuard(std::path::PathBuf);

impl Drop for ClusterGuard {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.0)
            && let Some(pid) = pid.lines().next()
        {
            let _ = Command::new("kill").args(["-QUIT", pid]).status();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_a_running_import_and_open_subscriptions_finish_within_30_seconds() {
    const LINES: usize = 100_000;
    let mut server = Server::start_with(&[("SHUTDOWN_NOTICE_SECS", "1")]).await;
    let signed_up = server
        .post(json!({ "query": "mutation { register(input: { email: \"ada@example.com\", password: \"a long passphrase\", name: \"Ada\" }) }" }))
        .await;
    assert_eq!(signed_up["data"]["register"], true, "{signed_up}");
    // The binary logs its mail rather than sending it: the address is verified directly.
    {
        use diesel_async::RunQueryDsl;
        let mut conn = server._db.connect().await;
        diesel::sql_query("UPDATE users SET email_verified_at = now()")
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let login = server
        .post(json!({ "query": "mutation { login(input: { email: \"ada@example.com\", password: \"a long passphrase\" }) { accessToken } }" }))
        .await;
    let token = login["data"]["login"]["accessToken"].as_str().unwrap().to_owned();
    let company = server
        .created(
            &token,
            "createCompany",
            "mutation { createCompany(input: { name: \"Acme\" }) { id } }",
            json!({}),
        )
        .await;
    let project = server
        .created(
            &token,
            "createProject",
            "mutation($c: ID!) { createProject(companyId: $c, name: \"Footprint\") { id } }",
            json!({ "c": company }),
        )
        .await;
    let table = server
        .created(
            &token,
            "createDataTable",
            "mutation($p: ID!) { createDataTable(projectId: $p, name: \"Fuel\", fields: [{ key: \"site\", label: \"Site\", type: TEXT }, { key: \"litres\", label: \"Litres\", type: DECIMAL }]) { id } }",
            json!({ "p": project }),
        )
        .await;
    let addr = server.base.trim_start_matches("http://").parse().unwrap();
    let mut subscriber = WsClient::connect(addr, &token).await;
    subscriber
        .subscribe(
            "feed",
            "subscription($c: ID!) { activity(companyId: $c) { verb } }",
            json!({ "c": company }),
        )
        .await;

    let mut csv = String::from("site,litres\n");
    for line in 0..LINES {
        csv.push_str(&format!("Site {line},{}.5\n", line % 1000));
    }
    let operations = json!({
        "query": "mutation($t: ID!, $file: Upload!) { importCsv(tableId: $t, csv: $file) { inserted rejected } }",
        "variables": { "t": table, "file": null },
    });
    let body = crate::helpers::multipart_body("drain", &operations, "fuel.csv", &csv);
    let upload = reqwest::Client::new()
        .post(format!("{}/graphql", server.base))
        .bearer_auth(&token)
        .header("content-type", "multipart/form-data; boundary=drain")
        .header("apollo-require-preflight", "true")
        .body(body)
        .send();
    let import = tokio::spawn(async move {
        let answer = upload.await.unwrap().json::<Value>().await.unwrap();
        (answer, std::time::Instant::now())
    });
    // The upload is under way (the import of 100,000 lines takes seconds).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let started = std::time::Instant::now();
    Command::new("kill")
        .args(["-TERM", &server.process.id().to_string()])
        .status()
        .unwrap();
    let (imported, answered) = import.await.unwrap();
    assert!(answered > started, "the import was still running at the signal");
    assert_eq!(
        imported["data"]["importCsv"]["inserted"], LINES,
        "the import in flight finished: {imported}"
    );
    match subscriber.receive().await {
        Received::Closed(Some(frame)) => assert_eq!(u16::from(frame.code), 1001),
        Received::Message(event) => {
            // The import's own event may come first; the close follows.
            assert_eq!(
                event["payload"]["data"]["activity"]["verb"], "row.imported",
                "{event}"
            );
            assert!(matches!(subscriber.receive().await, Received::Closed(Some(_))));
        }
        other => panic!("expected the import's event or a going-away close, got {other:?}"),
    }
    let mut status = None;
    while started.elapsed() < std::time::Duration::from_secs(30) {
        if let Some(exited) = server.process.try_wait().unwrap() {
            status = Some(exited);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let status = status.expect("the server stopped within 30 s");
    assert!(status.success(), "{status:?}");
    eprintln!(
        "import answered {:?} and the server stopped {:?} after SIGTERM",
        answered - started,
        started.elapsed()
    );
}
