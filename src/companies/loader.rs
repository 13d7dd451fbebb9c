//! Batch loaders for the relations lists fan out on: a membership's company and role.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use super::model::{CompanyRow, RoleRow};
use super::store;
use crate::app::App;
use crate::db::scope::{Crossing, Scope};
use crate::db::tx;

/// Loads companies by id, one query per batch.
pub struct CompanyLoader(pub App);

impl Loader<Uuid> for CompanyLoader {
    type Value = CompanyRow;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, CompanyRow>, Self::Error> {
        let rows = tx::read(&self.0, Scope::Crossing(Crossing::Loaders), async |conn| {
            Ok(store::companies_by_ids(conn, keys).await?)
        })
        .await?;
        Ok(rows.into_iter().map(|row| (row.id, row)).collect())
    }
}

/// Loads roles by id, one query per batch.
pub struct RoleLoader(pub App);

impl Loader<Uuid> for RoleLoader {
    type Value = RoleRow;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, RoleRow>, Self::Error> {
        let rows = tx::read(&self.0, Scope::Crossing(Crossing::Loaders), async |conn| {
            Ok(store::roles_by_ids(conn, keys).await?)
        })
        .await?;
        Ok(rows.into_iter().map(|row| (row.id, row)).collect())
    }
}
