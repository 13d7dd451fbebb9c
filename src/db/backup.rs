//! `guildhall backup FILE` and `guildhall restore FILE`: the server's database through
//! PostgreSQL's own pg_dump and pg_restore (custom format), with the schema version checked
//! so that a backup is never restored under a binary that does not know its schema.

use std::path::Path;
use std::process::{Command, Output};

use anyhow::{Context, anyhow, bail};
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel_async::RunQueryDsl;

use super::{MIGRATIONS, connect, named_database, quote_identifier, run_migrations};
use crate::config::redact_url_password;

/// The table diesel records applied migrations in; a backup's schema version is its newest row.
const MIGRATIONS_TABLE: &str = "__diesel_schema_migrations";

/// What a backup wrote.
#[derive(Debug)]
pub struct BackupReport {
    /// The database's newest migration.
    pub schema_version: String,
    pub bytes: u64,
}

/// What a restore did.
#[derive(Debug)]
pub struct RestoreReport {
    /// The backup's newest migration.
    pub schema_version: String,
    /// Migrations of this binary applied after the restore (a backup from an older release).
    pub migrations_applied: usize,
}

/// Dumps the database of `database_url` into `file`, written whole or not at all (the dump
/// goes to `FILE.partial` and is renamed when pg_dump succeeds).
pub async fn backup(database_url: &str, file: &Path) -> anyhow::Result<BackupReport> {
    let schema_version = newest_migration(database_url).await?.ok_or_else(|| {
        anyhow!(
            "{} holds no Guildhall schema to back up",
            redact_url_password(database_url)
        )
    })?;
    let partial = file.with_extension("partial");
    let dumped = run_tool(
        "pg_dump",
        database_url,
        &["--format=custom", "--no-owner", "--no-privileges", "--file"],
        &[partial.as_os_str()],
    )?;
    if !dumped.status.success() {
        let _ = std::fs::remove_file(&partial);
        bail!(
            "pg_dump failed: {}",
            String::from_utf8_lossy(&dumped.stderr).trim()
        );
    }
    std::fs::rename(&partial, file).with_context(|| format!("cannot write {}", file.display()))?;
    let bytes = std::fs::metadata(file)?.len();
    Ok(BackupReport {
        schema_version,
        bytes,
    })
}

/// Restores `file` into the database of `database_url`: created if missing, refused if it
/// already holds Guildhall data unless `replace` (then dropped and created afresh). A
/// backup newer than this binary's migrations is refused before anything is touched; one
/// from an older release is migrated forward after the restore.
pub async fn restore(database_url: &str, file: &Path, replace: bool) -> anyhow::Result<RestoreReport> {
    let schema_version = backup_version(file)?;
    let known = newest_known_migration()?;
    if schema_version > known {
        bail!(
            "{} was made with schema version {schema_version}, newer than this binary's {known}: restore it with the release that made it",
            file.display()
        );
    }
    if newest_migration(database_url).await.ok().flatten().is_some() {
        let (maintenance_url, name) = named_database(database_url)?;
        let mut admin = connect(&maintenance_url)
            .await
            .with_context(|| format!("cannot connect to {}", redact_url_password(&maintenance_url)))?;
        if !replace {
            bail!(
                "database {name} already holds Guildhall data; restore into a new database (set DATABASE_URL) or pass --replace to drop it first"
            );
        }
        diesel::sql_query(format!("DROP DATABASE {} WITH (FORCE)", quote_identifier(&name)))
            .execute(&mut admin)
            .await
            .with_context(|| format!("cannot drop database {name}"))?;
    }
    super::ensure_database(database_url).await?;
    let restored = run_tool(
        "pg_restore",
        database_url,
        &[
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
        ],
        &[file.as_os_str()],
    )?;
    if !restored.status.success() {
        bail!(
            "pg_restore failed: {}",
            String::from_utf8_lossy(&restored.stderr).trim()
        );
    }
    let migrations_applied = run_migrations(database_url).await?;
    Ok(RestoreReport {
        schema_version,
        migrations_applied,
    })
}

/// The newest migration recorded in the database, None when it has no Guildhall schema.
async fn newest_migration(database_url: &str) -> anyhow::Result<Option<String>> {
    #[derive(diesel::QueryableByName)]
    struct Newest {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        version: Option<String>,
    }
    let mut conn = connect(database_url)
        .await
        .with_context(|| format!("cannot connect to {}", redact_url_password(database_url)))?;
    let newest = diesel::sql_query(format!(
        "SELECT CASE WHEN to_regclass('{MIGRATIONS_TABLE}') IS NULL THEN NULL \
         ELSE (SELECT max(version) FROM {MIGRATIONS_TABLE}) END AS version"
    ))
    .get_result::<Newest>(&mut conn)
    .await;
    newest
        .map(|row| row.version)
        .map_err(|err| anyhow!("cannot read the schema version: {err}"))
}

/// The newest migration this binary carries.
fn newest_known_migration() -> anyhow::Result<String> {
    let migrations = MigrationSource::<Pg>::migrations(&MIGRATIONS).map_err(|err| anyhow!("{err}"))?;
    migrations
        .iter()
        .map(|migration| migration.name().version().to_string())
        .max()
        .ok_or_else(|| anyhow!("this binary carries no migrations"))
}

/// The newest migration recorded in a backup file, read with pg_restore without restoring.
fn backup_version(file: &Path) -> anyhow::Result<String> {
    let listed = Command::new("pg_restore")
        .args(["--data-only", "--table", MIGRATIONS_TABLE, "--file", "-"])
        .arg(file)
        .output()
        .map_err(missing_tool("pg_restore"))?;
    if !listed.status.success() {
        bail!(
            "{} is not a backup pg_restore can read: {}",
            file.display(),
            String::from_utf8_lossy(&listed.stderr).trim()
        );
    }
    versions_in_dump(&String::from_utf8_lossy(&listed.stdout))
        .max()
        .ok_or_else(|| {
            anyhow!(
                "{} is not a Guildhall backup: it records no schema version",
                file.display()
            )
        })
}

/// The versions a plain-text dump of the migrations table lists (its COPY block's first column).
fn versions_in_dump(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines()
        .skip_while(|line| !line.starts_with("COPY "))
        .skip(1)
        .take_while(|line| *line != "\\.")
        .filter_map(|line| line.split('\t').next())
        .filter(|version| !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
}

/// Runs `tool` against the database of `database_url`. The password travels in PGPASSWORD,
/// never on the command line where other users of the machine could read it.
fn run_tool(
    tool: &'static str,
    database_url: &str,
    flags: &[&str],
    paths: &[&std::ffi::OsStr],
) -> anyhow::Result<Output> {
    let mut url = url::Url::parse(database_url)
        .with_context(|| format!("DATABASE_URL {} is not a URL", redact_url_password(database_url)))?;
    let password = url.password().map(str::to_owned);
    // Only a URL that cannot carry a password refuses one, and a postgres URL can.
    let _ = url.set_password(None);
    let mut command = Command::new(tool);
    command.args(flags).args(paths).arg("--dbname").arg(url.as_str());
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    command.output().map_err(missing_tool(tool))
}

/// The one-line error for a PostgreSQL tool that cannot be run.
fn missing_tool(tool: &'static str) -> impl FnOnce(std::io::Error) -> anyhow::Error {
    move |err| {
        anyhow!(
            "cannot run {tool} ({err}): install PostgreSQL's client programs (Debian: postgresql-client) and put them on PATH"
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_versions_of_a_dumped_migrations_table_are_read() {
        let dump = "--\n-- Data\n--\n\nCOPY public.__diesel_schema_migrations (version, run_on) FROM stdin;\n\
                    20261122000001\t2026-11-22 10:00:00\n20261207000025\t2026-12-07 10:00:00\n\\.\n\n";
        let versions: Vec<String> = super::versions_in_dump(dump).collect();
        assert_eq!(versions, ["20261122000001", "20261207000025"]);
        assert_eq!(super::versions_in_dump("nothing here").count(), 0);
    }
}
