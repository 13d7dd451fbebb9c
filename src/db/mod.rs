//! The connection pool, database creation, embedded migrations, backups (backup.rs) and
//! the private cluster for a machine without a running PostgreSQL (embedded.rs).

pub mod backup;
pub mod embedded;
pub mod prepared;
pub mod roles;
pub mod schema;
pub mod scope;
pub mod tx;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow};
use diesel::ConnectionError;
use diesel::connection::{CacheSize, Instrumentation, InstrumentationEvent};
use diesel::result::ConnectionResult;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::{
    AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures_util::FutureExt;

use crate::config::redact_url_password;

/// Pooled PostgreSQL connections, shared by every request and worker.
pub type DbPool = Pool<AsyncPgConnection>;

/// A connection checked out of [`DbPool`].
pub type DbConn = Object<AsyncPgConnection>;

/// The schema migrations, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Counts the SQL statements the pool's connections run: an operational figure, and how
/// tests show that a list query costs a constant number of statements.
#[derive(Debug, Default)]
pub struct StatementCounter(AtomicU64);

impl StatementCounter {
    /// Statements started so far.
    pub fn total(&self) -> u64 {
        AtomicU64::load(&self.0, Ordering::Relaxed)
    }
}

struct CountStatements(Arc<StatementCounter>);

impl Instrumentation for CountStatements {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::StartQuery { .. } = event {
            self.0.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Builds the pool; connections are opened lazily on first use and count their statements.
/// Without `keep_prepared` every statement is closed after its run, as a pooler in
/// transaction mode needs.
pub fn build_pool(
    database_url: &str,
    max_size: usize,
    keep_prepared: bool,
    counter: Arc<StatementCounter>,
) -> anyhow::Result<DbPool> {
    let mut config = ManagerConfig::<AsyncPgConnection>::default();
    // A checkout only checks that the connection is open and outside a transaction; the
    // default also sends `SELECT 1`, a second round trip for every one-query request.
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(move |url| {
        let counter = Arc::clone(&counter);
        Box::pin(async move {
            let mut conn = if keep_prepared {
                AsyncPgConnection::establish(url).await?
            } else {
                let mut conn = establish_for_pooler(url).await?;
                conn.set_prepared_statement_cache_size(CacheSize::Disabled);
                conn
            };
            conn.set_instrumentation(CountStatements(counter));
            Ok(conn)
        })
    });
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(database_url, config);
    Pool::builder(manager)
        .max_size(max_size)
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .context("cannot build the database pool")
}

/// Opens a connection whose setup runs in one transaction. diesel-async sets the time zone
/// and the encoding with prepared statements as it connects, and a pooler in transaction
/// mode may hand a statement's execution to another server than its preparation unless a
/// transaction holds them together. PgBouncer carries the two settings to every server it
/// hands the connection afterwards.
async fn establish_for_pooler(url: &str) -> ConnectionResult<AsyncPgConnection> {
    let broken = |err: tokio_postgres::Error| ConnectionError::BadConnection(err.to_string());
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(broken)?;
    // Polled once, BEGIN is queued ahead of the setup's statements; the connection sends it
    // first once diesel-async drives it. Its answer is not needed.
    let _queued = client.batch_execute("BEGIN").now_or_never();
    let mut conn = AsyncPgConnection::try_from_client_and_connection(client, connection).await?;
    conn.batch_execute("COMMIT")
        .await
        .map_err(|err| ConnectionError::BadConnection(err.to_string()))?;
    Ok(conn)
}

/// Creates the database named in `database_url` when it does not exist yet.
pub async fn ensure_database(database_url: &str) -> anyhow::Result<()> {
    let not_reachable = |err: &dyn std::fmt::Display| {
        anyhow!(
            "cannot connect to PostgreSQL at {}: {err}. Start PostgreSQL or set DATABASE_URL \
             to a reachable server, e.g. DATABASE_URL=postgres://user@host:5432/guildhall",
            redact_url_password(database_url)
        )
    };
    match connect(database_url).await {
        Ok(_) => return Ok(()),
        Err(err) if !err.to_string().contains("does not exist") => return Err(not_reachable(&err)),
        Err(_) => {}
    }
    let (maintenance_url, name) = named_database(database_url)?;
    let mut admin = connect(&maintenance_url)
        .await
        .map_err(|err| not_reachable(&err))?;
    let statement = format!("CREATE DATABASE {}", quote_identifier(&name));
    match diesel::sql_query(statement).execute(&mut admin).await {
        Ok(_) => {
            tracing::info!(database = %name, "created database");
            Ok(())
        }
        // Another process created it meanwhile.
        Err(err) if err.to_string().contains("already exists") => Ok(()),
        Err(err) => Err(anyhow!("cannot create database {name}: {err}")),
    }
}

/// The URL of the same server's maintenance database (`postgres`, with the URL's options
/// such as a socket `host` kept) and the database `database_url` names, or the error
/// saying it names none: what creating or dropping that database starts from.
fn named_database(database_url: &str) -> anyhow::Result<(String, String)> {
    let (server_url, name) = split_database_name(database_url).ok_or_else(|| {
        anyhow!(
            "DATABASE_URL {} names no database",
            redact_url_password(database_url)
        )
    })?;
    let options = database_url
        .split_once('?')
        .map(|(_, options)| format!("?{options}"))
        .unwrap_or_default();
    Ok((format!("{server_url}/postgres{options}"), name))
}

/// Applies every pending migration and grants the pool's role its rights on what they
/// made; returns how many ran.
pub async fn run_migrations(database_url: &str) -> anyhow::Result<usize> {
    let conn = owner_connection(database_url).await?;
    let mut harness = AsyncMigrationHarness::new(conn);
    let applied = harness
        .run_pending_migrations(MIGRATIONS)
        .map_err(|err| anyhow!("migration failed: {err}"))?;
    for version in &applied {
        tracing::info!(%version, "applied migration");
    }
    let count = applied.len();
    let mut conn = harness.into_inner();
    roles::grant_app_role(&mut conn).await?;
    Ok(count)
}

/// Lets the pool's role log in when the pool uses the default one (DATABASE_APP_URL not
/// set); see [`roles`].
pub async fn allow_app_login(database_url: &str) -> anyhow::Result<()> {
    let mut owner = owner_connection(database_url).await?;
    roles::allow_login(&mut owner, database_url).await
}

/// A connection as the database's owner (DATABASE_URL), for what only the owner may do:
/// migrations, grants, index builds.
pub async fn owner_connection(database_url: &str) -> anyhow::Result<AsyncPgConnection> {
    connect(database_url)
        .await
        .with_context(|| format!("cannot connect to {}", redact_url_password(database_url)))
}

/// Checks that the pool can reach the database, for the readiness probe.
pub async fn ping(pool: &DbPool) -> Result<(), String> {
    let check = async {
        let mut conn = pool.get().await.map_err(|err| err.to_string())?;
        // The simple protocol: one message, which a pooler in transaction mode can carry.
        diesel_async::SimpleAsyncConnection::batch_execute(&mut *conn, "SELECT 1")
            .await
            .map_err(|err| err.to_string())?;
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(3), check)
        .await
        .unwrap_or_else(|_| Err("timed out".to_owned()))
}

async fn connect(url: &str) -> anyhow::Result<AsyncPgConnection> {
    tokio::time::timeout(CONNECT_TIMEOUT, AsyncPgConnection::establish(url))
        .await
        .map_err(|_| anyhow!("connection timed out"))?
        .map_err(|err| anyhow!("{}", err.to_string().trim()))
}

/// Splits `postgres://host/name?opts` into (`postgres://host`, `name`).
pub fn split_database_name(url: &str) -> Option<(String, String)> {
    let without_query = url.split('?').next().unwrap_or(url);
    let (scheme, rest) = without_query.split_once("://")?;
    let (host, name) = rest.rsplit_once('/')?;
    if name.is_empty() {
        return None;
    }
    Some((format!("{scheme}://{host}"), name.to_owned()))
}

/// Quotes an SQL identifier (database names cannot be bound as parameters).
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
