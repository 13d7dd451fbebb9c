//! Loads API keys by id, for the events and rows that name the key that made them.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use super::model::ApiKeyRow;
use super::store;
use crate::app::App;
use crate::error::AppError;

/// Loads API keys by id, one query per batch (ids come from rows already scoped).
pub struct ApiKeyLoader(pub App);

impl Loader<Uuid> for ApiKeyLoader {
    type Value = ApiKeyRow;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, ApiKeyRow>, Self::Error> {
        let mut conn = self.0.pool.get().await.map_err(AppError::from)?;
        let rows = store::by_ids(&mut conn, keys).await.map_err(AppError::from)?;
        Ok(rows.into_iter().map(|row| (row.id, row)).collect())
    }
}
