//! Debian's PgBouncer in front of the tests' PostgreSQL (session mode), for a server
//! instance that reaches its database through it as production deployments do.

use std::process::{Child, Command};

use tokio::sync::OnceCell;

use super::db::server_url;

static INSTALLED: OnceCell<()> = OnceCell::const_new();

/// A running pgbouncer, stopped when dropped.
pub struct PgBouncer {
    process: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl PgBouncer {
    /// Starts pgbouncer in session mode on a free port of 127.0.0.1, in front of the
    /// server the tests use; installs it first (scripts/install-pgbouncer) when missing.
    pub async fn start() -> Self {
        INSTALLED
            .get_or_init(|| super::install_with("install-pgbouncer"))
            .await;
        let server = url::Url::parse(&server_url()).expect("the tests' server URL");
        let dir = tempfile::tempdir().unwrap();
        // pgbouncer refuses to run as root and then runs as `postgres`: it must read these.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let password = server
            .password()
            .map(|p| format!(" password={p}"))
            .unwrap_or_default();
        let ini = format!(
            "[databases]\n\
             * = host={host} port={db_port} user={user}{password}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = any\n\
             pool_mode = session\n\
             max_client_conn = 200\n\
             default_pool_size = 40\n\
             ignore_startup_parameters = extra_float_digits,options\n",
            host = server.host_str().unwrap_or("127.0.0.1"),
            db_port = server.port().unwrap_or(5432),
            user = server.username(),
        );
        let config = dir.path().join("pgbouncer.ini");
        std::fs::write(&config, ini).unwrap();
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut command = Command::new("pgbouncer");
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0");
        if root {
            command.args(["-u", "postgres"]);
        }
        let process = command
            .arg(&config)
            .stderr(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("pgbouncer runs");
        let bouncer = Self {
            process,
            port,
            _dir: dir,
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return bouncer;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("pgbouncer did not start");
    }

    /// The URL of `database` through this pgbouncer.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
