//! Batch loader for users, which every membership, invitation and event points at.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use super::model::UserRow;
use super::store;
use crate::app::App;
use crate::db::scope::{Crossing, Scope};
use crate::db::tx;

/// Loads users by id, one query per batch (deleted users come back anonymised).
pub struct UserLoader(pub App);

impl Loader<Uuid> for UserLoader {
    type Value = UserRow;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, UserRow>, Self::Error> {
        let rows = tx::read(&self.0, Scope::Crossing(Crossing::Loaders), async |conn| {
            Ok(store::users_by_ids(conn, keys).await?)
        })
        .await?;
        Ok(rows.into_iter().map(|row| (row.id, row)).collect())
    }
}
