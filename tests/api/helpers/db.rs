//! One fresh database per test, cloned from a template migrated once per migration set.

use std::path::Path;
use std::sync::OnceLock;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use guildhall::db::{embedded, quote_identifier, run_migrations, split_database_name};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// The machine's PostgreSQL, where the tests look first.
const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432";

/// The port of the tests' private cluster, when they need one.
const PRIVATE_CLUSTER_PORT: u16 = 55432;

static SERVER: OnceLock<String> = OnceLock::new();
/// Held for good (statics are never dropped), so the cluster outlives the test run.
static PRIVATE_CLUSTER: OnceLock<embedded::Cluster> = OnceLock::new();

/// The server URL (no database) tests connect to: TEST_DATABASE_URL's, else the machine's
/// PostgreSQL, else (nothing answering there, or `TEST_DATABASE_URL=embedded`) the same
/// private cluster the server falls back to, under target/ and left running for the next
/// run.
pub fn server_url() -> String {
    SERVER
        .get_or_init(|| {
            let asked = std::env::var("TEST_DATABASE_URL").ok();
            let private = match asked.as_deref() {
                Some(embedded::EMBEDDED) => true,
                Some(_) => false,
                None => !answers("127.0.0.1:5432"),
            };
            if private {
                let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-postgres");
                let cluster = PRIVATE_CLUSTER.get_or_init(|| {
                    embedded::Cluster::start_listening(&root, PRIVATE_CLUSTER_PORT)
                        .unwrap_or_else(|err| panic!("no PostgreSQL for the tests: {err:#}"))
                });
                return split_database_name(&cluster.url)
                    .map(|(server, _)| server)
                    .expect("the private cluster's URL names a database");
            }
            match asked {
                Some(url) => split_database_name(&url)
                    .map(|(server, _)| server)
                    .expect("TEST_DATABASE_URL names a database"),
                None => DEFAULT_SERVER.to_owned(),
            }
        })
        .clone()
}

fn answers(address: &str) -> bool {
    address.parse().is_ok_and(|address| {
        std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_secs(2)).is_ok()
    })
}

async fn admin() -> AsyncPgConnection {
    let url = format!("{}/postgres", server_url());
    AsyncPgConnection::establish(&url)
        .await
        .unwrap_or_else(|err| panic!("cannot reach PostgreSQL at {url}: {err}"))
}

async fn execute(conn: &mut AsyncPgConnection, sql: &str) -> diesel::QueryResult<usize> {
    diesel::sql_query(sql).execute(conn).await
}

/// A name that changes whenever a migration changes, so a stale template is never reused.
fn template_name() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("migrations dir")
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    let mut hasher = Sha256::new();
    for entry in entries {
        hasher.update(entry.file_name().to_string_lossy().as_bytes());
        for file in ["up.sql", "down.sql"] {
            if let Ok(sql) = std::fs::read(entry.path().join(file)) {
                hasher.update(&sql);
            }
        }
    }
    let digest = hasher.finalize();
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("guildhall_template_{hex}")
}

async fn ensure_template() -> String {
    TEMPLATE
        .get_or_init(|| async {
            let name = template_name();
            let mut conn = admin().await;
            // Several test processes may start at once: one builds, the others wait.
            execute(&mut conn, "SELECT pg_advisory_lock(727272)")
                .await
                .expect("lock");
            let exists: i64 = diesel::sql_query(format!(
                "SELECT count(*) AS count FROM pg_database WHERE datname = '{name}'"
            ))
            .get_result::<Count>(&mut conn)
            .await
            .expect("pg_database")
            .count;
            if exists == 0 {
                let building = format!("{name}_building");
                let _ = execute(
                    &mut conn,
                    &format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        quote_identifier(&building)
                    ),
                )
                .await;
                execute(
                    &mut conn,
                    &format!("CREATE DATABASE {}", quote_identifier(&building)),
                )
                .await
                .expect("create template");
                run_migrations(&format!("{}/{building}", server_url()))
                    .await
                    .expect("migrate template");
                guildhall::db::allow_app_login(&format!("{}/{building}", server_url()))
                    .await
                    .expect("let the pool's role log in");
                execute(
                    &mut conn,
                    &format!(
                        "ALTER DATABASE {} RENAME TO {}",
                        quote_identifier(&building),
                        quote_identifier(&name)
                    ),
                )
                .await
                .expect("publish template");
            }
            execute(&mut conn, "SELECT pg_advisory_unlock(727272)")
                .await
                .expect("unlock");
            name
        })
        .await
        .clone()
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    count: i64,
}

/// A database that exists for one test and is dropped when this value is.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// Clones the migrated template into a new database.
    pub async fn create() -> Self {
        let template = ensure_template().await;
        let name = format!("guildhall_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = admin().await;
        let sql = format!(
            "CREATE DATABASE {} TEMPLATE {}",
            quote_identifier(&name),
            quote_identifier(&template)
        );
        let mut attempts = 0;
        while let Err(err) = execute(&mut conn, &sql).await {
            attempts += 1;
            assert!(attempts < 20, "cannot create test database: {err}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let url = format!("{}/{name}", server_url());
        Self { name, url }
    }

    /// A direct connection for assertions on rows.
    pub async fn connect(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url)
            .await
            .expect("connect to test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime; do the async cleanup on a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            runtime.block_on(async move {
                let mut conn = admin().await;
                let _ = execute(
                    &mut conn,
                    &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_identifier(&name)),
                )
                .await;
            });
        })
        .join();
    }
}
