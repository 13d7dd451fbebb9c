//! Rebuilds the crate when a migration folder is added, so `embed_migrations!` sees it, and
//! installs the playground's browser files (GraphiQL and React, pinned by
//! `playground/package-lock.json`) from the npm registry into `OUT_DIR`, so the server
//! embeds and serves them itself: no CDN, and `cargo run` stays the only command.

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=playground/package.json");
    println!("cargo:rerun-if-changed=playground/package-lock.json");
    let out_dir = std::env::var_os("OUT_DIR").ok_or("cargo sets OUT_DIR")?;
    install_playground(&PathBuf::from(out_dir).join("playground"))
}

/// `npm ci` of the playground's package into `target`, skipped when the lock file it was
/// installed from is the current one.
fn install_playground(target: &Path) -> Result<(), Box<dyn Error>> {
    let lock = fs::read("playground/package-lock.json")?;
    let stamp = target.join("installed-from.json");
    if fs::read(&stamp).is_ok_and(|installed| installed == lock) {
        return Ok(());
    }
    fs::create_dir_all(target)?;
    fs::copy("playground/package.json", target.join("package.json"))?;
    fs::write(target.join("package-lock.json"), &lock)?;
    let status = Command::new("npm")
        .args([
            "ci",
            "--omit=dev",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ])
        .current_dir(target)
        .status()
        .map_err(|err| {
            format!(
                "the playground's files come from the npm registry, and npm could not be started \
                 ({err}): install Node.js and npm"
            )
        })?;
    if !status.success() {
        return Err(format!(
            "`npm ci` for the playground's files failed in {}: the npm registry must be \
             reachable (or its packages in npm's cache)",
            target.display()
        )
        .into());
    }
    fs::write(stamp, lock)?;
    Ok(())
}
