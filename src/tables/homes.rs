//! Where each table lives (its project and that project's company), remembered: a table
//! never moves to another project nor a project to another company, so the answer never
//! goes stale. A table's rows go with it, so a row that still exists never meets the
//! remembered home of a deleted table.

use std::time::Duration;

use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::store;
use crate::app::App;
use crate::cache::FreshCache;
use crate::error::AppResult;

/// How long a home is kept (only to let the memory of deleted tables go).
const KEEP: Duration = Duration::from_secs(3600);

/// The project and company of a table.
#[derive(Debug, Clone, Copy)]
pub struct TableHome {
    pub project_id: Uuid,
    pub company_id: Uuid,
}

/// Table id → where it lives.
pub struct TableHomes(FreshCache<Uuid, TableHome>);

impl Default for TableHomes {
    fn default() -> Self {
        Self(FreshCache::new(KEEP))
    }
}

/// Where the table lives (None: no such table), read through `conn` the first time.
pub async fn home_of(
    app: &App,
    conn: &mut AsyncPgConnection,
    table_id: Uuid,
) -> AppResult<Option<TableHome>> {
    if let Some(home) = app.table_homes.0.get(&table_id) {
        return Ok(Some(home));
    }
    let ticket = app.table_homes.0.ticket();
    let Some((project_id, company_id)) = store::home_of(conn, table_id).await? else {
        return Ok(None);
    };
    let home = TableHome {
        project_id,
        company_id,
    };
    app.table_homes.0.put(ticket, table_id, home);
    Ok(Some(home))
}
