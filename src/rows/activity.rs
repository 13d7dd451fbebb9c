//! The trace a row write leaves: one activity event per table and call (with counts, not
//! one per row) and the touched row ids, which live grids receive as row changes.

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use serde_json::json;
use uuid::Uuid;

use crate::auth::caller::Actor;
use crate::error::AppResult;
use crate::events::verb::Verb;
use crate::events::write::{self, Activity, TouchedRows};
use crate::projects::model::ProjectRow;
use crate::tables::model::TableRow;

/// What happened to the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowChange {
    Created,
    Updated,
    Deleted,
}

impl RowChange {
    fn verb(self) -> Verb {
        match self {
            Self::Created => Verb::RowCreated,
            Self::Updated => Verb::RowUpdated,
            Self::Deleted => Verb::RowDeleted,
        }
    }

    /// The stored (and GraphQL) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "CREATED",
            Self::Updated => "UPDATED",
            Self::Deleted => "DELETED",
        }
    }

    fn phrase(self, count: usize, table: &str) -> String {
        let rows = if count == 1 { "row" } else { "rows" };
        match self {
            Self::Created => format!("{count} {rows} added to {table}"),
            Self::Updated => format!("{count} {rows} changed in {table}"),
            Self::Deleted => format!("{count} {rows} deleted from {table}"),
        }
    }
}

/// Records one event for `row_ids` of `table` and the rows it touched.
pub async fn record(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    actor: Actor,
    (table, project): (&TableRow, &ProjectRow),
    change: RowChange,
    row_ids: &[Uuid],
) -> AppResult<()> {
    let target = row_ids
        .first()
        .filter(|_| row_ids.len() == 1)
        .map_or(("data_table", table.id), |row| ("data_row", *row));
    let activity = Activity::new(
        project.company_id,
        Some(actor),
        change.verb(),
        target,
        change.phrase(row_ids.len(), &table.name),
    )
    .in_project(project.id)
    .data(json!({ "tableId": table.id, "table": table.name, "count": row_ids.len() }));
    let rows = TouchedRows {
        table_id: table.id,
        kind: change.as_str(),
        row_ids,
    };
    write::record_touching(conn, now, activity, rows)
        .await
        .map(|_| ())
}
