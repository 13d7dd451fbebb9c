//! Stock npm clients (tests/clients) and the examples (frontend-examples) run by Node
//! against a test server; their packages, pinned by package-lock.json, are installed on
//! first use.

use std::path::{Path, PathBuf};
use std::process::Command;

use tokio::sync::OnceCell;

static CLIENTS: OnceCell<PathBuf> = OnceCell::const_new();
static WEBHOOK_RECEIVER: OnceCell<PathBuf> = OnceCell::const_new();
static DASHBOARD: OnceCell<PathBuf> = OnceCell::const_new();
static INTEGRATION: OnceCell<PathBuf> = OnceCell::const_new();
static CHROMIUM: OnceCell<()> = OnceCell::const_new();

/// The clients' folder, with `npm ci` run there when its packages are missing or older
/// than package-lock.json. A file lock keeps test processes from installing at once.
pub async fn clients() -> &'static PathBuf {
    installed(&CLIENTS, "tests/clients").await
}

/// frontend-examples/webhook-receiver, its packages installed.
pub async fn webhook_receiver() -> &'static PathBuf {
    installed(&WEBHOOK_RECEIVER, "frontend-examples/webhook-receiver").await
}

/// frontend-examples/dashboard, its packages (Vite among them) installed.
pub async fn dashboard() -> &'static PathBuf {
    installed(&DASHBOARD, "frontend-examples/dashboard").await
}

/// frontend-examples/integration, its packages installed.
pub async fn integration() -> &'static PathBuf {
    installed(&INTEGRATION, "frontend-examples/integration").await
}

async fn installed(cell: &'static OnceCell<PathBuf>, folder: &'static str) -> &'static PathBuf {
    cell.get_or_init(|| async move {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
        let at = dir.clone();
        tokio::task::spawn_blocking(move || install(&at))
            .await
            .expect("npm ci");
        dir
    })
    .await
}

fn install(dir: &Path) {
    let lock = std::fs::File::create(dir.join(".install.lock")).expect("create the install lock");
    lock.lock().expect("take the install lock");
    let installed = std::fs::metadata(dir.join("node_modules/.package-lock.json"));
    let wanted = std::fs::metadata(dir.join("package-lock.json"));
    let stale = match (installed, wanted) {
        (Ok(installed), Ok(wanted)) => installed.modified().ok() < wanted.modified().ok(),
        _ => true,
    };
    if stale {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(dir)
            .status()
            .expect("npm runs (Node and npm are on the machine)");
        assert!(status.success(), "npm ci in {} failed", dir.display());
    }
}

/// Makes sure Debian's `chromium`, which the browser scripts drive, is installed: runs
/// scripts/install-chromium (as .ci/run does) when it is missing.
pub async fn chromium() {
    CHROMIUM
        .get_or_init(|| super::install_with("install-chromium"))
        .await;
}

/// Runs `script` of tests/clients with `args`; its standard output, parsed as JSON.
pub async fn run(script: &str, args: &[&str]) -> serde_json::Value {
    let dir = clients().await;
    let output = run_in(dir, script, args, &[]).await;
    assert!(output.success, "the client failed: {}", output.stderr);
    serde_json::from_str(&output.stdout)
        .unwrap_or_else(|err| panic!("the client printed no JSON ({err}): {}", output.stdout))
}

/// How long one script may run before the test gives up on it (and kills it).
const SCRIPT_LIMIT: std::time::Duration = std::time::Duration::from_secs(180);

/// Runs `node script args` in `dir` with `env` added (killed after [`SCRIPT_LIMIT`]); what
/// it printed and whether it succeeded.
pub async fn run_in(dir: &Path, script: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new("node");
    command.arg(script).args(args).current_dir(dir).kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = tokio::time::timeout(SCRIPT_LIMIT, command.output())
        .await
        .unwrap_or_else(|_| panic!("{script} ran for more than {SCRIPT_LIMIT:?}"))
        .expect("node runs");
    Output {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// What a script printed, and whether it exited with 0.
#[derive(Debug)]
pub struct Output {
    /// It exited with 0.
    pub success: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}
