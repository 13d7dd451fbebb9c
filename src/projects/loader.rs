//! Batch loader for projects, which activity events point at.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use super::model::ProjectRow;
use super::store;
use crate::app::App;
use crate::db::scope::{Crossing, Scope};
use crate::db::tx;

/// Loads projects by id, one query per batch (a deleted project is simply absent).
pub struct ProjectLoader(pub App);

impl Loader<Uuid> for ProjectLoader {
    type Value = ProjectRow;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, ProjectRow>, Self::Error> {
        let rows = tx::read(&self.0, Scope::Crossing(Crossing::Loaders), async |conn| {
            Ok(store::projects_by_ids(conn, keys).await?)
        })
        .await?;
        Ok(rows.into_iter().map(|row| (row.id, row)).collect())
    }
}
