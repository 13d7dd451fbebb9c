//! The `guildhall` command: `serve` (default), `migrate`, `print-schema`, `backup`, `restore`.
// The merged root types nest deeply; an optimised build needs more room to lay them out.
#![recursion_limit = "256"]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use guildhall::config::Config;
use guildhall::{db, graphql, server, telemetry};

/// mimalloc: GraphQL answers build and drop many small values; glibc's allocator spent a
/// third of the nested-read benchmark's time on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "guildhall", version, about = "Multi-tenant GraphQL platform server")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Create and migrate the database, then serve HTTP and websockets (the default).
    Serve,
    /// Create the database if needed and apply pending migrations, then exit.
    Migrate,
    /// Write the GraphQL schema (SDL) to stdout.
    PrintSchema,
    /// Write a backup of the database (pg_dump's custom format) to FILE.
    Backup { file: PathBuf },
    /// Restore a backup from FILE into the database (created if missing), then migrate it.
    Restore {
        file: PathBuf,
        /// Drop the database first if it already holds Guildhall data.
        #[arg(long)]
        replace: bool,
    },
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    // Only a DATABASE_URL left unset may fall back to the private cluster.
    let database_url_set = matches.value_source("database_url") != Some(ValueSource::DefaultValue);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::PrintSchema = command {
        let mut stdout = std::io::stdout().lock();
        return match stdout.write_all(graphql::sdl().as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    }
    let _telemetry = telemetry::init(cli.config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mut config = cli.config;
    let result = runtime.block_on(async move {
        let fallback = !database_url_set && matches!(command, Command::Serve | Command::Migrate);
        let cluster = db::embedded::resolve(&mut config, fallback).await?;
        let result = run(command, config).await;
        if let Some(mut cluster) = cluster {
            tokio::task::spawn_blocking(move || cluster.stop()).await.ok();
        }
        result
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `command` against the database `config` names.
async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Migrate => server::prepare_database(&config).await,
        Command::Backup { file } => {
            let report = db::backup::backup(&config.database_url, &file).await?;
            tracing::info!(file = %file.display(), bytes = report.bytes, schema_version = %report.schema_version, "backup written");
            Ok(())
        }
        Command::Restore { file, replace } => {
            let report = db::backup::restore(&config.database_url, &file, replace).await?;
            tracing::info!(
                file = %file.display(),
                schema_version = %report.schema_version,
                migrations_applied = report.migrations_applied,
                "backup restored"
            );
            Ok(())
        }
        Command::Serve | Command::PrintSchema => server::run(config).await,
    }
}
