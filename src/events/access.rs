//! Who may read an event: a member of its company holding the event's `visible_with`
//! permission — company-wide, or through their grant in the event's project.

use std::collections::HashMap;

use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::model::EventRow;
use crate::companies::access as companies;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::rbac::authorizer::role_permissions;
use crate::rbac::catalog::{Action, Permission, PermissionSet, Resource};

/// A member's permissions in one company and in each project they hold a grant in.
#[derive(Debug, Clone)]
pub struct Standing {
    pub user_id: Uuid,
    pub company_id: Uuid,
    company: PermissionSet,
    /// Project → company permissions ∪ the grant's.
    projects: HashMap<Uuid, PermissionSet>,
}

impl Standing {
    /// The user's standing in the company; None when they are not a member.
    pub async fn load(
        conn: &mut AsyncPgConnection,
        company_id: Uuid,
        user_id: Uuid,
    ) -> AppResult<Option<Self>> {
        let member = match companies::member(conn, company_id, user_id).await {
            Ok(member) => member,
            Err(err) if err.code == ErrorCode::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        let mut projects = HashMap::new();
        for (project, role) in crate::projects::store::grants_of_user(conn, user_id)
            .await
            .map_err(AppError::from)?
        {
            let grant = role_permissions(conn, &role).await?;
            projects.insert(project, member.permissions.union(grant));
        }
        Ok(Some(Self {
            user_id,
            company_id,
            company: member.permissions,
            projects,
        }))
    }

    /// Permissions in `project` (company-wide ones when there is none or no grant).
    fn permissions_in(&self, project: Option<Uuid>) -> PermissionSet {
        project
            .and_then(|project| self.projects.get(&project).copied())
            .unwrap_or(self.company)
    }

    /// Whether the member may read `event`.
    pub fn may_read(&self, event: &EventRow) -> bool {
        event.company_id == self.company_id
            && parse_permission(&event.visible_with)
                .is_some_and(|permission| self.permissions_in(event.project_id).contains(permission))
    }

    /// Whether the member holds (resource, action) in `project` (or company-wide).
    pub fn allows(&self, project: Option<Uuid>, resource: Resource, action: Action) -> bool {
        self.permissions_in(project).allows(resource, action)
    }

    /// What the SQL filter needs: the permission names held company-wide, and per project
    /// the extra ones a grant adds there.
    pub fn readable(&self) -> (Vec<String>, Vec<(Uuid, Vec<String>)>) {
        let names = |set: PermissionSet| set.iter().map(permission_name).collect::<Vec<_>>();
        let extra = self
            .projects
            .iter()
            .filter_map(|(project, set)| {
                let added = set.without(self.company);
                (added != PermissionSet::default()).then(|| (*project, names(added)))
            })
            .collect();
        (names(self.company), extra)
    }
}

/// "resource:action", as stored in `visible_with`.
pub fn permission_name(permission: Permission) -> String {
    format!("{}:{}", permission.resource.as_str(), permission.action.as_str())
}

fn parse_permission(name: &str) -> Option<Permission> {
    let (resource, action) = name.split_once(':')?;
    Some(Permission {
        resource: Resource::parse(resource)?,
        action: Action::parse(action)?,
    })
}
