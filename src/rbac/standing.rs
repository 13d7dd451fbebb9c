//! The permission model: an actor's [`Standing`], the permissions a person holds in every
//! company they belong to and in every project where they hold a grant (an API key: its
//! role's, in its one company), with the two rules that
//! make it (a role's permissions, [`role_permissions`]; a project's, the company role's
//! plus the grant's, [`in_project`]). Reads, field guards and subscriptions take it from
//! memory ([`standing_of`]); writes check the member inside their transaction with the
//! same rules read fresh.
//!
//! The memory is forgotten whole, because changes to standing are rare:
//! - by this process right after it commits a change to memberships, roles or grants;
//! - by every instance when PostgreSQL announces such a commit (triggers on those tables
//!   NOTIFY the event channel, whatever wrote them, cascades included);
//! - after its time-to-live.
//!
//! While the event listener is disconnected (announcements could be missed) it is not used.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::catalog::{PermissionSet, built_in_permissions};
use super::store;
use crate::app::App;
use crate::auth::caller::Actor;
use crate::cache::{FreshCache, Ticket};
use crate::companies::model::RoleRow;
use crate::db::tx;
use crate::error::{AppError, AppResult};
use crate::rbac::authorizer::two_factor_required;

/// What the event listener hears when a commit changed someone's standing.
pub const ANNOUNCEMENT: &str = "standing";

/// The permissions one user holds, company by company and project by project.
#[derive(Debug, Default)]
pub struct Standing {
    /// Company id → the permissions of the user's role there.
    companies: HashMap<Uuid, PermissionSet>,
    /// Project id → the permissions of the user's grant there.
    projects: HashMap<Uuid, PermissionSet>,
    /// Companies the user belongs to that hold them back until they turn on a second
    /// factor: there they stand nowhere.
    held_back: HashSet<Uuid>,
}

impl Standing {
    /// The user's permissions in the company (None: not a member).
    pub fn company(&self, company_id: Uuid) -> Option<PermissionSet> {
        self.companies.get(&company_id).copied()
    }

    /// The user's permissions in the company, or why they have none there: NOT_FOUND when
    /// not a member, FORBIDDEN when the company requires a second factor they lack.
    pub fn reach(&self, company_id: Uuid) -> AppResult<PermissionSet> {
        self.company(company_id)
            .ok_or_else(|| self.unreached(company_id, "company"))
    }

    /// Whether the company holds the user back until they turn on a second factor.
    pub fn holds_back(&self, company_id: Uuid) -> bool {
        self.held_back.contains(&company_id)
    }

    /// Why the user stands nowhere in the company: it holds them back for want of a second
    /// factor (FORBIDDEN, saying so), or they are no member (NOT_FOUND, naming `what`).
    pub fn unreached(&self, company_id: Uuid, what: &str) -> AppError {
        if self.holds_back(company_id) {
            two_factor_required()
        } else {
            AppError::not_found(what)
        }
    }

    /// The user's permissions in a project of the company (None: not a member of the
    /// company, whatever the grant).
    pub fn project(&self, company_id: Uuid, project_id: Uuid) -> Option<PermissionSet> {
        let company = self.company(company_id)?;
        Some(in_project(company, self.projects.get(&project_id).copied()))
    }

    /// The user's permissions in the company, in `project_id` when given.
    pub fn at(&self, company_id: Uuid, project_id: Option<Uuid>) -> Option<PermissionSet> {
        match project_id {
            Some(project_id) => self.project(company_id, project_id),
            None => self.company(company_id),
        }
    }

    /// The projects where a grant adds permissions to the company role's, with the ones it
    /// adds (of every company: project ids are unique).
    pub fn grants_beyond(&self, company_id: Uuid) -> Vec<(Uuid, PermissionSet)> {
        let Some(company) = self.company(company_id) else {
            return Vec::new();
        };
        self.projects
            .iter()
            .filter_map(|(project, grant)| {
                let added = grant.without(company);
                (added != PermissionSet::default()).then_some((*project, added))
            })
            .collect()
    }
}

/// What a member may do in a project: their company role's permissions plus those of their
/// grant there, if any (a grant never reaches another project).
pub fn in_project(company: PermissionSet, grant: Option<PermissionSet>) -> PermissionSet {
    company.union(grant.unwrap_or_default())
}

/// The permissions a role grants: built-in roles their fixed set, custom roles what is
/// stored for them.
pub async fn role_permissions(conn: &mut AsyncPgConnection, role: &RoleRow) -> AppResult<PermissionSet> {
    Ok(permissions_of(conn, std::slice::from_ref(role))
        .await?
        .remove(&role.id)
        .unwrap_or_default())
}

/// The permissions of each role, by role id (one query for all the custom ones).
pub async fn permissions_of(
    conn: &mut AsyncPgConnection,
    roles: &[RoleRow],
) -> AppResult<HashMap<Uuid, PermissionSet>> {
    let custom: Vec<Uuid> = roles
        .iter()
        .filter(|role| role.built_in().is_none())
        .map(|role| role.id)
        .collect();
    let mut stored = if custom.is_empty() {
        HashMap::new()
    } else {
        store::permissions_of_roles(conn, &custom).await?
    };
    Ok(roles
        .iter()
        .map(|role| {
            let permissions = match role.built_in() {
                Some(built_in) => built_in_permissions(built_in),
                None => stored.remove(&role.id).unwrap_or_default(),
            };
            (role.id, permissions)
        })
        .collect())
}

/// Actors' standing by actor.
pub struct Standings(FreshCache<Actor, Arc<Standing>>);

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

/// The actor's current standing (a pooled connection reads it when not remembered).
pub async fn standing_of(app: &App, actor: Actor) -> AppResult<Arc<Standing>> {
    if let Some(standing) = remembered(app, actor) {
        return Ok(standing);
    }
    tx::read(app, actor.scope(), async |conn| {
        read_and_remember(app, conn, actor).await
    })
    .await
}

/// The actor's current standing, read through `conn` when not remembered (for callers that
/// already hold a connection: taking a second one could wait on a drained pool).
pub async fn standing_with(
    app: &App,
    conn: &mut AsyncPgConnection,
    actor: Actor,
) -> AppResult<Arc<Standing>> {
    if let Some(standing) = remembered(app, actor) {
        return Ok(standing);
    }
    read_and_remember(app, conn, actor).await
}

fn remembered(app: &App, actor: Actor) -> Option<Arc<Standing>> {
    if app.hub.is_listening() {
        app.standings.0.get(&actor)
    } else {
        None
    }
}

async fn read_and_remember(
    app: &App,
    conn: &mut AsyncPgConnection,
    actor: Actor,
) -> AppResult<Arc<Standing>> {
    let trusted = app.hub.is_listening();
    let ticket = app.standings.0.ticket();
    let standing = Arc::new(read(conn, actor).await?);
    if trusted && app.hub.is_listening() {
        app.standings.0.put(ticket, actor, standing.clone());
    }
    Ok(standing)
}

/// Reads the actor's standing afresh: a person's memberships and grants with their roles'
/// permissions; an unrevoked key's role in its company (a revoked key stands nowhere).
pub async fn read(conn: &mut AsyncPgConnection, actor: Actor) -> AppResult<Standing> {
    let user_id = match actor {
        Actor::User(user_id) => user_id,
        Actor::ApiKey { key_id, .. } => {
            let Some((key, role)) = crate::api_keys::store::unrevoked_with_role(conn, key_id).await? else {
                return Ok(Standing::default());
            };
            let permissions = role_permissions(conn, &role).await?;
            return Ok(Standing {
                companies: HashMap::from([(key.company_id, permissions)]),
                ..Standing::default()
            });
        }
    };
    let memberships = crate::companies::store::roles_of_user(conn, user_id).await?;
    let grants = crate::projects::store::grants_of_user(conn, user_id).await?;
    let (held_back, memberships): (Vec<_>, Vec<_>) =
        memberships.into_iter().partition(|(_, _, held_back)| *held_back);
    let roles: Vec<RoleRow> = memberships
        .iter()
        .map(|(_, role, _)| role)
        .chain(grants.iter().map(|(_, role)| role))
        .cloned()
        .collect();
    let permissions = permissions_of(conn, &roles).await?;
    let of = |role: &RoleRow| permissions.get(&role.id).copied().unwrap_or_default();
    Ok(Standing {
        held_back: held_back.iter().map(|(company, _, _)| *company).collect(),
        companies: memberships
            .iter()
            .map(|(company, role, _)| (*company, of(role)))
            .collect(),
        projects: grants
            .iter()
            .map(|(project, role)| (*project, of(role)))
            .collect(),
    })
}
