//! Batch loaders for the first page of many tables' rows (a project list with its tables and
//! their rows answers with one row query) and for tables' formula calculators.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use super::formulas::Calculator;
use super::model::RowRecord;
use super::store;
use crate::app::App;
use crate::db::scope::{Crossing, Scope};
use crate::db::tx;
use crate::tables::store as table_store;

/// Loads the first `limit` rows of each (table, limit), one query per distinct limit.
pub struct FirstRowsLoader(pub App);

impl Loader<(Uuid, i64)> for FirstRowsLoader {
    type Value = Vec<RowRecord>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[(Uuid, i64)]) -> Result<HashMap<(Uuid, i64), Vec<RowRecord>>, Self::Error> {
        let mut by_limit: HashMap<i64, Vec<Uuid>> = HashMap::new();
        for (table, limit) in keys {
            by_limit.entry(*limit).or_default().push(*table);
        }
        Ok(
            tx::read(&self.0, Scope::Crossing(Crossing::Loaders), async |conn| {
                let mut pages: HashMap<(Uuid, i64), Vec<RowRecord>> = HashMap::new();
                for (limit, tables) in by_limit {
                    for row in store::first_rows(conn, &tables, limit).await? {
                        pages.entry((row.table_id, limit)).or_default().push(row);
                    }
                }
                Ok(pages)
            })
            .await?,
        )
    }
}

/// Loads the formula calculator of each (table, its company): one query for every table's
/// fields, and one for the factors of each table with formulas (None: it has none).
pub struct CalculatorLoader(pub App);

impl Loader<(Uuid, Uuid)> for CalculatorLoader {
    type Value = Arc<Option<Calculator>>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[(Uuid, Uuid)]) -> Result<HashMap<(Uuid, Uuid), Self::Value>, Self::Error> {
        let tables: Vec<Uuid> = keys.iter().map(|(table, _)| *table).collect();
        Ok(
            tx::read(&self.0, Scope::Crossing(Crossing::Loaders), async |conn| {
                let fields = table_store::fields_of(conn, &tables).await?;
                let mut calculators = HashMap::new();
                for &(table, company) in keys {
                    let own: Vec<_> = fields.iter().filter(|f| f.table_id == table).cloned().collect();
                    let calculator = Calculator::load(conn, company, &own).await?;
                    calculators.insert((table, company), Arc::new(calculator));
                }
                Ok(calculators)
            })
            .await?,
        )
    }
}
