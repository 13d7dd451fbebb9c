//! Each user's standing, remembered briefly: the permissions they hold in every company
//! they belong to and in every project where they hold a grant. Reads (field guards, a row
//! by id) take it from here instead of reading memberships, roles and grants on every
//! request; services that change data still check the member inside their transaction.
//!
//! The memory is forgotten whole, because changes to standing are rare:
//! - by this process right after it commits a change to memberships, roles or grants;
//! - by every instance when PostgreSQL announces such a commit (triggers on those tables
//!   NOTIFY the event channel, whatever wrote them, cascades included);
//! - after its time-to-live.
//!
//! While the event listener is disconnected (announcements could be missed) it is not used.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::catalog::{PermissionSet, built_in_permissions};
use super::store;
use crate::app::App;
use crate::cache::{FreshCache, Ticket};
use crate::companies::model::RoleRow;
use crate::error::AppResult;

/// What the event listener hears when a commit changed someone's standing.
pub const ANNOUNCEMENT: &str = "standing";

/// The permissions one user holds, company by company and project by project.
#[derive(Debug, Default)]
pub struct UserStanding {
    /// Company id → the permissions of the user's role there.
    companies: HashMap<Uuid, PermissionSet>,
    /// Project id → the permissions of the user's grant there.
    projects: HashMap<Uuid, PermissionSet>,
}

impl UserStanding {
    /// The user's permissions in the company (None: not a member).
    pub fn company(&self, company_id: Uuid) -> Option<PermissionSet> {
        self.companies.get(&company_id).copied()
    }

    /// The user's permissions in a project of the company: their company role's plus their
    /// grant's there (None: not a member of the company, whatever the grant).
    pub fn project(&self, company_id: Uuid, project_id: Uuid) -> Option<PermissionSet> {
        let company = self.company(company_id)?;
        let grant = self.projects.get(&project_id).copied().unwrap_or_default();
        Some(company.union(grant))
    }
}

/// Users' standing by user id.
pub struct Standings(FreshCache<Uuid, Arc<UserStanding>>);

impl Standings {
    /// A memory keeping each user's standing for `ttl` (zero: read it every time).
    pub fn new(ttl: Duration) -> Self {
        Self(FreshCache::new(ttl))
    }

    /// Where the memory stands: it changes with every forget, so a holder of a standing read
    /// under one marker knows to read again when the marker moved.
    pub fn marker(&self) -> Ticket {
        self.0.ticket()
    }

    /// Forgets everyone's standing; called after every commit that changes memberships,
    /// roles or grants, and when such a commit is announced.
    pub fn forget_all(&self) {
        self.0.forget_all();
    }
}

/// The user's current standing (a pooled connection reads it when not remembered).
pub async fn standing_of(app: &App, user_id: Uuid) -> AppResult<Arc<UserStanding>> {
    if let Some(standing) = remembered(app, user_id) {
        return Ok(standing);
    }
    let mut conn = app.pool.get().await?;
    read_and_remember(app, &mut conn, user_id).await
}

/// The user's current standing, read through `conn` when not remembered (for callers that
/// already hold a connection: taking a second one could wait on a drained pool).
pub async fn standing_with(
    app: &App,
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> AppResult<Arc<UserStanding>> {
    if let Some(standing) = remembered(app, user_id) {
        return Ok(standing);
    }
    read_and_remember(app, conn, user_id).await
}

fn remembered(app: &App, user_id: Uuid) -> Option<Arc<UserStanding>> {
    if app.hub.is_listening() {
        app.standings.0.get(&user_id)
    } else {
        None
    }
}

async fn read_and_remember(
    app: &App,
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> AppResult<Arc<UserStanding>> {
    let trusted = app.hub.is_listening();
    let ticket = app.standings.0.ticket();
    let standing = Arc::new(load(conn, user_id).await?);
    if trusted && app.hub.is_listening() {
        app.standings.0.put(ticket, user_id, standing.clone());
    }
    Ok(standing)
}

/// Reads the user's memberships and grants with their roles' permissions.
async fn load(conn: &mut AsyncPgConnection, user_id: Uuid) -> AppResult<UserStanding> {
    let memberships = crate::companies::store::roles_of_user(conn, user_id).await?;
    let grants = crate::projects::store::grants_of_user(conn, user_id).await?;
    let custom: Vec<Uuid> = memberships
        .iter()
        .chain(&grants)
        .filter(|(_, role)| role.built_in().is_none())
        .map(|(_, role)| role.id)
        .collect();
    let stored = if custom.is_empty() {
        HashMap::new()
    } else {
        store::permissions_of_roles(conn, &custom).await?
    };
    let permissions = |role: &RoleRow| match role.built_in() {
        Some(built_in) => built_in_permissions(built_in),
        None => stored.get(&role.id).copied().unwrap_or_default(),
    };
    Ok(UserStanding {
        companies: memberships
            .iter()
            .map(|(company, role)| (*company, permissions(role)))
            .collect(),
        projects: grants
            .iter()
            .map(|(project, role)| (*project, permissions(role)))
            .collect(),
    })
}
