//! Startup: prepare the database, build the App, start the workers, serve until a signal.

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use std::path::Path;

use crate::app::{App, AppBuilder};
use crate::audit::service as audit;
use crate::config::Config;
use crate::db;
use crate::db::scope::Scope;
use crate::db::tx;
use crate::error::FieldError;
use crate::events::listener;
use crate::factors;
use crate::graphql::{self, limits::QueryLimits};
use crate::http;
use crate::mail::worker::{self, Transport};
use crate::persisted;
use crate::rows::recalculate;
use crate::webhooks::worker as webhook_worker;

/// Creates the database if needed and applies pending migrations.
pub async fn prepare_database(config: &Config) -> anyhow::Result<()> {
    db::ensure_database(&config.database_url).await?;
    let applied = db::run_migrations(&config.database_url).await?;
    tracing::info!(applied, "database is migrated");
    if config.database_app_url.is_none() {
        db::allow_app_login(&config.database_url).await?;
    }
    Ok(())
}

/// Refuses to serve with a pool that row-level security would not hold.
async fn check_pool_role(app: &App) -> anyhow::Result<()> {
    let mut conn = app.pool.get().await.context("cannot reach the database")?;
    tx::within(&mut conn, Scope::Nobody, async |conn| {
        Ok(db::roles::check_held(conn).await)
    })
    .await
    .map_err(|err| anyhow::anyhow!("cannot check the pool's role: {}", err.message))?
}

/// How long the workers may take, after the requests have drained, to finish their item.
const WORKER_STOP_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs the server until SIGTERM or ctrl-c.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let shutdown = shutdown_signal();
    config.check()?;
    prepare_database(&config).await?;
    let transport = Transport::new(config.smtp_url.as_deref(), &config.mail_from)?;
    if !config.database_keep_prepared && config.database_direct_url.is_none() {
        tracing::warn!(
            "DATABASE_KEEP_PREPARED=false without DATABASE_DIRECT_URL: the event listener LISTENs through \
             the pool's URL, which a pooler in transaction mode cannot hold"
        );
    }
    let app = AppBuilder::new(config).build()?;
    check_pool_role(&app).await?;
    register_startup_documents(&app).await?;
    import_default_factors(&app).await?;
    let listener = TcpListener::bind(app.config.listen_addr)
        .await
        .with_context(|| format!("cannot listen on {} (set LISTEN_ADDR)", app.config.listen_addr))?;
    let (stop_workers, workers_stopped) = watch::channel(false);
    let stop_workers = std::sync::Arc::new(stop_workers);
    let mail_worker = worker::spawn(app.clone(), transport, workers_stopped.clone());
    let retention = audit::spawn_retention(app.clone(), workers_stopped.clone());
    let webhook_senders = webhook_worker::spawn(app.clone(), workers_stopped.clone());
    let recalculator = recalculate::spawn(app.clone(), workers_stopped.clone());
    let event_listener = listener::spawn(app.clone(), workers_stopped);
    tracing::info!(
        "serving GraphQL on {url}/graphql (playground: {playground}, websocket: {ws})",
        url = app.config.public_url(),
        playground = app.config.playground_enabled(),
        ws = "/graphql/ws",
    );
    let metrics = serve_metrics(&app).await?;
    // The workers are told at the signal, so they finish their item while requests drain.
    let told = std::sync::Arc::clone(&stop_workers);
    let signal = async move {
        shutdown.await;
        let _ = told.send(true);
    };
    let served = http::serve(app, listener, signal).await;
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    let _ = stop_workers.send(true);
    let workers = async {
        let _ = mail_worker.await;
        let _ = event_listener.await;
        let _ = retention.await;
        let _ = webhook_senders.await;
        let _ = recalculator.await;
    };
    if tokio::time::timeout(WORKER_STOP_LIMIT, workers).await.is_err() {
        tracing::warn!("workers still busy after the stop limit are cut off; their items stay queued");
    }
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// Starts serving `/metrics` on `METRICS_ADDR`. An address that was asked for and cannot
/// be bound stops the start; the default one, taken by another process, is a warning.
async fn serve_metrics(app: &App) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let Some((address, asked)) = app.config.metrics_address()? else {
        return Ok(None);
    };
    // Installed before the first request, so every gauge's rises and falls are both seen.
    crate::telemetry::metrics_registry();
    let listener = match TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(err) if !asked => {
            tracing::warn!(%address, error = %err, "metrics are not served: the default address is taken (set METRICS_ADDR)");
            return Ok(None);
        }
        Err(err) => {
            return Err(err).with_context(|| format!("cannot serve metrics on {address} (METRICS_ADDR)"));
        }
    };
    tracing::info!(%address, "serving metrics on /metrics");
    let app = app.clone();
    Ok(Some(tokio::spawn(async move {
        if let Err(err) = http::serve_metrics(app, listener, std::future::pending()).await {
            tracing::error!(error = %err, "the metrics server stopped");
        }
    })))
}

/// Registers the documents every company may run by hash: the built-in pages' own under
/// `PERSISTED_ONLY` (so the mail flows keep working), and `PERSISTED_QUERIES_MANIFEST`'s.
pub async fn register_startup_documents(app: &App) -> anyhow::Result<()> {
    if app.config.persisted_only {
        let pages = http::page_operations()
            .into_iter()
            .enumerate()
            .map(|(index, text)| (format!("page operation {index}"), text))
            .collect();
        register_global(app, pages, "the built-in pages").await?;
    }
    if let Some(path) = &app.config.persisted_queries_manifest {
        let added = register_manifest(app, path).await?;
        tracing::info!(added, manifest = %path.display(), "global persisted documents registered");
    }
    Ok(())
}

/// Registers the documents of an Apollo persisted-query manifest for every company
/// (`PERSISTED_QUERIES_MANIFEST`); answers how many were new. A manifest that cannot be read
/// or holds a document that fails validation stops the start, naming every failure.
pub async fn register_manifest(app: &App, path: &Path) -> anyhow::Result<usize> {
    let origin = format!("PERSISTED_QUERIES_MANIFEST {}", path.display());
    let text = tokio::fs::read_to_string(path)
        .await
        .with_context(|| format!("cannot read {origin}"))?;
    let manifest: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{origin} is not JSON"))?;
    let texts = persisted::manifest::documents(&manifest).map_err(|err| described(&origin, err.fields))?;
    register_global(app, texts, &origin).await
}

/// Imports `DEFAULT_FACTORS_FILE` (with `DEFAULT_FACTORS_MAPPING`) into the shipped default
/// factors; a file with any bad line stops the start, naming the lines.
pub async fn import_default_factors(app: &App) -> anyhow::Result<()> {
    let Some(path) = &app.config.default_factors_file else {
        return Ok(());
    };
    let origin = format!("DEFAULT_FACTORS_FILE {}", path.display());
    let outcome = factors::import::import_defaults(app, path, app.config.default_factors_mapping.as_deref())
        .await
        .map_err(|err| anyhow::anyhow!("{origin}: {}", err.message))?;
    if !outcome.errors.is_empty() {
        let lines: Vec<String> = outcome
            .errors
            .iter()
            .take(20)
            .map(|error| match error.field.as_deref() {
                Some("mapping") => format!("mapping line {}: {}", error.line, error.message),
                Some(field) => format!("line {} ({field}): {}", error.line, error.message),
                None => format!("line {}: {}", error.line, error.message),
            })
            .collect();
        anyhow::bail!(
            "{origin}: {} line(s) refused: {}",
            outcome.rejected,
            lines.join("; ")
        );
    }
    tracing::info!(
        added = outcome.added,
        unchanged = outcome.unchanged,
        rows_to_recalculate = outcome.rows_to_recalculate,
        file = %path.display(),
        "default emission factors imported"
    );
    Ok(())
}

/// Validates and registers `(place, text)` documents for every company; `origin` names
/// them in errors.
async fn register_global(app: &App, texts: Vec<(String, String)>, origin: &str) -> anyhow::Result<usize> {
    let validator = graphql::document_validator(app, QueryLimits::of(&app.config));
    let checked = validator
        .check_all(texts)
        .await
        .map_err(|failures| described(origin, failures))?;
    persisted::service::register_global(app, checked)
        .await
        .map_err(|err| anyhow::anyhow!("cannot register {origin}: {}", err.message))
}

/// One error naming every failure of `origin`'s documents by its place.
fn described(origin: &str, failures: Vec<FieldError>) -> anyhow::Error {
    let failures: Vec<String> = failures
        .into_iter()
        .map(|failure| format!("{}: {}", failure.path, failure.message))
        .collect();
    anyhow::anyhow!("{origin}: {}", failures.join("; "))
}

/// Registers the ctrl-c and SIGTERM handlers now, so a signal that arrives during startup
/// is not fatal, and returns a future that resolves on the first of them.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let ctrl_c = tokio::signal::ctrl_c();
    async move {
        #[cfg(unix)]
        let terminated = async {
            match terminate.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminated = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {}
            () = terminated => {}
        }
    }
}
