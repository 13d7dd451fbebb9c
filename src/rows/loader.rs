//! Batch loader for the first page of many tables' rows (a project list with its tables and
//! their rows answers with one row query).

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use super::model::RowRecord;
use super::store;
use crate::app::App;
use crate::error::AppError;

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
        let mut conn = self.0.pool.get().await.map_err(AppError::from)?;
        let mut pages: HashMap<(Uuid, i64), Vec<RowRecord>> = HashMap::new();
        for (limit, tables) in by_limit {
            for row in store::first_rows(&mut conn, &tables, limit)
                .await
                .map_err(AppError::from)?
            {
                pages.entry((row.table_id, limit)).or_default().push(row);
            }
        }
        Ok(pages)
    }
}
