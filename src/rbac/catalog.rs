//! The permission catalog: which (resource, action) pairs exist, what each allows, and the
//! fixed permission sets of the five built-in roles.

use async_graphql::Enum;

use crate::companies::model::BuiltIn;

/// What a permission is about.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    Company,
    Member,
    Invitation,
    Role,
    Project,
    Module,
    Cycle,
    Table,
    Row,
    Audit,
    ApiKey,
    Webhook,
    Factor,
}

/// What a permission allows doing to its resource.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    View,
    Create,
    Edit,
    Delete,
    Export,
    Manage,
}

const RESOURCES: [Resource; 13] = [
    Resource::Company,
    Resource::Member,
    Resource::Invitation,
    Resource::Role,
    Resource::Project,
    Resource::Module,
    Resource::Cycle,
    Resource::Table,
    Resource::Row,
    Resource::Audit,
    Resource::ApiKey,
    Resource::Webhook,
    Resource::Factor,
];
const ACTIONS: [Action; 6] = [
    Action::View,
    Action::Create,
    Action::Edit,
    Action::Delete,
    Action::Export,
    Action::Manage,
];

impl Resource {
    /// The stored (and error-message) name, e.g. `api_key`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Company => "company",
            Self::Member => "member",
            Self::Invitation => "invitation",
            Self::Role => "role",
            Self::Project => "project",
            Self::Module => "module",
            Self::Cycle => "cycle",
            Self::Table => "table",
            Self::Row => "row",
            Self::Audit => "audit",
            Self::ApiKey => "api_key",
            Self::Webhook => "webhook",
            Self::Factor => "factor",
        }
    }

    /// Reads a stored name.
    pub fn parse(value: &str) -> Option<Self> {
        RESOURCES.into_iter().find(|r| r.as_str() == value)
    }

    fn index(self) -> u32 {
        RESOURCES.iter().position(|r| *r == self).map_or(0, |i| i as u32)
    }
}

impl Action {
    /// The stored (and error-message) name, e.g. `view`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::View => "view",
            Self::Create => "create",
            Self::Edit => "edit",
            Self::Delete => "delete",
            Self::Export => "export",
            Self::Manage => "manage",
        }
    }

    /// Reads a stored name.
    pub fn parse(value: &str) -> Option<Self> {
        ACTIONS.into_iter().find(|a| a.as_str() == value)
    }

    fn index(self) -> u32 {
        ACTIONS.iter().position(|a| *a == self).map_or(0, |i| i as u32)
    }
}

/// One permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Permission {
    pub resource: Resource,
    pub action: Action,
}

impl Permission {
    fn bit(self) -> u128 {
        1u128 << (self.resource.index() * 6 + self.action.index())
    }
}

/// Every permission that exists, with what it allows.
pub const CATALOG: &[(Resource, Action, &str)] = &[
    (Resource::Company, Action::View, "See the company and its profile"),
    (
        Resource::Company,
        Action::Edit,
        "Edit the company's name, industry, website and logo",
    ),
    (
        Resource::Company,
        Action::Delete,
        "Delete the company and everything it owns",
    ),
    (Resource::Company, Action::Manage, "Manage company-wide settings"),
    (
        Resource::Member,
        Action::View,
        "See the team: names, contact details and roles",
    ),
    (
        Resource::Member,
        Action::Manage,
        "Change members' roles and remove members",
    ),
    (
        Resource::Invitation,
        Action::View,
        "See invitations and their status",
    ),
    (
        Resource::Invitation,
        Action::Create,
        "Invite people (one by one or from a CSV file) and resend invitations",
    ),
    (Resource::Invitation, Action::Delete, "Revoke invitations"),
    (Resource::Role, Action::View, "See roles and their permissions"),
    (Resource::Role, Action::Manage, "Create, edit and delete roles"),
    (Resource::Project, Action::View, "See projects"),
    (Resource::Project, Action::Create, "Create projects"),
    (Resource::Project, Action::Edit, "Rename and describe projects"),
    (Resource::Project, Action::Delete, "Delete archived projects"),
    (
        Resource::Project,
        Action::Manage,
        "Archive and restore projects and grant project roles",
    ),
    (Resource::Module, Action::View, "See modules"),
    (Resource::Module, Action::Create, "Create modules"),
    (Resource::Module, Action::Edit, "Edit and reorder modules"),
    (Resource::Module, Action::Delete, "Delete modules"),
    (Resource::Cycle, Action::View, "See reporting cycles"),
    (Resource::Cycle, Action::Create, "Create reporting cycles"),
    (Resource::Cycle, Action::Edit, "Edit reporting cycles"),
    (Resource::Cycle, Action::Delete, "Delete reporting cycles"),
    (
        Resource::Cycle,
        Action::Manage,
        "Close and reopen reporting cycles",
    ),
    (Resource::Table, Action::View, "See data tables and their fields"),
    (Resource::Table, Action::Create, "Create data tables"),
    (Resource::Table, Action::Edit, "Rename and describe data tables"),
    (Resource::Table, Action::Delete, "Delete data tables"),
    (
        Resource::Table,
        Action::Manage,
        "Change fields and read restricted fields",
    ),
    (
        Resource::Factor,
        Action::View,
        "See the company's emission factors and the shipped defaults",
    ),
    (
        Resource::Factor,
        Action::Manage,
        "Add and delete the company's own emission factor versions",
    ),
    (Resource::Row, Action::View, "Read rows"),
    (Resource::Row, Action::Create, "Insert and import rows"),
    (Resource::Row, Action::Edit, "Edit rows"),
    (Resource::Row, Action::Delete, "Delete rows"),
    (Resource::Row, Action::Export, "Export rows as CSV"),
    (Resource::Audit, Action::View, "Read the audit log"),
    (Resource::Audit, Action::Export, "Export the audit log"),
    (
        Resource::ApiKey,
        Action::Manage,
        "Create, list and revoke API keys",
    ),
    (
        Resource::Webhook,
        Action::Manage,
        "Create, change, delete and redeliver webhooks",
    ),
];

/// A set of permissions (one bit per catalog pair).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PermissionSet(u128);

impl PermissionSet {
    /// Every permission in the catalog.
    pub fn all() -> Self {
        CATALOG
            .iter()
            .map(|(r, a, _)| Permission {
                resource: *r,
                action: *a,
            })
            .collect()
    }

    /// Whether the pair is in the catalog at all.
    pub fn exists(permission: Permission) -> bool {
        Self::all().contains(permission)
    }

    /// Whether the set holds `permission`.
    pub fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    /// Whether the set holds (resource, action).
    pub fn allows(self, resource: Resource, action: Action) -> bool {
        self.contains(Permission { resource, action })
    }

    /// Adds a permission.
    pub fn insert(&mut self, permission: Permission) {
        self.0 |= permission.bit();
    }

    /// Whether every permission of `self` is in `other`.
    pub fn is_subset_of(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    /// Permissions in either set.
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The permissions of `self` that `other` lacks.
    pub fn without(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// The permissions, in catalog order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        CATALOG
            .iter()
            .map(|(r, a, _)| Permission {
                resource: *r,
                action: *a,
            })
            .filter(move |p| self.contains(*p))
    }

    /// Every catalog permission of these resources.
    fn of(resources: &[Resource]) -> Self {
        Self::all()
            .iter()
            .filter(|p| resources.contains(&p.resource))
            .collect()
    }

    /// Only these actions of these resources.
    fn only(resources: &[Resource], actions: &[Action]) -> Self {
        Self::of(resources)
            .iter()
            .filter(|p| actions.contains(&p.action))
            .collect()
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        let mut set = Self::default();
        for permission in iter {
            set.insert(permission);
        }
        set
    }
}

/// The fixed permissions of a built-in role (the table, row by row).
pub fn built_in_permissions(role: BuiltIn) -> PermissionSet {
    use Action::{Create, Delete, Edit, Export, View};
    use Resource::{Company, Cycle, Factor, Invitation, Member, Module, Project, Row, Table};
    let work = [Project, Module, Cycle, Table, Factor];
    let sees_the_team = PermissionSet::only(&[Company, Member, Resource::Role], &[View]);
    match role {
        BuiltIn::Owner => PermissionSet::all(),
        BuiltIn::Admin => PermissionSet::all().without(PermissionSet::only(&[Company], &[Delete])),
        BuiltIn::Manager => sees_the_team
            .union(PermissionSet::only(&[Invitation], &[View, Create]))
            .union(PermissionSet::of(&work))
            .union(PermissionSet::of(&[Row])),
        BuiltIn::Editor => sees_the_team
            .union(PermissionSet::only(&work, &[View]))
            .union(PermissionSet::only(&[Row], &[View, Create, Edit, Delete, Export])),
        BuiltIn::Viewer => sees_the_team
            .union(PermissionSet::only(&work, &[View]))
            .union(PermissionSet::only(&[Row], &[View])),
    }
}
