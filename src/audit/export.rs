//! `exportAuditLog`: a signed link, valid five minutes, to a company's filtered log as CSV
//! or JSON. Fetching it checks the requester still acts and holds audit:export, then
//! streams the entries newest first in batches, never holding the log in memory; CSV cells
//! are defused like every CSV the server writes.

use axum::body::Bytes;
use chrono::Duration;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::model::AuditRow;
use super::service::{CompanyAct, cursor_of, record_company_act};
use super::store::{self, AuditFilter};
use crate::app::App;
use crate::auth::caller::{Caller, LinkRequester};
use crate::companies::access;
use crate::db::tx;
use crate::error::{AppError, AppResult};
use crate::rbac::catalog::{Action, Resource};
use crate::spreadsheet::{csv_lines, defused};

/// How long an export link works.
const LINK_TTL: Duration = Duration::minutes(5);
/// Entries read per round trip while streaming.
const BATCH: i64 = 1_000;
/// The CSV's columns.
const COLUMNS: [&str; 11] = [
    "createdAt",
    "action",
    "targetType",
    "targetId",
    "actorId",
    "actorDeleted",
    "apiKeyId",
    "ip",
    "userAgent",
    "requestId",
    "changes",
];

/// The file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Csv,
    Json,
}

impl ExportFormat {
    /// `csv` (the default) or `json`; BAD_USER_INPUT at `format` otherwise.
    pub fn parse(format: Option<&str>) -> AppResult<Self> {
        match format.map(str::to_ascii_lowercase).as_deref() {
            None | Some("csv") => Ok(Self::Csv),
            Some("json") => Ok(Self::Json),
            Some(_) => Err(AppError::invalid("format", "give csv or json")),
        }
    }

    /// The file's media type.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Json => "application/json",
        }
    }
}

/// What an export link stands for.
#[derive(Debug, Serialize, Deserialize)]
struct AuditExportClaims {
    requester: LinkRequester,
    company: Uuid,
    filter: AuditFilter,
    format: ExportFormat,
    /// Unix seconds after which the link is dead.
    expires: i64,
}

/// A download ready to stream.
pub struct AuditDownload {
    pub filename: String,
    pub format: ExportFormat,
    pub chunks: mpsc::Receiver<Result<Bytes, std::io::Error>>,
}

/// A signed link to the company's filtered log (audit:export).
pub async fn export_link(
    app: &App,
    caller: &Caller,
    company_id: Uuid,
    filter: AuditFilter,
    format: ExportFormat,
) -> AppResult<String> {
    let actor = caller.acting()?;
    tx::read(app, actor.scope(), async |conn| {
        access::member(conn, company_id, actor)
            .await?
            .require(Resource::Audit, Action::Export)
    })
    .await?;
    let act = CompanyAct {
        company_id,
        action: "audit.exported",
        target: ("company", company_id),
        details: serde_json::json!({ "format": format, "filter": &filter }),
    };
    record_company_act(app, caller, act).await?;
    let claims = AuditExportClaims {
        requester: LinkRequester::of(caller)?,
        company: company_id,
        filter,
        format,
        expires: (app.clock.now() + LINK_TTL).timestamp(),
    };
    Ok(format!(
        "{}/exports/audit/{}",
        app.config.public_url(),
        app.links.sign(&claims)
    ))
}

/// Checks an export link (signature, expiry, the requester's audit:export now) and starts
/// streaming. NOT_FOUND for anything wrong, so links reveal nothing.
pub async fn open_download(app: &App, token: &str) -> AppResult<AuditDownload> {
    let not_found = || AppError::not_found("export link (it may have expired)");
    let claims: AuditExportClaims = app.links.verify(token).ok_or_else(not_found)?;
    if claims.expires < app.clock.now().timestamp() {
        return Err(not_found());
    }
    {
        tx::read(app, claims.requester.scope(), async |conn| {
            let actor = access::still_acting(conn, claims.requester, app.clock.now())
                .await?
                .ok_or_else(not_found)?;
            access::member(conn, claims.company, actor)
                .await
                .map_err(|_| not_found())?
                .require(Resource::Audit, Action::Export)
                .map_err(|_| not_found())?;
            Ok(())
        })
        .await?;
    }
    let extension = match claims.format {
        ExportFormat::Csv => "csv",
        ExportFormat::Json => "json",
    };
    let (sender, chunks) = mpsc::channel(4);
    let app = app.clone();
    let format = claims.format;
    tokio::spawn(async move {
        if let Err(err) = stream_entries(&app, &claims, &sender).await {
            tracing::error!(error = ?err.source, "audit export stopped");
            let _ = sender.send(Err(std::io::Error::other("export failed"))).await;
        }
    });
    Ok(AuditDownload {
        filename: format!("audit-log.{extension}"),
        format,
        chunks,
    })
}

async fn stream_entries(
    app: &App,
    claims: &AuditExportClaims,
    sender: &mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> AppResult<()> {
    let opening = match claims.format {
        ExportFormat::Csv => csv_lines(vec![COLUMNS.iter().map(|c| (*c).to_owned()).collect()])?,
        ExportFormat::Json => Bytes::from_static(b"["),
    };
    if sender.send(Ok(opening)).await.is_err() {
        return Ok(());
    }
    let mut after = None;
    let mut first = true;
    loop {
        // A connection per batch: a client that stops reading holds none.
        let batch = tx::read(app, claims.requester.scope(), async |conn| {
            Ok(store::company_page(conn, claims.company, &claims.filter, after, BATCH).await?)
        })
        .await?;
        let chunk = match claims.format {
            ExportFormat::Csv => csv_lines(batch.iter().map(csv_line).collect())?,
            ExportFormat::Json => {
                let mut text = Vec::new();
                for row in &batch {
                    if !first {
                        text.push(b',');
                    }
                    first = false;
                    serde_json::to_writer(&mut text, &json_entry(row)).map_err(AppError::internal)?;
                }
                Bytes::from(text)
            }
        };
        if sender.send(Ok(chunk)).await.is_err() {
            return Ok(());
        }
        match batch.last() {
            Some(last) if batch.len() == usize::try_from(BATCH).unwrap_or(0) => after = Some(cursor_of(last)),
            _ => break,
        }
    }
    if claims.format == ExportFormat::Json {
        let _ = sender.send(Ok(Bytes::from_static(b"]"))).await;
    }
    Ok(())
}

fn text_of(id: Option<Uuid>) -> String {
    id.map(|id| id.to_string()).unwrap_or_default()
}

fn csv_line(row: &AuditRow) -> Vec<String> {
    vec![
        row.created_at.to_rfc3339(),
        defused(row.action.clone()),
        defused(row.target_type.clone()),
        text_of(row.target_id),
        text_of(row.actor_id),
        row.actor_deleted.to_string(),
        text_of(row.api_key_id),
        defused(row.ip.clone().unwrap_or_default()),
        defused(row.user_agent.clone().unwrap_or_default()),
        defused(row.request_id.clone().unwrap_or_default()),
        defused(row.changes.as_ref().map(ToString::to_string).unwrap_or_default()),
    ]
}

fn json_entry(row: &AuditRow) -> serde_json::Value {
    serde_json::json!({
        "createdAt": row.created_at,
        "action": row.action,
        "targetType": row.target_type,
        "targetId": row.target_id,
        "actorId": row.actor_id,
        "actorDeleted": row.actor_deleted,
        "apiKeyId": row.api_key_id,
        "ip": row.ip,
        "userAgent": row.user_agent,
        "requestId": row.request_id,
        "changes": row.changes,
    })
}
