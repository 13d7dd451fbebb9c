//! Every kind of activity event. The database keeps the verb's text (`row.created`); the
//! code names it by this enum, which knows what the event is about and so who may read it.

use crate::rbac::catalog::{Action, Resource};

/// What an activity event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    CompanyCreated,
    CompanyUpdated,
    MemberInvited,
    MemberJoined,
    MemberLeft,
    MemberRemoved,
    MemberRoleChanged,
    MemberOwnershipTransferred,
    InvitationResent,
    InvitationRevoked,
    RoleCreated,
    RoleUpdated,
    RoleDeleted,
    ProjectCreated,
    ProjectUpdated,
    ProjectArchived,
    ProjectRestored,
    ProjectDeleted,
    ProjectRoleGranted,
    ProjectRoleRevoked,
    ModuleCreated,
    ModuleUpdated,
    ModuleDeleted,
    CycleCreated,
    CycleClosed,
    CycleReopened,
    TableCreated,
    TableUpdated,
    TableDeleted,
    TableFieldAdded,
    TableFieldUpdated,
    TableFieldRemoved,
    TableRecalculating,
    TableRecalculated,
    RowCreated,
    RowUpdated,
    RowDeleted,
    RowImported,
    ApiKeyDocumentsRegistered,
    ApiKeyDocumentDeleted,
    ApiKeyCreated,
    ApiKeyRevoked,
    WebhookCreated,
    WebhookUpdated,
    WebhookDeleted,
    WebhookRedelivered,
    WebhookDisabled,
    FactorCreated,
    FactorDeleted,
    FactorsImported,
}

impl Verb {
    /// Every verb, in the order of the list above.
    pub const ALL: [Self; 50] = [
        Self::CompanyCreated,
        Self::CompanyUpdated,
        Self::MemberInvited,
        Self::MemberJoined,
        Self::MemberLeft,
        Self::MemberRemoved,
        Self::MemberRoleChanged,
        Self::MemberOwnershipTransferred,
        Self::InvitationResent,
        Self::InvitationRevoked,
        Self::RoleCreated,
        Self::RoleUpdated,
        Self::RoleDeleted,
        Self::ProjectCreated,
        Self::ProjectUpdated,
        Self::ProjectArchived,
        Self::ProjectRestored,
        Self::ProjectDeleted,
        Self::ProjectRoleGranted,
        Self::ProjectRoleRevoked,
        Self::ModuleCreated,
        Self::ModuleUpdated,
        Self::ModuleDeleted,
        Self::CycleCreated,
        Self::CycleClosed,
        Self::CycleReopened,
        Self::TableCreated,
        Self::TableUpdated,
        Self::TableDeleted,
        Self::TableFieldAdded,
        Self::TableFieldUpdated,
        Self::TableFieldRemoved,
        Self::TableRecalculating,
        Self::TableRecalculated,
        Self::RowCreated,
        Self::RowUpdated,
        Self::RowDeleted,
        Self::RowImported,
        Self::ApiKeyDocumentsRegistered,
        Self::ApiKeyDocumentDeleted,
        Self::ApiKeyCreated,
        Self::ApiKeyRevoked,
        Self::WebhookCreated,
        Self::WebhookUpdated,
        Self::WebhookDeleted,
        Self::WebhookRedelivered,
        Self::WebhookDisabled,
        Self::FactorCreated,
        Self::FactorDeleted,
        Self::FactorsImported,
    ];

    /// The text the database and clients know it by.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CompanyCreated => "company.created",
            Self::CompanyUpdated => "company.updated",
            Self::MemberInvited => "member.invited",
            Self::MemberJoined => "member.joined",
            Self::MemberLeft => "member.left",
            Self::MemberRemoved => "member.removed",
            Self::MemberRoleChanged => "member.role_changed",
            Self::MemberOwnershipTransferred => "member.ownership_transferred",
            Self::InvitationResent => "invitation.resent",
            Self::InvitationRevoked => "invitation.revoked",
            Self::RoleCreated => "role.created",
            Self::RoleUpdated => "role.updated",
            Self::RoleDeleted => "role.deleted",
            Self::ProjectCreated => "project.created",
            Self::ProjectUpdated => "project.updated",
            Self::ProjectArchived => "project.archived",
            Self::ProjectRestored => "project.restored",
            Self::ProjectDeleted => "project.deleted",
            Self::ProjectRoleGranted => "project.role_granted",
            Self::ProjectRoleRevoked => "project.role_revoked",
            Self::ModuleCreated => "module.created",
            Self::ModuleUpdated => "module.updated",
            Self::ModuleDeleted => "module.deleted",
            Self::CycleCreated => "cycle.created",
            Self::CycleClosed => "cycle.closed",
            Self::CycleReopened => "cycle.reopened",
            Self::TableCreated => "table.created",
            Self::TableUpdated => "table.updated",
            Self::TableDeleted => "table.deleted",
            Self::TableFieldAdded => "table.field_added",
            Self::TableFieldUpdated => "table.field_updated",
            Self::TableFieldRemoved => "table.field_removed",
            Self::TableRecalculating => "table.recalculating",
            Self::TableRecalculated => "table.recalculated",
            Self::RowCreated => "row.created",
            Self::RowUpdated => "row.updated",
            Self::RowDeleted => "row.deleted",
            Self::RowImported => "row.imported",
            Self::ApiKeyDocumentsRegistered => "api_key.documents_registered",
            Self::ApiKeyDocumentDeleted => "api_key.document_deleted",
            Self::ApiKeyCreated => "api_key.created",
            Self::ApiKeyRevoked => "api_key.revoked",
            Self::WebhookCreated => "webhook.created",
            Self::WebhookUpdated => "webhook.updated",
            Self::WebhookDeleted => "webhook.deleted",
            Self::WebhookRedelivered => "webhook.redelivered",
            Self::WebhookDisabled => "webhook.disabled",
            Self::FactorCreated => "factor.created",
            Self::FactorDeleted => "factor.deleted",
            Self::FactorsImported => "factor.imported",
        }
    }

    /// The verb stored as `text`, if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|verb| verb.as_str() == text)
    }

    /// What the event is about.
    pub fn subject(self) -> Resource {
        match self {
            Self::CompanyCreated | Self::CompanyUpdated => Resource::Company,
            Self::MemberInvited
            | Self::MemberJoined
            | Self::MemberLeft
            | Self::MemberRemoved
            | Self::MemberRoleChanged
            | Self::MemberOwnershipTransferred => Resource::Member,
            Self::InvitationResent | Self::InvitationRevoked => Resource::Invitation,
            Self::RoleCreated | Self::RoleUpdated | Self::RoleDeleted => Resource::Role,
            Self::ProjectCreated
            | Self::ProjectUpdated
            | Self::ProjectArchived
            | Self::ProjectRestored
            | Self::ProjectDeleted
            | Self::ProjectRoleGranted
            | Self::ProjectRoleRevoked => Resource::Project,
            Self::ModuleCreated | Self::ModuleUpdated | Self::ModuleDeleted => Resource::Module,
            Self::CycleCreated | Self::CycleClosed | Self::CycleReopened => Resource::Cycle,
            Self::TableCreated
            | Self::TableUpdated
            | Self::TableDeleted
            | Self::TableFieldAdded
            | Self::TableFieldUpdated
            | Self::TableFieldRemoved
            | Self::TableRecalculating
            | Self::TableRecalculated => Resource::Table,
            Self::RowCreated | Self::RowUpdated | Self::RowDeleted | Self::RowImported => Resource::Row,
            Self::ApiKeyDocumentsRegistered
            | Self::ApiKeyDocumentDeleted
            | Self::ApiKeyCreated
            | Self::ApiKeyRevoked => Resource::ApiKey,
            Self::WebhookCreated
            | Self::WebhookUpdated
            | Self::WebhookDeleted
            | Self::WebhookRedelivered
            | Self::WebhookDisabled => Resource::Webhook,
            Self::FactorCreated | Self::FactorDeleted | Self::FactorsImported => Resource::Factor,
        }
    }

    /// The permission that reveals the event unless the event names another: view on its
    /// subject, or manage where the subject has no view (integrations).
    pub fn revealed_by(self) -> (Resource, Action) {
        match self.subject() {
            Resource::ApiKey => (Resource::ApiKey, Action::Manage),
            Resource::Webhook => (Resource::Webhook, Action::Manage),
            subject => (subject, Action::View),
        }
    }

    /// Whether the event lists the rows it touched (live grids follow them).
    pub fn lists_rows(self) -> bool {
        matches!(self, Self::RowCreated | Self::RowUpdated | Self::RowDeleted)
    }
}

#[cfg(test)]
mod tests {
    use super::Verb;

    #[test]
    fn every_verb_reads_back_from_its_text_and_is_about_its_prefix() {
        for verb in Verb::ALL {
            assert_eq!(Verb::parse(verb.as_str()), Some(verb));
            let prefix = verb.as_str().split('.').next().unwrap_or_default();
            assert_eq!(prefix, verb.subject().as_str(), "{verb:?}");
        }
        assert_eq!(Verb::parse("row.exploded"), None);
    }
}
