//! Batch loader for custom roles' permissions (built-in roles need no query).

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use super::catalog::PermissionSet;
use super::store;
use crate::app::App;
use crate::db::scope::{Crossing, Scope};
use crate::db::tx;

/// Loads the stored permissions of custom roles by role id, one query per batch.
pub struct RolePermissionsLoader(pub App);

impl Loader<Uuid> for RolePermissionsLoader {
    type Value = PermissionSet;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, PermissionSet>, Self::Error> {
        Ok(
            tx::read(&self.0, Scope::Crossing(Crossing::Loaders), async |conn| {
                Ok(store::permissions_of_roles(conn, keys).await?)
            })
            .await?,
        )
    }
}
