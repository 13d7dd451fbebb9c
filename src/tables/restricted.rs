//! The one rule for restricted fields: their values, and the history of their changes, are
//! for holders of table:manage in the table's project alone. Reading a row (alone, in a
//! page, in an export, in a live change), filtering on a field, writing a value and reading
//! the activity feed all ask here.

use crate::rbac::catalog::{Action, PermissionSet, Resource};

/// The permission that opens restricted fields.
pub const OPENS_RESTRICTED: (Resource, Action) = (Resource::Table, Action::Manage);

/// Whether a holder of `permissions` (in the table's project) reads and writes restricted
/// fields.
pub fn reads_restricted(permissions: PermissionSet) -> bool {
    permissions.allows(OPENS_RESTRICTED.0, OPENS_RESTRICTED.1)
}

/// The keys a holder of `permissions` may not see, of fields given as (key, restricted).
pub fn hidden_keys<'f>(
    fields: impl IntoIterator<Item = (&'f str, bool)>,
    permissions: PermissionSet,
) -> Vec<String> {
    if reads_restricted(permissions) {
        return Vec::new();
    }
    fields
        .into_iter()
        .filter(|(_, restricted)| *restricted)
        .map(|(key, _)| key.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_table_managers_see_restricted_fields() {
        let fields = [("site", false), ("cost", true)];
        let mut manager = PermissionSet::default();
        manager.insert(crate::rbac::catalog::Permission {
            resource: Resource::Table,
            action: Action::Manage,
        });
        assert!(hidden_keys(fields, manager).is_empty());
        assert_eq!(
            hidden_keys(fields, PermissionSet::all().without(manager)),
            ["cost"]
        );
    }
}
