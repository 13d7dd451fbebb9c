//! A table's rows filtered, ordered and paged, with their count on demand.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::access::table_access;
use crate::app::App;
use crate::auth::caller::Caller;
use crate::db::scope::Scope;
use crate::db::tx;
use crate::error::AppResult;
use crate::pagination::{Page, PageRequest};
use crate::rbac::catalog::Action;
use crate::rows::model::RowRecord;
use crate::rows::query::{self, Order, RowCursor};
use crate::rows::store::{self, RowListQuery};

/// What a row list asks for, as the client sent it.
pub struct RowListArgs {
    pub cycle_id: Option<Uuid>,
    pub filter: Option<Value>,
    pub order_by: Option<String>,
    pub first: Option<i32>,
    pub after: Option<String>,
    /// Only rows written (inserted or updated) after this instant.
    pub updated_since: Option<DateTime<Utc>>,
}

/// A page of rows with what is needed to count the whole list later.
pub struct RowPage {
    pub page: Page<RowRecord>,
    pub order: Order,
    pub had_cursor: bool,
    pub counter: RowCounter,
}

/// The list's whole size, counted only when a client asks for it.
pub struct RowCounter {
    /// Whose rows the count reaches: the caller's.
    pub scope: Scope,
    pub table_id: Uuid,
    pub cycle_id: Option<Uuid>,
    pub updated_since: Option<DateTime<Utc>>,
    pub conditions: Vec<query::Condition>,
}

impl RowCounter {
    /// Counts the rows of the list.
    pub async fn count(&self, app: &App) -> AppResult<i64> {
        tx::read(app, self.scope, async |conn| {
            let query = RowListQuery {
                table_id: self.table_id,
                cycle_id: self.cycle_id,
                updated_since: self.updated_since,
                conditions: &self.conditions,
                order: &Order::Created,
                strip: &[],
            };
            Ok(store::count(conn, &query).await?)
        })
        .await
    }
}

/// A page of a table's rows (row:view), filtered and ordered as asked.
pub async fn list_rows(app: &App, caller: &Caller, table_id: Uuid, args: RowListArgs) -> AppResult<RowPage> {
    let actor = caller.acting()?;
    let page = PageRequest::parse(args.first, None)?;
    tx::read(app, actor.scope(), async |conn| {
        let access = table_access(conn, actor, table_id, Action::View).await?;
        let conditions = query::parse_filter(args.filter.as_ref(), &access.rules)?;
        let order = query::parse_order(args.order_by.as_deref(), &access.rules)?;
        let after = args
            .after
            .as_deref()
            .map(|a| RowCursor::decode(a, &order))
            .transpose()?;
        let hidden = access.hidden_keys();
        let list = RowListQuery {
            table_id,
            cycle_id: args.cycle_id,
            updated_since: args.updated_since,
            conditions: &conditions,
            order: &order,
            strip: &hidden,
        };
        let rows = store::page(conn, &list, after.as_ref(), page.limit()).await?;
        Ok(RowPage {
            page: Page::from_rows(rows, page, 0),
            order,
            had_cursor: after.is_some(),
            counter: RowCounter {
                scope: actor.scope(),
                table_id,
                cycle_id: args.cycle_id,
                updated_since: args.updated_since,
                conditions,
            },
        })
    })
    .await
}

/// The cursor of a row in a list ordered by `order`.
pub fn cursor_of(row: &RowRecord, order: &Order) -> RowCursor {
    match order {
        Order::Created => RowCursor::Created {
            at: row.created_at,
            id: row.id,
        },
        Order::Field { key, .. } => {
            let value = match serde_json::from_str::<Value>(&row.cells) {
                Ok(Value::Object(cells)) => query::sort_value(&cells, key),
                _ => None,
            };
            RowCursor::Field { value, id: row.id }
        }
    }
}
