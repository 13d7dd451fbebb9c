//! Batch loader for users, which every membership, invitation and event points at.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use super::model::UserRow;
use super::store;
use crate::app::App;
use crate::error::AppError;

/// Loads users by id, one query per batch (deleted users come back anonymised).
pub struct UserLoader(pub App);

impl Loader<Uuid> for UserLoader {
    type Value = UserRow;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, UserRow>, Self::Error> {
        let mut conn = self.0.pool.get().await.map_err(AppError::from)?;
        let rows = store::users_by_ids(&mut conn, keys)
            .await
            .map_err(AppError::from)?;
        Ok(rows.into_iter().map(|row| (row.id, row)).collect())
    }
}
