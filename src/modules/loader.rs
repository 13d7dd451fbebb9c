//! Batch loader for modules by id (a table list's modules).

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use super::model::ModuleRow;
use super::store;
use crate::app::App;
use crate::db::scope::{Crossing, Scope};
use crate::db::tx;

/// Loads modules by id, one query per batch.
pub struct ModuleLoader(pub App);

impl Loader<Uuid> for ModuleLoader {
    type Value = ModuleRow;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, ModuleRow>, Self::Error> {
        let rows = tx::read(&self.0, Scope::Crossing(Crossing::Loaders), async |conn| {
            Ok(store::by_ids(conn, keys).await?)
        })
        .await?;
        Ok(rows.into_iter().map(|row| (row.id, row)).collect())
    }
}
