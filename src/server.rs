//! Startup: prepare the database, build the App, start the workers, serve until a signal.

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::AppBuilder;
use crate::config::Config;
use crate::db;
use crate::events::listener;
use crate::http;
use crate::mail::worker::{self, Transport};

/// Creates the database if needed and applies pending migrations.
pub async fn prepare_database(config: &Config) -> anyhow::Result<()> {
    db::ensure_database(&config.database_url).await?;
    let applied = db::run_migrations(&config.database_url).await?;
    tracing::info!(applied, "database is migrated");
    Ok(())
}

/// Runs the server until SIGTERM or ctrl-c.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let shutdown = shutdown_signal();
    config.check()?;
    prepare_database(&config).await?;
    let transport = Transport::new(config.smtp_url.as_deref(), &config.mail_from)?;
    let app = AppBuilder::new(config).build()?;
    let listener = TcpListener::bind(app.config.listen_addr)
        .await
        .with_context(|| format!("cannot listen on {} (set LISTEN_ADDR)", app.config.listen_addr))?;
    let (stop_workers, workers_stopped) = watch::channel(false);
    let mail_worker = worker::spawn(app.clone(), transport, workers_stopped.clone());
    let event_listener = listener::spawn(app.clone(), workers_stopped);
    tracing::info!(
        "serving GraphQL on {url}/graphql (playground: {playground}, websocket: {ws})",
        url = app.config.public_url(),
        playground = app.config.playground_enabled(),
        ws = "/graphql/ws",
    );
    http::serve(app, listener, shutdown).await?;
    let _ = stop_workers.send(true);
    let _ = mail_worker.await;
    let _ = event_listener.await;
    tracing::info!("stopped");
    Ok(())
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
