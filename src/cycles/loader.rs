//! Batch loader for cycles by id (the cycles of a row list).

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use super::model::CycleRow;
use super::store;
use crate::app::App;
use crate::error::AppError;

/// Loads cycles by id, one query per batch.
pub struct CycleLoader(pub App);

impl Loader<Uuid> for CycleLoader {
    type Value = CycleRow;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, CycleRow>, Self::Error> {
        let mut conn = self.0.pool.get().await.map_err(AppError::from)?;
        let rows = store::by_ids(&mut conn, keys).await.map_err(AppError::from)?;
        Ok(rows.into_iter().map(|row| (row.id, row)).collect())
    }
}
