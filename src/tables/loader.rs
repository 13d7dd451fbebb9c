//! Batch loader for the fields of many tables (a project's table list).

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use super::model::FieldRow;
use super::store;
use crate::app::App;
use crate::error::AppError;

/// Loads each table's fields, in order, one query per batch.
pub struct FieldsLoader(pub App);

impl Loader<Uuid> for FieldsLoader {
    type Value = Vec<FieldRow>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Vec<FieldRow>>, Self::Error> {
        let mut conn = self.0.pool.get().await.map_err(AppError::from)?;
        let rows = store::fields_of(&mut conn, keys).await.map_err(AppError::from)?;
        let mut by_table: HashMap<Uuid, Vec<FieldRow>> = HashMap::new();
        for row in rows {
            by_table.entry(row.table_id).or_default().push(row);
        }
        Ok(by_table)
    }
}
