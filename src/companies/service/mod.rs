//! Company rules, split by subject: the company itself, its members, and its custom roles.

pub mod company;
pub mod members;
pub mod roles;

use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::store;
use crate::db::scope::{self, Crossing};
use crate::error::AppResult;

/// Moves the user's active company to their oldest other one when it was `left` (or is
/// already unset because `left` was deleted). It reads the user's memberships in every
/// company, which whoever removed them may not reach.
async fn move_active_company_off(conn: &mut AsyncPgConnection, user_id: Uuid, left: Uuid) -> AppResult<()> {
    scope::while_crossing(conn, Crossing::Leaving, async |conn| {
        Ok(store::move_active_company_off(conn, user_id, left).await?)
    })
    .await
}
