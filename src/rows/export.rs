//! CSV export. `exportCsv` hands out a signed link valid five minutes; fetching it streams
//! the table in batches (header of field keys, RFC 4180 quoting), never holding the table
//! in memory. Text cells that a spreadsheet would run as a formula are defused.

use axum::body::Bytes;
use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::service::{TableAccess, table_access};
use super::store;
use crate::app::App;
use crate::audit::service::{self as audit, CompanyAct};
use crate::auth::caller::{Caller, LinkRequester};
use crate::companies::access;
use crate::cycles::store as cycle_store;
use crate::db::scope::Scope;
use crate::db::tx;
use crate::error::{AppError, AppResult};
use crate::rbac::catalog::Action;
use crate::spreadsheet::{csv_lines, defused};
use crate::tables::model::FieldType;

/// How long an export link works.
pub const LINK_TTL: Duration = Duration::minutes(5);
/// Rows read per round trip while streaming.
const BATCH: i64 = 1_000;

/// What an export link stands for.
#[derive(Debug, Serialize, Deserialize)]
struct ExportClaims {
    requester: LinkRequester,
    table: Uuid,
    cycle: Option<Uuid>,
    /// Unix seconds after which the link is dead.
    expires: i64,
}

/// A signed link to the table's rows as CSV (row:export), valid for five minutes.
pub async fn export_link(
    app: &App,
    caller: &Caller,
    table_id: Uuid,
    cycle_id: Option<Uuid>,
) -> AppResult<String> {
    let actor = caller.acting()?;
    let access = tx::read(app, actor.scope(), async |conn| {
        let access = table_access(conn, actor, table_id, Action::Export).await?;
        if let Some(cycle_id) = cycle_id {
            let cycle = cycle_store::find_for(conn, cycle_id, actor).await?;
            if cycle.is_none_or(|c| c.project_id != access.project.id) {
                return Err(AppError::not_found("cycle"));
            }
        }
        Ok(access)
    })
    .await?;
    let act = CompanyAct {
        company_id: access.project.company_id,
        action: "row.exported",
        target: ("data_table", table_id),
        details: serde_json::json!({ "projectId": access.project.id, "cycleId": cycle_id, "format": "csv" }),
    };
    audit::record_company_act(app, caller, act).await?;
    let claims = ExportClaims {
        requester: LinkRequester::of(caller)?,
        table: table_id,
        cycle: cycle_id,
        expires: (app.clock.now() + LINK_TTL).timestamp(),
    };
    Ok(format!(
        "{}/exports/{}",
        app.config.public_url(),
        app.links.sign(&claims)
    ))
}

/// A CSV download ready to stream.
pub struct Download {
    /// A file name from the table's name.
    pub filename: String,
    pub chunks: mpsc::Receiver<Result<Bytes, std::io::Error>>,
}

/// Checks an export link (signature, expiry, the user's row:export now) and starts
/// streaming. NOT_FOUND for anything wrong, so links reveal nothing.
pub async fn open_download(app: &App, token: &str) -> AppResult<Download> {
    let not_found = || AppError::not_found("export link (it may have expired)");
    let claims: ExportClaims = app.links.verify(token).ok_or_else(not_found)?;
    if claims.expires < app.clock.now().timestamp() {
        return Err(not_found());
    }
    tx::read(app, claims.requester.scope(), async |conn| {
        let actor = access::still_acting(conn, claims.requester, app.clock.now())
            .await?
            .ok_or_else(not_found)?;
        let access = table_access(conn, actor, claims.table, Action::Export).await?;
        let filename = file_name(&access.table.name);
        let (sender, chunks) = mpsc::channel(4);
        let app = app.clone();
        tokio::spawn(async move {
            if let Err(err) =
                stream_rows(&app, claims.requester.scope(), &access, claims.cycle, &sender).await
            {
                tracing::error!(error = ?err.source, "export stopped");
                let _ = sender.send(Err(std::io::Error::other("export failed"))).await;
            }
        });
        Ok(Download { filename, chunks })
    })
    .await
}

fn file_name(table: &str) -> String {
    let safe: String = table
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "{}.csv",
        safe.trim_matches('_').chars().take(80).collect::<String>()
    )
}

async fn stream_rows(
    app: &App,
    scope: Scope,
    access: &TableAccess,
    cycle_id: Option<Uuid>,
    sender: &mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> AppResult<()> {
    let hidden = access.hidden_keys();
    let columns: Vec<(String, FieldType)> = access
        .rules
        .fields
        .iter()
        .filter(|f| f.spec.field_type != FieldType::Formula && !hidden.contains(&f.spec.key))
        .map(|f| (f.spec.key.clone(), f.spec.field_type))
        .collect();
    let header = vec![columns.iter().map(|c| c.0.clone()).collect()];
    if sender.send(Ok(csv_lines(header)?)).await.is_err() {
        return Ok(());
    }
    let mut after = None;
    loop {
        // A connection per batch: a client that stops reading holds none.
        let batch = tx::read(app, scope, async |conn| {
            Ok(store::cells_batch(conn, access.table.id, cycle_id, after, BATCH).await?)
        })
        .await?;
        let lines = batch
            .iter()
            .map(|row| {
                columns
                    .iter()
                    .map(|(key, field_type)| cell(row.cells.get(key), *field_type))
                    .collect()
            })
            .collect();
        if sender.send(Ok(csv_lines(lines)?)).await.is_err() {
            return Ok(());
        }
        match batch.last() {
            Some(last) if batch.len() == usize::try_from(BATCH).unwrap_or(0) => {
                after = Some((last.created_at, last.id));
            }
            _ => return Ok(()),
        }
    }
}

/// One value as a CSV cell: lists joined by ";", and text that a spreadsheet would take
/// for a formula prefixed with ' (OWASP's CSV injection advice): text starting with a tab,
/// carriage return or line feed, or whose first character after any whitespace is one of
/// `= + - @`.
fn cell(value: Option<&Value>, field_type: FieldType) -> String {
    let text = match value {
        None | Some(Value::Null) => return String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(";"),
        Some(other) => other.to_string(),
    };
    // Numbers were validated as numbers: "-5" is a value, not a formula.
    if matches!(field_type, FieldType::Integer | FieldType::Decimal) {
        text
    } else {
        defused(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formulas_are_defused_and_numbers_kept() {
        assert_eq!(
            cell(Some(&json!("=HYPERLINK(\"x\")")), FieldType::Text),
            "'=HYPERLINK(\"x\")"
        );
        assert_eq!(cell(Some(&json!("@SUM(A1)")), FieldType::Text), "'@SUM(A1)");
        for hidden in [
            " =HYPERLINK(\"x\")",
            "  +1",
            "\u{a0}-2+3",
            "\n@cmd",
            "\t=1",
            "\r=1",
            "\u{3000}=1",
        ] {
            assert_eq!(
                cell(Some(&json!(hidden)), FieldType::Text),
                format!("'{hidden}"),
                "{hidden:?}"
            );
        }
        assert_eq!(
            cell(Some(&json!("a = b")), FieldType::Text),
            "a = b",
            "only a leading formula"
        );
        assert_eq!(cell(Some(&json!("-12.5")), FieldType::Decimal), "-12.5");
        assert_eq!(cell(Some(&json!(["a", "b"])), FieldType::MultiSelect), "a;b");
        assert_eq!(cell(None, FieldType::Text), "");
        assert_eq!(file_name("Fuel use / Q1"), "Fuel_use___Q1.csv");
    }
}
