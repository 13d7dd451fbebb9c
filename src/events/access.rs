//! Who may read an event, the one rule every path derives from: a member of its company
//! holding the event's `visible_with` permission there — company-wide, or through their
//! grant in the event's project. [`may_read`] judges one event (live subscriptions);
//! [`readable`] states the same rule as the lists the feed's SQL filter takes.

use uuid::Uuid;

use super::model::EventRow;
use crate::rbac::catalog::{Action, Permission, PermissionSet, Resource};
use crate::rbac::standing::Standing;

/// Whether the holder of `standing` may read `event`.
pub fn may_read(standing: &Standing, event: &EventRow) -> bool {
    revealed_by(event).is_some_and(|permission| {
        standing
            .at(event.company_id, event.project_id)
            .is_some_and(|held| held.contains(permission))
    })
}

/// [`may_read`] as lists for SQL, in `company_id`: the permission names held company-wide,
/// and per project the names a grant adds there.
pub fn readable(standing: &Standing, company_id: Uuid) -> (Vec<String>, Vec<(Uuid, Vec<String>)>) {
    let names = |set: PermissionSet| set.iter().map(permission_name).collect::<Vec<_>>();
    let company = standing.company(company_id).unwrap_or_default();
    let extra = standing
        .grants_beyond(company_id)
        .into_iter()
        .map(|(project, added)| (project, names(added)))
        .collect();
    (names(company), extra)
}

/// "resource:action", as stored in `visible_with`.
pub fn permission_name(permission: Permission) -> String {
    format!("{}:{}", permission.resource.as_str(), permission.action.as_str())
}

/// The permission a reader of `event` needs (in its project, when it has one).
pub fn revealed_by(event: &EventRow) -> Option<Permission> {
    let (resource, action) = event.visible_with.split_once(':')?;
    Some(Permission {
        resource: Resource::parse(resource)?,
        action: Action::parse(action)?,
    })
}
