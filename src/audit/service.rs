//! Audit rules: who may read a company's log (audit:view), a person's own security events,
//! how sign-in events are recorded, and the retention purge.

use chrono::{DateTime, Duration, Utc};
use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::model::{AuditRow, NewAuditRow};
use super::store::{self, AuditFilter};
use crate::app::App;
use crate::auth::caller::{Caller, ClientInfo};
use crate::companies::access;
use crate::db::scope::{Crossing, Scope};
use crate::db::tx::{self, Touches, Work};
use crate::error::AppResult;
use crate::pagination::{Cursor, Page, PageRequest};
use crate::rbac::catalog::{Action, Resource};

/// Entries the retention purge removes per transaction.
const PURGE_BATCH: i64 = 1_000;

/// A person's sign-in event, as the account and session flows describe it.
pub struct SecurityEvent<'a> {
    /// The account concerned (None: an address no account has).
    pub user_id: Option<Uuid>,
    /// e.g. `session.signed_in`, `session.sign_in_failed`, `password.changed`.
    pub action: &'a str,
    pub target: (&'a str, Option<Uuid>),
    /// What changed or what was tried; never a password, token or secret.
    pub details: Option<serde_json::Value>,
    pub client: &'a ClientInfo,
    pub request_id: Option<&'a str>,
}

/// Records a sign-in event in the caller's transaction.
pub async fn record_security(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    event: SecurityEvent<'_>,
) -> AppResult<()> {
    store::insert(
        conn,
        &NewAuditRow {
            id: Uuid::now_v7(),
            company_id: None,
            actor_id: event.user_id,
            api_key_id: None,
            action: event.action,
            target_type: event.target.0,
            target_id: event.target.1,
            changes: event.details,
            ip: event.client.ip.as_deref(),
            user_agent: event.client.user_agent.as_deref(),
            request_id: event.request_id,
            created_at: now,
        },
    )
    .await?;
    Ok(())
}

/// An act in a company that changes nothing there but matters to whoever watches its
/// security: taking data out (an export link).
pub struct CompanyAct<'a> {
    pub company_id: Uuid,
    /// e.g. `row.exported`, `audit.exported`.
    pub action: &'a str,
    pub target: (&'a str, Uuid),
    /// What was taken (filters, format); never a secret.
    pub details: serde_json::Value,
}

/// Records `act` by the caller (a person or a key), with their address, device and
/// request id, in a transaction of its own.
pub async fn record_company_act(app: &App, caller: &Caller, act: CompanyAct<'_>) -> AppResult<()> {
    let actor = caller.acting()?;
    tx::read(app, actor.scope(), async |conn| {
        store::insert(
            conn,
            &NewAuditRow {
                id: Uuid::now_v7(),
                company_id: Some(act.company_id),
                actor_id: actor.user_id(),
                api_key_id: actor.api_key_id(),
                action: act.action,
                target_type: act.target.0,
                target_id: Some(act.target.1),
                changes: Some(act.details),
                ip: caller.client.ip.as_deref(),
                user_agent: caller.client.user_agent.as_deref(),
                request_id: Some(&caller.request_id),
                created_at: app.clock.now(),
            },
        )
        .await?;
        Ok(())
    })
    .await
}

/// Records a sign-in event in a transaction of its own (a failure, whose flow commits
/// nothing else, is still recorded).
pub async fn record_security_alone(app: &App, event: SecurityEvent<'_>) -> AppResult<()> {
    tx::transaction(app, Scope::Nobody, Touches::ROWS, |Work { conn, now, .. }| {
        Box::pin(async move { record_security(conn, now, event).await })
    })
    .await
}

/// A page of the company's log, newest first (audit:view).
pub async fn company_log(
    app: &App,
    caller: &Caller,
    company_id: Uuid,
    filter: AuditFilter,
    page: PageRequest,
) -> AppResult<Page<AuditRow>> {
    let actor = caller.acting()?;
    tx::read(app, actor.scope(), async |conn| {
        access::member(conn, company_id, actor)
            .await?
            .require(Resource::Audit, Action::View)?;
        let rows = store::company_page(conn, company_id, &filter, page.after, page.limit()).await?;
        let total = store::company_count(conn, company_id, &filter).await?;
        Ok(Page::from_rows(rows, page, total))
    })
    .await
}

/// A page of the signed-in person's own security events, newest first.
pub async fn security_events(app: &App, caller: &Caller, page: PageRequest) -> AppResult<Page<AuditRow>> {
    let user_id = caller.signed_in()?.user_id;
    tx::read(app, Scope::Person(user_id), async |conn| {
        let rows = store::security_page(conn, user_id, page.after, page.limit()).await?;
        let total = store::security_count(conn, user_id).await?;
        Ok(Page::from_rows(rows, page, total))
    })
    .await
}

/// The position of an entry in a log.
pub fn cursor_of(row: &AuditRow) -> Cursor {
    Cursor {
        at: row.created_at,
        id: row.id,
    }
}

/// Runs the retention purge at startup and then once a day, until `stopped` turns true.
pub fn spawn_retention(
    app: App,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match purge(&app).await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "audit entries past retention removed"),
                Err(err) => tracing::warn!(error = ?err.source, "audit retention purge failed"),
            }
            tokio::select! {
                () = tokio::time::sleep(std::time::Duration::from_secs(24 * 3600)) => {}
                _ = stopped.changed() => return,
            }
        }
    })
}

/// Removes entries older than `AUDIT_RETENTION_DAYS`, a batch per transaction so writers
/// never wait long; answers how many went.
pub async fn purge(app: &App) -> AppResult<usize> {
    let days = i64::from(app.config.audit_retention_days);
    let cutoff = app.clock.now() - Duration::days(days);
    let mut purged = 0;
    loop {
        let removed = tx::transaction(
            app,
            Scope::Crossing(Crossing::Upkeep),
            Touches::ROWS,
            |Work { conn, .. }| {
                Box::pin(async move { Ok(store::purge_before(conn, cutoff, PURGE_BATCH).await?) })
            },
        )
        .await?;
        purged += removed;
        if removed < usize::try_from(PURGE_BATCH).unwrap_or(usize::MAX) {
            return Ok(purged);
        }
    }
}
