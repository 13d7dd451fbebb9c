//! Debian's PgBouncer in front of the tests' PostgreSQL, in session or transaction mode,
//! for a server instance whose pool reaches its database through it as production
//! deployments do (the owner, which migrates, connects directly).

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
    /// Starts pgbouncer in `mode` (`session` or `transaction`) on a free port of
    /// 127.0.0.1, in front of the server the tests use, with `server_connections` per
    /// database and user; installs it first (scripts/install-pgbouncer) when missing.
    pub async fn start(mode: &str, server_connections: u32) -> Self {
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
        // Each client's user logs in to PostgreSQL as itself, with the password listed here.
        let app =
            url::Url::parse(&guildhall::db::roles::derived_url(&format!("{}/any", server_url())).unwrap())
                .expect("the pool's URL");
        let users = format!(
            "\"{}\" \"{}\"\n\"{}\" \"{}\"\n",
            server.username(),
            server.password().unwrap_or_default(),
            app.username(),
            app.password().unwrap_or_default(),
        );
        let auth_file = dir.path().join("users.txt");
        std::fs::write(&auth_file, users).unwrap();
        std::fs::set_permissions(&auth_file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let ini = format!(
            "[databases]\n\
             * = host={host} port={db_port}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = trust\n\
             auth_file = {auth_file}\n\
             pool_mode = {mode}\n\
             max_client_conn = 200\n\
             default_pool_size = {server_connections}\n\
             ignore_startup_parameters = extra_float_digits,options\n",
            host = server.host_str().unwrap_or("127.0.0.1"),
            db_port = server.port().unwrap_or(5432),
            auth_file = auth_file.display(),
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

    /// `url` (a direct URL of the tests' server) through this pgbouncer.
    pub fn through(&self, url: &str) -> String {
        let mut url = url::Url::parse(url).expect("a database URL");
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(self.port)).unwrap();
        url.to_string()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
