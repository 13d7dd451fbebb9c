//! A private PostgreSQL cluster for a machine where none answers: initialised from the
//! machine's own PostgreSQL server binaries in a folder under the working directory,
//! listening on a Unix socket only, and stopped when the server stops. As root it runs as
//! the unprivileged `postgres` account, as PostgreSQL requires.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, anyhow, bail};

use crate::config::{Config, DEFAULT_DATABASE_URL};

/// What `DATABASE_URL` says to ask for the private cluster on a machine whose shared one
/// always answers.
pub const EMBEDDED: &str = "embedded";

/// Where the cluster lives, under the working directory.
const FOLDER: &str = ".guildhall/postgres";

/// The unprivileged account the cluster runs as when the server runs as root.
const CLUSTER_ACCOUNT: &str = "postgres";

/// A Unix socket's path must fit in 107 bytes; the socket file's own name takes 16.
const SOCKET_DIR_LIMIT: usize = 90;

/// Where the default DATABASE_URL points: when nothing answers there, the private cluster
/// stands in.
const DEFAULT_ADDRESS: &str = "127.0.0.1:5432";

/// Starts the private cluster when the configuration asks for it (`DATABASE_URL=embedded`)
/// or leaves it to (the default URL, with nothing answering there), and points
/// `config.database_url` at it.
pub async fn resolve(config: &mut Config) -> anyhow::Result<Option<Cluster>> {
    let wanted = config.database_url == EMBEDDED
        || (config.database_url == DEFAULT_DATABASE_URL && !answers(DEFAULT_ADDRESS).await);
    if !wanted {
        return Ok(None);
    }
    let root = std::env::current_dir().context("cannot read the working folder")?;
    let cluster = tokio::task::spawn_blocking(move || Cluster::start(&root))
        .await
        .context("the private cluster's start was cut off")??;
    config.database_url = cluster.url.clone();
    Ok(Some(cluster))
}

async fn answers(address: &str) -> bool {
    let connect = tokio::net::TcpStream::connect(address);
    matches!(
        tokio::time::timeout(std::time::Duration::from_secs(2), connect).await,
        Ok(Ok(_))
    )
}

/// A running private cluster, stopped by [`Cluster::stop`] if this process started it.
pub struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    run_as: Option<String>,
    started_here: bool,
    /// The URL of its `guildhall` database, over the Unix socket.
    pub url: String,
}

impl Cluster {
    /// Initialises the cluster under `root` if it is new and starts it if it is not
    /// running; its URL names the `guildhall` database (created later like any other).
    pub fn start(root: &Path) -> anyhow::Result<Self> {
        Self::start_at(root, None)
    }

    /// The same cluster, also listening on 127.0.0.1:`port` (where anyone on the machine
    /// may connect as postgres): for the tests, whose URLs name a TCP server.
    pub fn start_listening(root: &Path, port: u16) -> anyhow::Result<Self> {
        Self::start_at(root, Some(port))
    }

    fn start_at(root: &Path, tcp_port: Option<u16>) -> anyhow::Result<Self> {
        let bin = server_binaries().ok_or_else(|| {
            anyhow!(
                "no PostgreSQL server binaries (initdb, pg_ctl) on this machine: install them \
                 (Debian/Ubuntu: apt-get install postgresql; Fedora: dnf install \
                 postgresql-server; macOS: brew install postgresql) or set DATABASE_URL to a \
                 running PostgreSQL"
            )
        })?;
        let folder = root.join(FOLDER);
        let data = folder.join("data");
        let sockets = socket_dir(&folder);
        let run_as = running_as_root().then(|| CLUSTER_ACCOUNT.to_owned());
        for dir in [&folder, &sockets] {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            if let Some(account) = &run_as {
                hand_over(dir, account)?;
            }
        }
        let mut cluster = Self {
            bin,
            data,
            run_as,
            started_here: false,
            // No host before the path: a `host` option beside one would be a second
            // address, tried after it.
            url: match tcp_port {
                Some(port) => format!("postgres://postgres@127.0.0.1:{port}/guildhall"),
                None => format!(
                    "postgres:///guildhall?user=postgres&host={}",
                    url::form_urlencoded::byte_serialize(sockets.to_string_lossy().as_bytes())
                        .collect::<String>()
                ),
            },
        };
        if !cluster.data.join("PG_VERSION").exists() {
            cluster.initialise()?;
        }
        if !cluster.running() {
            cluster.launch(&folder.join("postgres.log"), &sockets, tcp_port)?;
            cluster.started_here = true;
        }
        tracing::info!(data = %cluster.data.display(), "using the private PostgreSQL cluster");
        Ok(cluster)
    }

    /// Stops the cluster if this process started it (another's keeps it).
    pub fn stop(&self) {
        if !self.started_here {
            return;
        }
        let data = self.data.to_string_lossy();
        match self.run("pg_ctl", &["stop", "-D", &data, "-m", "fast", "-w"]) {
            Ok(output) if output.status.success() => {
                tracing::info!("stopped the private PostgreSQL cluster");
            }
            Ok(output) => tracing::warn!(
                error = %String::from_utf8_lossy(&output.stderr).trim(),
                "the private PostgreSQL cluster did not stop"
            ),
            Err(err) => tracing::warn!(error = %err, "the private PostgreSQL cluster did not stop"),
        }
    }

    fn initialise(&self) -> anyhow::Result<()> {
        tracing::info!(data = %self.data.display(), "initialising a private PostgreSQL cluster");
        let data = self.data.to_string_lossy();
        // Trust is safe here: the cluster listens on no TCP address, and its socket folder
        // is the cluster account's alone.
        let args = [
            "-D",
            &data,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ];
        let output = self.run("initdb", &args)?;
        if !output.status.success() {
            bail!(
                "initdb failed for {}: {}",
                self.data.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }

    fn running(&self) -> bool {
        let data = self.data.to_string_lossy();
        self.run("pg_ctl", &["status", "-D", &data])
            .is_ok_and(|output| output.status.success())
    }

    fn launch(&self, log: &Path, sockets: &Path, tcp_port: Option<u16>) -> anyhow::Result<()> {
        let socket_dir = sockets.to_string_lossy();
        if socket_dir.contains('\'') {
            bail!("the private cluster's folder {socket_dir} may not contain a quote");
        }
        let listen = match tcp_port {
            Some(port) => format!("-c listen_addresses=127.0.0.1 -c port={port}"),
            None => "-c listen_addresses=''".to_owned(),
        };
        let options =
            format!("{listen} -c unix_socket_directories='{socket_dir}' -c unix_socket_permissions=0700");
        let data = self.data.to_string_lossy();
        let log = log.to_string_lossy();
        let args = ["start", "-D", &data, "-l", &log, "-w", "-t", "60", "-o", &options];
        let output = self.run("pg_ctl", &args)?;
        if !output.status.success() {
            bail!(
                "the private PostgreSQL cluster did not start (see {log}): {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }

    /// Runs one of the cluster's programs, as the cluster account when there is one.
    fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<Output> {
        let path = self.bin.join(program);
        let mut command = match &self.run_as {
            Some(account) => {
                let mut command = Command::new("runuser");
                command.args(["-u", account, "--"]).arg(&path);
                command
            }
            None => Command::new(&path),
        };
        command
            .args(args)
            .output()
            .with_context(|| format!("cannot run {}", path.display()))
    }
}

/// The folder holding `initdb` and `pg_ctl`: `pg_config --bindir`, else the newest of the
/// per-version folders Debian's packages use, else the `PATH`.
fn server_binaries() -> Option<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    if let Some(dir) = from_pg_config.filter(|dir| has_server(dir)) {
        return Some(dir);
    }
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| has_server(dir))
        .collect();
    debian.sort();
    if let Some((_, dir)) = debian.pop() {
        return Some(dir);
    }
    std::env::var_os("PATH").and_then(|path| std::env::split_paths(&path).find(|dir| has_server(dir)))
}

/// The socket folder: inside the cluster's folder when its path is short enough, else a
/// folder of its own under the system's temporary folder.
fn socket_dir(folder: &Path) -> PathBuf {
    if folder.as_os_str().len() <= SOCKET_DIR_LIMIT {
        return folder.to_path_buf();
    }
    let digest = crc32fast::hash(folder.as_os_str().as_encoded_bytes());
    std::env::temp_dir().join(format!("guildhall-{digest:08x}"))
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}

/// Gives `dir` to `account` (with its group), private to it: PostgreSQL refuses a data
/// folder others can read, and runs as root never.
fn hand_over(dir: &Path, account: &str) -> anyhow::Result<()> {
    let id = |flag: &str| -> anyhow::Result<u32> {
        let output = Command::new("id").args([flag, account]).output()?;
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .map_err(|_| {
                anyhow!(
                    "running as root, the private PostgreSQL cluster needs an unprivileged \
                     account named {account} (useradd --system {account})"
                )
            })
    };
    let (uid, gid) = (id("-u")?, id("-g")?);
    std::os::unix::fs::chown(dir, Some(uid), Some(gid))
        .with_context(|| format!("cannot give {} to {account}", dir.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make {} private", dir.display()))?;
    Ok(())
}
