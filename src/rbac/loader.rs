//! Batch loader for custom roles' permissions (built-in roles need no query).

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use super::catalog::PermissionSet;
use super::store;
use crate::app::App;
use crate::error::AppError;

/// Loads the stored permissions of custom roles by role id, one query per batch.
pub struct RolePermissionsLoader(pub App);

impl Loader<Uuid> for RolePermissionsLoader {
    type Value = PermissionSet;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, PermissionSet>, Self::Error> {
        let mut conn = self.0.pool.get().await.map_err(AppError::from)?;
        Ok(store::permissions_of_roles(&mut conn, keys)
            .await
            .map_err(AppError::from)?)
    }
}
