//! The test harness: a real server on 127.0.0.1:0 over a fresh database, mailing a real
//! SMTP sink, with a clock the test can move forward.

pub mod db;
pub mod node;
pub mod pgbouncer;
pub mod receiver;
pub mod shell;
pub mod smtp;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

use async_graphql::{Request, Variables};
use chrono::Duration;
use guildhall::app::{App, AppBuilder};
use guildhall::auth::caller::{Caller, ClientInfo, Principal};
use guildhall::clock::OffsetClock;
use guildhall::config::Config;
use guildhall::graphql::live_session;
use guildhall::graphql::pipeline::Pipeline;
use guildhall::mail::worker::{self, Transport};

use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

pub use db::TestDb;
pub use smtp::SmtpSink;

/// The password every helper-made account uses.
pub const PASSWORD: &str = "correct horse battery staple";

/// A running Guildhall with its database and mail sink.
pub struct TestApp {
    pub app: App,
    pub pipeline: Pipeline,
    pub clock: Arc<OffsetClock>,
    pub smtp: SmtpSink,
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    stop_server: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    stop_worker: watch::Sender<bool>,
    /// The webhook senders (a test may kill them mid-delivery).
    pub webhook_senders: JoinHandle<()>,
    stop_listener: watch::Sender<bool>,
    // Declared last: dropped after everything that holds connections to it.
    pub db: TestDb,
}

impl TestApp {
    /// Starts an app with the test configuration.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts an app after `configure` adjusts the test configuration.
    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> Self {
        let db = TestDb::create().await;
        let smtp = SmtpSink::start().await;
        let mut config = Config::from_env();
        config.database_url = db.url.clone();
        config.database_pool_size = 8;
        config.listen_addr = "127.0.0.1:0".parse().expect("addr");
        config.public_url = Some("http://guildhall.test".to_owned());
        config.app_url = Some("http://app.guildhall.test".to_owned());
        config.environment = guildhall::config::Environment::Development;
        config.jwt_secret = Some("test-secret-that-is-long-enough-for-hs256".to_owned());
        config.smtp_url = Some(smtp.url());
        config.mail_poll_ms = 50;
        config.allow_private_webhooks = true;
        config.webhook_timeout_secs = 2;
        config.webhook_retry_schedule = vec![std::time::Duration::from_secs(1); 2];
        config.webhook_poll_ms = 100;
        config.webhook_concurrency = 2;
        configure(&mut config);
        let clock = Arc::new(OffsetClock::default());
        let cheap = argon2::Params::new(1024, 1, 1, None).expect("argon2 params");
        let app = AppBuilder::new(config)
            .clock(clock.clone())
            .password_params(cheap)
            .build()
            .expect("build app");
        let (stop_worker, worker_stopped) = watch::channel(false);
        let transport =
            Transport::new(app.config.smtp_url.as_deref(), &app.config.mail_from).expect("transport");
        worker::spawn(app.clone(), transport, worker_stopped.clone());
        let webhook_senders = guildhall::webhooks::worker::spawn(app.clone(), worker_stopped.clone());
        guildhall::rows::recalculate::spawn(app.clone(), worker_stopped);
        let (stop_listener, listener_stopped) = watch::channel(false);
        guildhall::events::listener::spawn(app.clone(), listener_stopped);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop_server, server_stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(guildhall::http::serve(app.clone(), listener, async move {
            let _ = server_stopped.await;
        }));
        let pipeline = Pipeline::new(&app);
        Self {
            pipeline,
            app,
            clock,
            smtp,
            addr,
            http: reqwest::Client::new(),
            stop_server: Some(stop_server),
            server: Some(server),
            stop_worker,
            webhook_senders,
            stop_listener,
            db,
        }
    }

    /// http://127.0.0.1:port
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The App clock's current time.
    pub fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        use guildhall::clock::Clock;
        self.clock.now()
    }

    /// Moves the App clock forward.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// Runs an operation through the schema as the holder of `token` (None: anonymous),
    /// from 127.0.0.1, and returns the response as JSON.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        self.gql_from("127.0.0.1", token, query, variables).await
    }

    /// The caller holding `token` (an access token or an API key), as services receive it.
    pub async fn caller(&self, token: &str) -> Caller {
        let principal = live_session::authenticate(&self.app, token)
            .await
            .expect("a live token");
        Caller {
            principal,
            client: ClientInfo::default(),
            request_id: "test-request".to_owned(),
        }
    }

    /// Like [`TestApp::gql`], from the client address `ip`.
    pub async fn gql_from(&self, ip: &str, token: Option<&str>, query: &str, variables: Value) -> Value {
        let principal = match token {
            None => Principal::Anonymous,
            Some(token) => match live_session::authenticate(&self.app, token).await {
                Ok(principal) => principal,
                Err(err) => {
                    return json!({ "errors": [{ "message": err.message, "extensions": { "code": err.code.as_str() } }] });
                }
            },
        };
        let caller = Caller {
            principal,
            client: ClientInfo {
                ip: Some(ip.to_owned()),
                user_agent: Some("guildhall-tests".to_owned()),
            },
            request_id: "test-request".to_owned(),
        };
        let request = Request::new(query).variables(Variables::from_json(variables));
        let response = self.pipeline.execute(request, caller).await;
        serde_json::to_value(&response).expect("response json")
    }

    /// Like [`TestApp::gql`] but asserts success and returns `data`.
    pub async fn ok(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let response = self.gql(token, query, variables).await;
        assert!(
            response.get("errors").is_none(),
            "unexpected errors: {response:#}"
        );
        response["data"].clone()
    }

    /// POSTs a GraphQL request over real HTTP.
    pub async fn post(&self, token: Option<&str>, body: Value) -> reqwest::Response {
        let mut request = self.http.post(format!("{}/graphql", self.base_url())).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("http request")
    }

    /// Sends an operation with one file for the Upload variable `file` as a multipart
    /// request (GraphQL multipart request spec) over real HTTP.
    pub async fn upload(
        &self,
        token: &str,
        query: &str,
        variables: Value,
        filename: &str,
        content: &str,
    ) -> Value {
        self.upload_files(token, query, variables, &[("file", filename, content)])
            .await
    }

    /// Sends an operation with one file per `(variable, filename, content)` as a multipart
    /// request over real HTTP.
    pub async fn upload_files(
        &self,
        token: &str,
        query: &str,
        mut variables: Value,
        files: &[(&str, &str, &str)],
    ) -> Value {
        let boundary = "guildhall-test-boundary";
        let mut map = serde_json::Map::new();
        for (index, (variable, _, _)) in files.iter().enumerate() {
            variables[*variable] = Value::Null;
            map.insert(index.to_string(), json!([format!("variables.{variable}")]));
        }
        let operations = json!({ "query": query, "variables": variables });
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{operations}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{}\r\n",
            Value::Object(map)
        );
        for (index, (_, filename, content)) in files.iter().enumerate() {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{index}\"; filename=\"{filename}\"\r\n\
                 Content-Type: text/csv\r\n\r\n{content}\r\n"
            ));
        }
        body.push_str(&format!("--{boundary}--\r\n"));
        self.http
            .post(format!("{}/graphql", self.base_url()))
            .bearer_auth(token)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header("apollo-require-preflight", "true")
            .body(body)
            .send()
            .await
            .expect("upload request")
            .json()
            .await
            .expect("upload response")
    }

    /// Registers an account and returns the verification token from its mail.
    pub async fn register(&self, email: &str, name: &str) -> String {
        self.ok(
            None,
            "mutation($input: RegisterInput!) { register(input: $input) }",
            json!({ "input": { "email": email, "password": PASSWORD, "name": name } }),
        )
        .await;
        self.smtp.wait_for(email, "Verify your email").await.token()
    }

    /// Signs in and returns (access token, refresh token).
    pub async fn login(&self, email: &str, password: &str) -> (String, String) {
        let data = self
            .ok(
                None,
                "mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken } }",
                json!({ "input": { "email": email, "password": password } }),
            )
            .await;
        (
            data["login"]["accessToken"]
                .as_str()
                .expect("access token")
                .to_owned(),
            data["login"]["refreshToken"]
                .as_str()
                .expect("refresh token")
                .to_owned(),
        )
    }

    /// Attempts a sign-in and returns the whole response (for expected failures).
    pub async fn try_login(&self, email: &str, password: &str) -> Value {
        self.gql(
            None,
            "mutation($input: LoginInput!) { login(input: $input) { accessToken } }",
            json!({ "input": { "email": email, "password": password } }),
        )
        .await
    }

    /// A verified account, signed in: returns its access token.
    pub async fn verified_user(&self, email: &str, name: &str) -> String {
        let token = self.register(email, name).await;
        self.ok(
            None,
            "mutation($token: String!) { verifyEmail(token: $token) { id } }",
            json!({ "token": token }),
        )
        .await;
        self.login(email, PASSWORD).await.0
    }

    /// Creates a company as the holder of `token`; returns its id and its roles by name.
    pub async fn create_company(&self, token: &str, name: &str) -> Company {
        let data = self
            .ok(
                Some(token),
                "mutation($input: CreateCompanyInput!) { createCompany(input: $input) { id roles { id name } } }",
                json!({ "input": { "name": name } }),
            )
            .await;
        let company = &data["createCompany"];
        Company {
            id: company["id"].as_str().unwrap().to_owned(),
            roles: company["roles"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r["name"].as_str().unwrap().to_owned(),
                        r["id"].as_str().unwrap().to_owned(),
                    )
                })
                .collect(),
        }
    }

    /// Invites `email` with `role` and returns the token from the invitation mail.
    pub async fn invite(&self, inviter: &str, company: &Company, email: &str, role: &str) -> String {
        let before = self.smtp.mails_to(email).len();
        self.ok(
            Some(inviter),
            "mutation($input: InviteMemberInput!) { inviteMember(input: $input) { id } }",
            json!({ "input": { "companyId": company.id, "email": email, "roleId": company.role(role) } }),
        )
        .await;
        self.smtp.wait_for_count(email, before + 1).await[before].token()
    }

    /// A new account that joined `company` with `role` through an invitation; returns its
    /// access token.
    pub async fn member(
        &self,
        inviter: &str,
        company: &Company,
        email: &str,
        name: &str,
        role: &str,
    ) -> String {
        let token = self.invite(inviter, company, email, role).await;
        let data = self
            .ok(
                None,
                "mutation($input: RegisterWithInvitationInput!) { registerWithInvitation(input: $input) { accessToken } }",
                json!({ "input": { "token": token, "name": name, "password": PASSWORD } }),
            )
            .await;
        data["registerWithInvitation"]["accessToken"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Creates a project in `company` as the holder of `token`; returns its id.
    pub async fn create_project(&self, token: &str, company: &Company, name: &str) -> String {
        let create = "mutation($c: ID!, $n: String!) { createProject(companyId: $c, name: $n) { id } }";
        let data = self
            .ok(Some(token), create, json!({ "c": company.id, "n": name }))
            .await;
        data["createProject"]["id"].as_str().unwrap().to_owned()
    }

    /// The id of the account with this address.
    pub async fn user_id(&self, token: &str) -> String {
        let data = self.ok(Some(token), "{ me { user { id } } }", json!({})).await;
        data["me"]["user"]["id"].as_str().unwrap().to_owned()
    }

    /// Starts a second server process's worth of state (its own App, pool, event listener
    /// and HTTP server) on this test's database, as another instance behind a load balancer.
    pub async fn second_instance(&self) -> Instance {
        self.instance_with(|_| {}).await
    }

    /// Another instance whose configuration `configure` adjusts (e.g. to reach the
    /// database through PgBouncer).
    pub async fn instance_with(&self, configure: impl FnOnce(&mut Config)) -> Instance {
        let mut config = self.app.config.clone();
        configure(&mut config);
        let app = AppBuilder::new(config)
            .clock(self.clock.clone())
            .password_params(argon2::Params::new(1024, 1, 1, None).expect("argon2 params"))
            .build()
            .expect("build app");
        let (stop, stopped) = watch::channel(false);
        guildhall::events::listener::spawn(app.clone(), stopped.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let mut server_stopped = stopped;
        let server = tokio::spawn(guildhall::http::serve(app.clone(), listener, async move {
            let _ = server_stopped.changed().await;
        }));
        Instance {
            addr,
            app,
            stop,
            server,
        }
    }

    /// Stops the mail worker and the webhook senders (so statement counts see only the
    /// test's own queries).
    /// Waits (up to 30 s) until no background recalculation of the table's formulas is under
    /// way, as its reader `token` sees.
    pub async fn recalculated(&self, token: &str, table_id: &str) {
        let query = "query($t: ID!) { dataTable(id: $t) { recalculation { done total } } }";
        for _ in 0..600 {
            let data = self.ok(Some(token), query, json!({ "t": table_id })).await;
            if data["dataTable"]["recalculation"].is_null() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the table's recalculation did not finish in 30 s");
    }

    pub async fn stop_workers(&self) {
        let _ = self.stop_worker.send(true);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    /// Stops the HTTP server gracefully and waits for it.
    pub async fn shutdown(&mut self) {
        if let Some(stop) = self.stop_server.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.stop_worker.send(true);
        let _ = self.stop_listener.send(true);
        self.webhook_senders.abort();
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// Another server instance on a test's database.
pub struct Instance {
    pub addr: SocketAddr,
    pub app: App,
    stop: watch::Sender<bool>,
    server: JoinHandle<anyhow::Result<()>>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.server.abort();
    }
}

/// Runs `scripts/<script>`, which installs a Debian package some tests drive when it is
/// missing (as .ci/run does); fails the test if it cannot.
pub async fn install_with(script: &'static str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(script);
    let status = tokio::task::spawn_blocking(move || std::process::Command::new(path).status())
        .await
        .expect(script)
        .unwrap_or_else(|err| panic!("scripts/{script} does not run: {err}"));
    assert!(status.success(), "scripts/{script} could not install its package");
}

/// A multipart request body (GraphQL multipart request spec) carrying `operations` and one
/// file, part `0`, for the variable `file`.
pub fn multipart_body(boundary: &str, operations: &Value, filename: &str, content: &str) -> String {
    format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{operations}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{{\"0\": [\"variables.file\"]}}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"0\"; filename=\"{filename}\"\r\n\
         Content-Type: text/csv\r\n\r\n{content}\r\n--{boundary}--\r\n"
    )
}

/// A company made by [`TestApp::create_company`].
pub struct Company {
    pub id: String,
    pub roles: Vec<(String, String)>,
}

impl Company {
    /// The id of the role named `name`.
    pub fn role(&self, name: &str) -> &str {
        &self.roles.iter().find(|(n, _)| n == name).expect("role exists").1
    }
}

/// The `extensions.code` of the first error.
pub fn error_code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<no error>")
}

/// The `extensions.fields[].path` values of the first error, each joined with dots
/// (`["rows", 0, "litres"]` becomes `rows.0.litres`).
pub fn error_fields(response: &Value) -> Vec<String> {
    response["errors"][0]["extensions"]["fields"]
        .as_array()
        .map(|fields| {
            fields
                .iter()
                .filter_map(|f| f["path"].as_array())
                .map(|path| {
                    path.iter()
                        .map(|s| s.as_str().map_or_else(|| s.to_string(), str::to_owned))
                        .collect::<Vec<_>>()
                        .join(".")
                })
                .collect()
        })
        .unwrap_or_default()
}
