//! What a caller may do with a table's rows, read inside the operation's transaction: the
//! table, its project, the member's standing there and the rules for the table's fields;
//! and the open cycle rows are written into.

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::auth::caller::Actor;
use crate::companies::access::Member;
use crate::cycles::model::CycleRow;
use crate::cycles::store as cycle_store;
use crate::error::{AppError, AppResult};
use crate::projects::access::project_member;
use crate::projects::model::ProjectRow;
use crate::rbac::catalog::{Action, Resource};
use crate::rows::formulas::Calculator;
use crate::rows::model::RowRecord;
use crate::rows::store;
use crate::rows::values::RowRules;
use crate::tables::model::TableRow;
use crate::tables::restricted;
use crate::tables::store as table_store;

/// A table as one caller may read or write it.
pub struct TableAccess {
    pub table: TableRow,
    pub project: ProjectRow,
    pub member: Member,
    pub rules: RowRules,
}

impl TableAccess {
    /// Keys of restricted fields the caller may not read.
    pub fn hidden_keys(&self) -> Vec<String> {
        let fields = self
            .rules
            .fields
            .iter()
            .map(|f| (f.spec.key.as_str(), f.spec.restricted));
        restricted::hidden_keys(fields, self.member.permissions)
    }
}

/// The table, for a caller holding row:`action` in its project. Writers also lock the
/// project (against archiving) and the table (against field changes) until they commit.
pub async fn table_access(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    table_id: Uuid,
    action: Action,
) -> AppResult<TableAccess> {
    let mut table = table_store::find_for(conn, table_id, actor, false)
        .await?
        .ok_or_else(|| AppError::not_found("table"))?;
    let (project, member) = project_member(conn, table.project_id, actor, false).await?;
    member.require(Resource::Row, action)?;
    if action != Action::View && action != Action::Export {
        match store::share_project(conn, project.id).await? {
            None => return Err(AppError::not_found("project")),
            Some(Some(_)) => {
                return Err(AppError::conflict(
                    "the project is archived; restore it to change it",
                ));
            }
            Some(None) => {}
        }
        // What the formulas are computed at is read under the lock, so it is what the
        // fields and factors read below say.
        table.calc_version = store::share_table(conn, table.id)
            .await?
            .ok_or_else(|| AppError::not_found("table"))?;
    }
    let fields = table_store::fields_of(conn, &[table.id]).await?;
    let mut rules = RowRules::new(&fields, restricted::reads_restricted(member.permissions));
    if matches!(action, Action::Create | Action::Edit) {
        rules = rules.computing(Calculator::load(conn, project.company_id, &fields).await?);
    }
    Ok(TableAccess {
        table,
        project,
        member,
        rules,
    })
}

impl TableAccess {
    /// Takes the factors of rows without a date of their own on the last day of the cycle
    /// they are written into, else on the day `written` (the row's first write).
    pub fn take_factors_for(&mut self, cycle: Option<&CycleRow>, written: DateTime<Utc>) {
        let day = cycle.map_or_else(|| written.date_naive(), |cycle| cycle.ends_on);
        self.rules.take_factors_on(day);
    }
}

/// The cycle rows are written into: of the table's project, and open (locked so it stays
/// open until the write commits).
pub async fn open_cycle(
    conn: &mut AsyncPgConnection,
    cycle_id: Option<Uuid>,
    project_id: Uuid,
) -> AppResult<Option<CycleRow>> {
    let Some(cycle_id) = cycle_id else {
        return Ok(None);
    };
    let cycle = cycle_store::share_cycle(conn, cycle_id, project_id)
        .await?
        .ok_or_else(|| AppError::not_found("cycle"))?;
    if cycle.closed_at.is_some() {
        return Err(AppError::conflict(format!(
            "the cycle {} is closed; reopen it to change its rows",
            cycle.name
        )));
    }
    Ok(Some(cycle))
}

/// The row without the values of `hidden` fields. Stored values that are not an object
/// cannot be sorted into readable and hidden ones, so none of them is shown.
pub(super) fn strip(mut row: RowRecord, hidden: &[String]) -> RowRecord {
    if hidden.is_empty() {
        return row;
    }
    let mut cells = match serde_json::from_str::<Value>(&row.cells) {
        Ok(Value::Object(cells)) => cells,
        _ => {
            tracing::error!(row_id = %row.id, "a row's stored values are not an object; none are shown");
            Map::new()
        }
    };
    for key in hidden {
        cells.remove(key);
    }
    row.cells = Value::Object(cells).to_string();
    row
}
