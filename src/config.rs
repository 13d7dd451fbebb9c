//! Every setting, read from the environment (or the matching command-line flag), each
//! with a default that works on a developer machine with a local PostgreSQL.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::bail;
use clap::{Args, ValueEnum};

/// Development is forgiving (random JWT secret, mail to the log, playground on);
/// production refuses to start without real secrets and hides introspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    Development,
    Production,
}

/// Log line format: human-readable text or one JSON object per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The database the server uses when DATABASE_URL is not set.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/guildhall";

/// The port `/metrics` is served on unless METRICS_ADDR says otherwise.
const DEFAULT_METRICS_PORT: u16 = 9090;

/// The server's configuration.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// PostgreSQL database; created at startup if missing, then migrated. `embedded`, or
    /// the default when nothing answers there: a private cluster under the working folder.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,

    /// What the server's pool connects as: a role that owns no table, is no superuser and
    /// cannot bypass row-level security (default: DATABASE_URL's server and database as
    /// `guildhall_app`, which the server lets log in).
    #[arg(long, env = "DATABASE_APP_URL")]
    pub database_app_url: Option<String>,

    /// The connection that LISTENs for events (default: the pool's); it must reach
    /// PostgreSQL itself when the pool's goes through a pooler in transaction mode.
    #[arg(long, env = "DATABASE_DIRECT_URL")]
    pub database_direct_url: Option<String>,

    /// Keep each query prepared on its pooled connection (`false` behind a pooler in
    /// transaction mode, such as PgBouncer before 1.21).
    #[arg(long, env = "DATABASE_KEEP_PREPARED", default_value_t = true, action = clap::ArgAction::Set)]
    pub database_keep_prepared: bool,

    /// Largest number of pooled database connections.
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 16)]
    pub database_pool_size: usize,

    /// Address the HTTP server binds.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8080")]
    pub listen_addr: SocketAddr,

    /// Address `/metrics` is served on, apart from the public one (default
    /// 127.0.0.1:9090; `off` serves it nowhere).
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<String>,

    /// Seconds a stopping server keeps serving while `/health/ready` answers 503, before it
    /// stops accepting (0: stop accepting at once).
    #[arg(long, env = "SHUTDOWN_NOTICE_SECS", default_value_t = 0)]
    pub shutdown_notice_secs: u64,

    /// This server's own public address (default: http://LISTEN_ADDR).
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<String>,

    /// The product frontend that mail links open (default: PUBLIC_URL, whose built-in pages
    /// complete each flow).
    #[arg(long, env = "APP_URL")]
    pub app_url: Option<String>,

    /// `development` or `production`.
    #[arg(long, env = "GUILDHALL_ENV", value_enum, default_value = "development")]
    pub environment: Environment,

    /// HS256 signing secret for access tokens (random per start in development).
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// `iss` claim of access tokens.
    #[arg(long, env = "JWT_ISSUER", default_value = "guildhall")]
    pub jwt_issuer: String,

    /// `aud` claim of access tokens.
    #[arg(long, env = "JWT_AUDIENCE", default_value = "guildhall-api")]
    pub jwt_audience: String,

    /// Access token lifetime in seconds.
    #[arg(long, env = "ACCESS_TOKEN_TTL_SECS", default_value_t = 900)]
    pub access_token_ttl_secs: u64,

    /// A session (refresh token family) ends after this many days without a refresh.
    #[arg(long, env = "SESSION_TTL_DAYS", default_value_t = 30)]
    pub session_ttl_days: u64,

    /// Seconds a session found live is trusted without reading it again (0: every request
    /// reads it). Revocations by this instance apply at once regardless.
    #[arg(long, env = "SESSION_CACHE_SECS", default_value_t = 5)]
    pub session_cache_secs: u64,

    /// Seconds a member's standing (company role, permissions, project grants) is trusted
    /// without reading it again (0: every request reads it). Changes apply at once on the
    /// instance that made them and on others when they hear the database announce them;
    /// this bounds staleness if an announcement is lost.
    #[arg(long, env = "STANDING_CACHE_SECS", default_value_t = 30)]
    pub standing_cache_secs: u64,

    /// Items a live subscriber may fall behind before it is dropped (it resumes by cursor).
    #[arg(long, env = "SUBSCRIBER_QUEUE", default_value_t = 1024)]
    pub subscriber_queue: usize,

    /// Seconds between the server's keep-alive pings on each websocket (proxies close idle
    /// connections; the pings also reveal dead peers).
    #[arg(long, env = "WS_PING_SECS", default_value_t = 30)]
    pub ws_ping_secs: u64,

    /// Most operations (subscriptions) one websocket may run at once.
    #[arg(long, env = "WS_MAX_SUBSCRIPTIONS", default_value_t = 100)]
    pub ws_max_subscriptions: usize,

    /// Seconds a new websocket has to send connection_init before it is closed (4408).
    #[arg(long, env = "WS_INIT_TIMEOUT_SECS", default_value_t = 10)]
    pub ws_init_timeout_secs: u64,

    /// Most websockets one account may hold open on one instance.
    #[arg(long, env = "WS_MAX_SOCKETS_PER_USER", default_value_t = 500)]
    pub ws_max_sockets_per_user: usize,

    /// Bytes a websocket reads at once: its read buffer is held for the connection's life,
    /// and clients send short messages (a longer one grows it while it is read).
    #[arg(long, env = "WS_READ_BUFFER", default_value_t = 256)]
    pub ws_read_buffer: usize,

    /// Bytes a websocket gathers before writing them out (memory per subscriber).
    #[arg(long, env = "WS_WRITE_BUFFER", default_value_t = 1024)]
    pub ws_write_buffer: usize,

    /// `smtp://host:port` (plain, or `?tls=required` for STARTTLS) or `smtps://user:pass@host`;
    /// unset: mail is logged and marked sent.
    #[arg(long, env = "SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// Product name shown in mail and on the built-in pages.
    #[arg(long, env = "PRODUCT_NAME", default_value = "Guildhall")]
    pub product_name: String,

    /// Sender of every mail.
    #[arg(
        long,
        env = "MAIL_FROM",
        default_value = "Guildhall <no-reply@guildhall.localhost>"
    )]
    pub mail_from: String,

    /// How often the mail worker looks for due mail when nothing wakes it, in milliseconds.
    #[arg(long, env = "MAIL_POLL_MS", default_value_t = 5000)]
    pub mail_poll_ms: u64,

    /// `text` or `json`.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Deepest selection nesting a query may have.
    #[arg(long, env = "GRAPHQL_MAX_DEPTH", default_value_t = 15)]
    pub max_depth: usize,

    /// Highest query cost (a connection costs `first` times its children).
    #[arg(long, env = "GRAPHQL_MAX_COMPLEXITY", default_value_t = 10_000)]
    pub max_complexity: usize,

    /// Most aliases a query may use.
    #[arg(long, env = "GRAPHQL_MAX_ALIASES", default_value_t = 30)]
    pub max_aliases: usize,

    /// Most field selections a document may make, counted after its fragments are
    /// expanded (a fragment spread twice counts twice), duplicates included.
    #[arg(long, env = "GRAPHQL_MAX_FIELDS", default_value_t = 500)]
    pub max_fields: usize,

    /// Most directives on one field, fragment or operation.
    #[arg(long, env = "GRAPHQL_MAX_DIRECTIVES", default_value_t = 10)]
    pub max_directives: usize,

    /// Most operations in one batched request.
    #[arg(long, env = "GRAPHQL_MAX_BATCH", default_value_t = 10)]
    pub max_batch: usize,

    /// Largest request body in bytes, uploads excepted.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Largest multipart (upload) request body in bytes.
    #[arg(long, env = "MAX_UPLOAD_BYTES", default_value_t = 100 * 1024 * 1024)]
    pub max_upload_bytes: usize,

    /// Most data lines one CSV import may hold.
    #[arg(long, env = "IMPORT_MAX_LINES", default_value_t = 1_000_000)]
    pub import_max_lines: usize,

    /// Most CSV imports one server instance runs at once (each holds a database connection
    /// for its whole run); more are refused with RATE_LIMITED.
    #[arg(long, env = "IMPORT_MAX_CONCURRENT", default_value_t = 4)]
    pub import_max_concurrent: usize,

    /// Most CSV imports one company runs at once, across all instances.
    #[arg(long, env = "IMPORT_MAX_PER_COMPANY", default_value_t = 2)]
    pub import_max_per_company: u32,

    /// Documents kept for automatic persisted queries (by hash, in PostgreSQL, shared by all
    /// instances); beyond it the least recently used are evicted, and their clients send
    /// them in full again.
    #[arg(long, env = "PERSISTED_QUERIES_MAX", default_value_t = 10_000)]
    pub persisted_queries_max: u32,

    /// Days an audit entry is kept; a daily purge removes older ones.
    #[arg(long, env = "AUDIT_RETENTION_DAYS", default_value_t = 365)]
    pub audit_retention_days: u32,

    /// Base64 of 32 random bytes (`openssl rand -base64 32`): encrypts the secrets the
    /// server must read back, such as webhook signing secrets. Required in production;
    /// development uses a fixed development key.
    #[arg(long, env = "SECRETS_KEY", hide_env_values = true)]
    pub secrets_key: Option<String>,

    /// Webhooks one company may hold.
    #[arg(long, env = "WEBHOOKS_PER_COMPANY", default_value_t = 20)]
    pub webhooks_per_company: u32,

    /// Let webhooks call loopback, private, link-local and other internal addresses
    /// (off: such endpoints are refused, when created and again when each address is resolved).
    #[arg(long, env = "ALLOW_PRIVATE_WEBHOOKS", default_value_t = false)]
    pub allow_private_webhooks: bool,

    /// Seconds a webhook endpoint has to answer one delivery.
    #[arg(long, env = "WEBHOOK_TIMEOUT_SECS", default_value_t = 15)]
    pub webhook_timeout_secs: u64,

    /// Waits between a failed delivery attempt and the next, comma-separated (`5s,5m,2h`);
    /// after the last the delivery is FAILED. Each wait varies by up to a tenth.
    #[arg(
        long,
        env = "WEBHOOK_RETRY_SCHEDULE",
        value_delimiter = ',',
        value_parser = humantime::parse_duration,
        default_value = "5s,5m,30m,2h,5h,10h,14h,20h,24h"
    )]
    pub webhook_retry_schedule: Vec<std::time::Duration>,

    /// How often each instance looks for webhook deliveries that fell due (new events
    /// wake it at once).
    #[arg(long, env = "WEBHOOK_POLL_MS", default_value_t = 1000)]
    pub webhook_poll_ms: u64,

    /// Deliveries one instance sends at the same time (at most one per endpoint).
    #[arg(long, env = "WEBHOOK_CONCURRENCY", default_value_t = 4)]
    pub webhook_concurrency: usize,

    /// Days a finished (delivered or failed) webhook delivery stays listed.
    #[arg(long, env = "WEBHOOK_DELIVERY_RETENTION_DAYS", default_value_t = 30)]
    pub webhook_delivery_retention_days: u32,

    /// Requests one API key may make per minute on one instance (RATE_LIMITED beyond).
    #[arg(long, env = "API_KEY_REQUESTS_PER_MINUTE", default_value_t = 600)]
    pub api_key_requests_per_minute: u32,

    /// Live (unrevoked, unexpired) API keys one company may hold.
    #[arg(long, env = "API_KEYS_PER_COMPANY", default_value_t = 100)]
    pub api_keys_per_company: u32,

    /// Documents one company may register for its integrations (trusted documents).
    #[arg(long, env = "PERSISTED_QUERIES_PER_COMPANY", default_value_t = 5_000)]
    pub persisted_queries_per_company: u32,

    /// Every caller may run only documents registered for a company they act in, or
    /// globally (PERSISTED_QUERY_NOT_ALLOWED otherwise); keys made with `persistedOnly`
    /// follow this rule whatever the setting.
    #[arg(long, env = "PERSISTED_ONLY", default_value_t = false)]
    pub persisted_only: bool,

    /// An Apollo persisted-query manifest registered for every company at startup.
    #[arg(long, env = "PERSISTED_QUERIES_MANIFEST")]
    pub persisted_queries_manifest: Option<std::path::PathBuf>,

    /// A factor file imported into the shipped defaults at every start (the defaults' own
    /// layout, or a DESNZ flat file with `DEFAULT_FACTORS_MAPPING`); versions already there
    /// are left alone, and a bad line stops the start.
    #[arg(long, env = "DEFAULT_FACTORS_FILE")]
    pub default_factors_file: Option<std::path::PathBuf>,

    /// The mapping from a DESNZ flat file's lines to factor keys (see `importEmissionFactors`).
    #[arg(long, env = "DEFAULT_FACTORS_MAPPING")]
    pub default_factors_mapping: Option<std::path::PathBuf>,

    /// Rows from which a table's number and date fields get their own ordered index.
    #[arg(long, env = "ROW_INDEX_THRESHOLD", default_value_t = 10_000)]
    pub row_index_threshold: usize,

    /// Allow introspection (default: on in development, off in production).
    #[arg(long, env = "GRAPHQL_INTROSPECTION")]
    pub introspection: Option<bool>,

    /// Serve the GraphiQL playground (default: on in development, off in production).
    #[arg(long, env = "GRAPHQL_PLAYGROUND")]
    pub playground: Option<bool>,

    /// "Did you mean" suggestions in validation errors (default: as introspection).
    #[arg(long, env = "GRAPHQL_SUGGESTIONS")]
    pub suggestions: Option<bool>,

    /// Origins allowed to open websockets, comma-separated (default: any in development,
    /// PUBLIC_URL and APP_URL in production).
    #[arg(long, env = "WS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub ws_allowed_origins: Vec<String>,

    /// Origins whose browser pages may call the HTTP API (CORS), comma-separated (default:
    /// WS_ALLOWED_ORIGINS, so one list can serve both; this one wins for HTTP when both are set).
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<String>,

    /// Take the client address from X-Forwarded-For (only behind a trusted proxy).
    #[arg(long, env = "TRUST_PROXY_HEADERS", default_value_t = false)]
    pub trust_proxy_headers: bool,

    /// Verification and reset requests allowed per client address per 15 minutes.
    #[arg(long, env = "AUTH_RATE_LIMIT_PER_IP", default_value_t = 30)]
    pub auth_rate_limit_per_ip: u32,
}

impl Config {
    /// The configuration from the environment alone, as the server reads it.
    pub fn from_env() -> Self {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: Config,
        }
        <Wrapper as clap::Parser>::parse_from(["guildhall"]).config
    }

    /// Where `/metrics` is served: None when `METRICS_ADDR=off`; the flag says whether the
    /// address was asked for (a default address already taken only costs a warning).
    pub fn metrics_address(&self) -> anyhow::Result<Option<(SocketAddr, bool)>> {
        match self.metrics_addr.as_deref().map(str::trim) {
            None | Some("") => Ok(Some((
                SocketAddr::from(([127, 0, 0, 1], DEFAULT_METRICS_PORT)),
                false,
            ))),
            Some(off) if off.eq_ignore_ascii_case("off") => Ok(None),
            Some(address) => match address.parse() {
                Ok(address) => Ok(Some((address, true))),
                Err(_) => bail!("METRICS_ADDR must be an address such as 127.0.0.1:9090, or off"),
            },
        }
    }

    /// Refuses configurations that would be unsafe in production.
    pub fn check(&self) -> anyhow::Result<()> {
        self.metrics_address()?;
        if self.environment == Environment::Production {
            let mut missing = Vec::new();
            if self.jwt_secret.as_deref().is_none_or(str::is_empty) {
                missing.push("JWT_SECRET");
            }
            if self.smtp_url.as_deref().is_none_or(str::is_empty) {
                missing.push("SMTP_URL");
            }
            if self.secrets_key.as_deref().is_none_or(str::is_empty) {
                missing.push("SECRETS_KEY");
            }
            if !missing.is_empty() {
                bail!("GUILDHALL_ENV=production needs {} to be set", missing.join(", "));
            }
            if self.jwt_secret.as_deref().is_some_and(|s| s.len() < 32) {
                bail!("JWT_SECRET must be at least 32 characters in production");
            }
        }
        if !(1..=300).contains(&self.webhook_timeout_secs) {
            bail!(
                "WEBHOOK_TIMEOUT_SECS must be 1 to 300 (got {})",
                self.webhook_timeout_secs
            );
        }
        let longest_wait = std::time::Duration::from_secs(7 * 24 * 60 * 60);
        if self.webhook_retry_schedule.len() > 50
            || self
                .webhook_retry_schedule
                .iter()
                .any(|wait| *wait > longest_wait)
        {
            bail!("WEBHOOK_RETRY_SCHEDULE holds at most 50 waits of at most 7 days each");
        }
        for (name, url) in [("PUBLIC_URL", &self.public_url), ("APP_URL", &self.app_url)] {
            if let Some(url) = url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                bail!("{name} must start with http:// or https:// (got {url})");
            }
        }
        Ok(())
    }

    /// This server's public base URL, without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen_addr),
        }
    }

    /// Base URL of the pages that mail links open, without a trailing slash.
    pub fn app_url(&self) -> String {
        match &self.app_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => self.public_url(),
        }
    }

    /// Whether the strict production checks and defaults apply.
    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }

    /// Whether introspection queries are answered.
    pub fn introspection_enabled(&self) -> bool {
        self.introspection.unwrap_or(!self.is_production())
    }

    /// Whether GET /graphql serves the GraphiQL page.
    pub fn playground_enabled(&self) -> bool {
        self.playground.unwrap_or(!self.is_production())
    }

    /// Whether validation errors suggest field names.
    pub fn suggestions_enabled(&self) -> bool {
        self.suggestions.unwrap_or(self.introspection_enabled())
    }

    /// Whether a websocket handshake from `origin` is accepted.
    pub fn websocket_origin_allowed(&self, origin: Option<&str>) -> bool {
        match origin {
            // Non-browser clients send no Origin; browsers always do.
            None => true,
            Some(origin) => self.origin_in(&self.ws_allowed_origins, origin),
        }
    }

    /// Whether a browser page from `origin` may call the HTTP API (CORS).
    pub fn cors_origin_allowed(&self, origin: &str) -> bool {
        if self.cors_allowed_origins.is_empty() {
            self.origin_in(&self.ws_allowed_origins, origin)
        } else {
            self.origin_in(&self.cors_allowed_origins, origin)
        }
    }

    /// Whether `list` (an origins setting) allows `origin`: an empty list allows any origin
    /// in development, and PUBLIC_URL's and APP_URL's in production.
    fn origin_in(&self, list: &[String], origin: &str) -> bool {
        if list.is_empty() {
            return !self.is_production()
                || [origin_of(&self.public_url()), origin_of(&self.app_url())]
                    .iter()
                    .any(|allowed| allowed == origin);
        }
        list.iter()
            .map(|o| o.trim().trim_end_matches('/'))
            .any(|allowed| allowed == "*" || allowed == origin)
    }

    /// Access token lifetime.
    pub fn access_token_ttl(&self) -> Duration {
        Duration::from_secs(self.access_token_ttl_secs)
    }

    /// The database URL with any password replaced, safe to print.
    pub fn redacted_database_url(&self) -> String {
        redact_url_password(&self.database_url)
    }
}

/// `scheme://host[:port]` of a URL, as browsers send it in `Origin`.
fn origin_of(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let host = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{host}")
}

/// Replaces the password of `scheme://user:password@host/...` with `***`.
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}
