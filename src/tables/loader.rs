//! Batch loaders for a project list's tables and the fields of many tables.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use super::model::{FieldRow, TableRow};
use super::store;
use crate::app::App;
use crate::db::scope::{Crossing, Scope};
use crate::db::tx;
use crate::projects::model::ProjectRow;

/// Loads each table's fields, in order, one query per batch.
pub struct FieldsLoader(pub App);

impl Loader<Uuid> for FieldsLoader {
    type Value = Vec<FieldRow>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Vec<FieldRow>>, Self::Error> {
        let rows = tx::read(&self.0, Scope::Crossing(Crossing::Loaders), async |conn| {
            Ok(store::fields_of(conn, keys).await?)
        })
        .await?;
        let mut by_table: HashMap<Uuid, Vec<FieldRow>> = HashMap::new();
        for row in rows {
            by_table.entry(row.table_id).or_default().push(row);
        }
        Ok(by_table)
    }
}

/// Loads the first page of each (project, limit) with the project's table count, one query
/// per distinct limit.
pub struct TablesPageLoader(pub App);

impl Loader<(Uuid, i64)> for TablesPageLoader {
    type Value = (Vec<TableRow>, i64);
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[(Uuid, i64)]) -> Result<HashMap<(Uuid, i64), Self::Value>, Self::Error> {
        let mut by_limit: HashMap<i64, Vec<Uuid>> = HashMap::new();
        for (project, limit) in keys {
            by_limit.entry(*limit).or_default().push(*project);
        }
        let mut pages: HashMap<(Uuid, i64), Self::Value> =
            keys.iter().map(|key| (*key, (Vec::new(), 0))).collect();
        tx::read(&self.0, Scope::Crossing(Crossing::Loaders), async |conn| {
            for (limit, projects) in by_limit {
                for counted in store::first_tables(conn, &projects, limit).await? {
                    let page = pages.entry((counted.table.project_id, limit)).or_default();
                    page.1 = counted.total;
                    page.0.push(counted.table);
                }
            }
            Ok(())
        })
        .await?;
        Ok(pages)
    }
}

/// Loads tables by id with their projects, one query per batch (a row read by id names
/// only its table; this answers when a client asks for more of it).
pub struct TableLoader(pub App);

impl Loader<Uuid> for TableLoader {
    type Value = Arc<(TableRow, ProjectRow)>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = tx::read(&self.0, Scope::Crossing(Crossing::Loaders), async |conn| {
            Ok(store::tables_by_ids(conn, keys).await?)
        })
        .await?;
        Ok(rows
            .into_iter()
            .map(|(table, project)| (table.id, Arc::new((table, project))))
            .collect())
    }
}
