//! Loads API keys by id, for the events and rows that name the key that made them.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use super::model::ApiKeyRow;
use super::store;
use crate::app::App;
use crate::db::scope::{Crossing, Scope};
use crate::db::tx;

/// Loads API keys by id, one query per batch (ids come from rows already scoped).
pub struct ApiKeyLoader(pub App);

impl Loader<Uuid> for ApiKeyLoader {
    type Value = ApiKeyRow;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, ApiKeyRow>, Self::Error> {
        let rows = tx::read(&self.0, Scope::Crossing(Crossing::Loaders), async |conn| {
            Ok(store::by_ids(conn, keys).await?)
        })
        .await?;
        Ok(rows.into_iter().map(|row| (row.id, row)).collect())
    }
}
