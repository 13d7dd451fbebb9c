//! A private PostgreSQL cluster for a machine where none answers: initialised from the
//! machine's own PostgreSQL server binaries in a folder under the working directory,
//! listening on a Unix socket only, and stopped when the server stops. As root it runs as
//! the unprivileged `postgres` account, as PostgreSQL requires.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, anyhow, bail};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

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

/// The tests' cluster's password file, in the cluster's folder.
const PASSWORD_FILE: &str = "password";

/// Starts the private cluster when the configuration asks for it (`DATABASE_URL=embedded`)
/// or, with `fallback` (DATABASE_URL not set, serving or migrating), when nothing answers
/// at the default URL's address; points `config.database_url` at it.
pub async fn resolve(config: &mut Config, fallback: bool) -> anyhow::Result<Option<Cluster>> {
    let asked = config.database_url == EMBEDDED;
    let stand_in = !asked && fallback && !answers(&default_address()).await;
    if !asked && !stand_in {
        return Ok(None);
    }
    if stand_in {
        tracing::warn!(
            address = %default_address(),
            "nothing answers at DATABASE_URL's default address: using a private PostgreSQL \
             cluster in {FOLDER} (set DATABASE_URL to use another server)"
        );
    }
    let root = std::env::current_dir().context("cannot read the working folder")?;
    let cluster = tokio::task::spawn_blocking(move || Cluster::start(&root))
        .await
        .context("the private cluster's start was cut off")??;
    config.database_url = cluster.url.clone();
    Ok(Some(cluster))
}

/// `host:port` of [`DEFAULT_DATABASE_URL`].
fn default_address() -> String {
    url::Url::parse(DEFAULT_DATABASE_URL)
        .ok()
        .and_then(|url| Some(format!("{}:{}", url.host_str()?, url.port().unwrap_or(5432))))
        .unwrap_or_else(|| "127.0.0.1:5432".to_owned())
}

async fn answers(address: &str) -> bool {
    let connect = tokio::net::TcpStream::connect(address);
    matches!(
        tokio::time::timeout(std::time::Duration::from_secs(2), connect).await,
        Ok(Ok(_))
    )
}

/// A running private cluster, stopped when dropped (or by [`Cluster::stop`]) if this
/// process started it.
pub struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    run_as: Option<String>,
    started_here: bool,
    /// The URL of its `guildhall` database: over the Unix socket, or for the tests over
    /// TCP with the cluster's password.
    pub url: String,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Cluster {
    /// Initialises the cluster under `root` if it is new and starts it if it is not
    /// running; its URL names the `guildhall` database (created later like any other).
    pub fn start(root: &Path) -> anyhow::Result<Self> {
        Self::start_at(root, None)
    }

    /// The same cluster, also listening on 127.0.0.1:`port` with a password (random, kept
    /// in the cluster's folder for its account alone): for the tests, whose URLs name a
    /// TCP server. Keep it in a static to leave it running for the next run.
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
        check_path(&folder)?;
        let run_as = running_as_root().then(|| CLUSTER_ACCOUNT.to_owned());
        std::fs::create_dir_all(&folder).with_context(|| format!("cannot create {}", folder.display()))?;
        match &run_as {
            Some(account) => hand_over(&folder, account)?,
            None => restrict(&folder, 0o700)?,
        }
        let url = match tcp_port {
            Some(port) => {
                let password = password(&folder, run_as.as_deref())?;
                format!("postgres://postgres:{password}@127.0.0.1:{port}/guildhall")
            }
            None => format!(
                "postgres:///guildhall?user=postgres&host={}",
                utf8_percent_encode(&folder.to_string_lossy(), NON_ALPHANUMERIC)
            ),
        };
        let mut cluster = Self {
            bin,
            data: folder.join("data"),
            run_as,
            started_here: false,
            url,
        };
        if !cluster.data.join("PG_VERSION").exists() {
            cluster.initialise(tcp_port.map(|_| folder.join(PASSWORD_FILE)))?;
        }
        if !cluster.running() {
            cluster.launch(&folder, tcp_port)?;
            cluster.started_here = true;
        }
        tracing::info!(data = %cluster.data.display(), "using the private PostgreSQL cluster");
        Ok(cluster)
    }

    /// Stops the cluster if this process started it (a cluster found running is left to
    /// whoever started it).
    pub fn stop(&mut self) {
        if !std::mem::take(&mut self.started_here) {
            return;
        }
        let data = self.data.to_string_lossy().into_owned();
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

    /// `initdb`: trust on the Unix socket, whose folder only the cluster's account (and
    /// root) may enter; over TCP, when the cluster listens there, the password in
    /// `password_file`.
    fn initialise(&self, password_file: Option<PathBuf>) -> anyhow::Result<()> {
        tracing::info!(data = %self.data.display(), "initialising a private PostgreSQL cluster");
        let mut args = vec![
            "-D".to_owned(),
            self.data.to_string_lossy().into_owned(),
            "-U".to_owned(),
            "postgres".to_owned(),
            "--auth-local=trust".to_owned(),
            "--auth-host=scram-sha-256".to_owned(),
            "-E".to_owned(),
            "UTF8".to_owned(),
            "--locale=C".to_owned(),
            "--no-sync".to_owned(),
        ];
        if let Some(file) = password_file {
            args.push(format!("--pwfile={}", file.display()));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
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

    /// `pg_ctl start`, its socket in `folder` (checked by [`check_path`], so it is safe in
    /// the shell command line pg_ctl builds), on TCP only with `tcp_port`.
    fn launch(&self, folder: &Path, tcp_port: Option<u16>) -> anyhow::Result<()> {
        let listen = match tcp_port {
            Some(port) => format!("-c listen_addresses=127.0.0.1 -c port={port}"),
            None => "-c listen_addresses=''".to_owned(),
        };
        let options = format!(
            "{listen} -c unix_socket_directories='{}' -c unix_socket_permissions=0700",
            folder.display()
        );
        let data = self.data.to_string_lossy();
        let log = folder.join("postgres.log");
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

/// Refuses a folder the cluster cannot use: too long for a Unix socket's path, or holding
/// a character that the shell command line `pg_ctl` builds, or PostgreSQL's settings,
/// would read as more than a path.
fn check_path(folder: &Path) -> anyhow::Result<()> {
    let path = folder.to_string_lossy();
    if path.len() > SOCKET_DIR_LIMIT {
        bail!(
            "the private PostgreSQL cluster's folder {path} is too long for its Unix socket \
             (at most {SOCKET_DIR_LIMIT} bytes): start from a shorter working folder, or set \
             DATABASE_URL"
        );
    }
    if let Some(bad) = path.chars().find(|c| "\"'`$\\,;\n\r".contains(*c)) {
        bail!("the private PostgreSQL cluster's folder {path} may not contain {bad:?}");
    }
    Ok(())
}

/// The tests' cluster's password: read from its file, or made (32 random characters) and
/// written there for the cluster's account alone.
fn password(folder: &Path, run_as: Option<&str>) -> anyhow::Result<String> {
    use rand::distr::{Alphanumeric, SampleString};
    let file = folder.join(PASSWORD_FILE);
    if let Ok(known) = std::fs::read_to_string(&file) {
        return Ok(known.trim().to_owned());
    }
    let password = Alphanumeric.sample_string(&mut rand::rng(), 32);
    std::fs::write(&file, &password).with_context(|| format!("cannot write {}", file.display()))?;
    match run_as {
        Some(account) => hand_over(&file, account)?,
        None => restrict(&file, 0o600)?,
    }
    Ok(password)
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}

/// Gives `path` (a folder or a file) to `account` (with its group), private to it:
/// PostgreSQL refuses a data folder others can read, and never runs as root.
fn hand_over(path: &Path, account: &str) -> anyhow::Result<()> {
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
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .with_context(|| format!("cannot give {} to {account}", path.display()))?;
    restrict(path, if path.is_dir() { 0o700 } else { 0o600 })
}

/// Sets `path`'s permission bits to `mode`.
fn restrict(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot make {} private", path.display()))
}
