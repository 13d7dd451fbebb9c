//! GraphQL for the audit log: entries, the company's log (`Company.auditLog`, audit:view)
//! and a person's own security events (`Me.securityEvents`).

use async_graphql::connection::{ConnectionNameType, Edge, EdgeNameType, EmptyFields};
use async_graphql::{Context, ID, InputObject, Json, Object, OutputType, Result};
use chrono::{DateTime, Utc};

use super::export::{self, ExportFormat};
use super::model::AuditRow;
use super::service::cursor_of;
use super::store;
use crate::api_keys::graphql::ApiKey;
use crate::graphql::connection::ConnectionTotals;
use crate::graphql::context::{app, caller, loader, parse_id};
use crate::pagination::Page;
use crate::users::graphql::User;
use crate::users::loader::UserLoader;

/// One audit entry: who (a person or a key), what, to what, from where.
pub struct AuditEntry(pub AuditRow);

#[Object]
impl AuditEntry {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The person who acted (null for a key, a stranger's failed sign-in, or a deleted
    /// account).
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(actor) = self.0.actor_id else {
            return Ok(None);
        };
        Ok(loader::<UserLoader>(ctx).load_one(actor).await?.map(User::new))
    }

    /// The API key that acted, when an integration did.
    async fn api_key(&self, ctx: &Context<'_>) -> Result<Option<ApiKey>> {
        ApiKey::load(ctx, self.0.api_key_id).await
    }

    /// e.g. `row.created`, `member.role_changed`, `session.signed_in`.
    async fn action(&self) -> &str {
        &self.0.action
    }

    async fn target_type(&self) -> &str {
        &self.0.target_type
    }

    async fn target_id(&self) -> Option<ID> {
        self.0.target_id.map(|id| ID(id.to_string()))
    }

    /// What changed (before and after, counts, names); never a secret or a restricted value.
    async fn changes(&self) -> Option<Json<&serde_json::Value>> {
        self.0.changes.as_ref().map(Json)
    }

    /// The client's address.
    async fn ip(&self) -> Option<&str> {
        self.0.ip.as_deref()
    }

    async fn user_agent(&self) -> Option<&str> {
        self.0.user_agent.as_deref()
    }

    /// The request's id (its `x-request-id`), to find it in the server's log.
    async fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Narrows a company's audit log.
#[derive(InputObject, Default)]
pub struct AuditFilter {
    pub actor_id: Option<ID>,
    pub action: Option<String>,
    pub target_type: Option<String>,
    /// From this moment (inclusive).
    pub since: Option<DateTime<Utc>>,
    /// Before this moment.
    pub until: Option<DateTime<Utc>>,
}

impl AuditFilter {
    /// The store's filter (an unknown actor id matches nothing).
    pub fn parse(self) -> Result<store::AuditFilter> {
        Ok(store::AuditFilter {
            actor_id: self
                .actor_id
                .as_ref()
                .map(|id| parse_id(id, "user"))
                .transpose()?,
            action: self.action,
            target_type: self.target_type,
            since: self.since,
            until: self.until,
        })
    }
}

/// Names the connection as the contract does (`AuditConnection`).
pub struct AuditConnectionName;

impl ConnectionNameType for AuditConnectionName {
    fn type_name<T: OutputType>() -> String {
        "AuditConnection".to_owned()
    }
}

/// Names the edge after its connection (`AuditEdge`).
pub struct AuditEdgeName;

impl EdgeNameType for AuditEdgeName {
    fn type_name<T: OutputType>() -> String {
        "AuditEdge".to_owned()
    }
}

/// A page of audit entries, newest first.
pub type AuditConnection = async_graphql::connection::Connection<
    String,
    AuditEntry,
    ConnectionTotals,
    EmptyFields,
    AuditConnectionName,
    AuditEdgeName,
>;

/// The connection for a page of entries.
pub fn audit_connection(page: Page<AuditRow>, had_cursor: bool) -> AuditConnection {
    let total_count = i32::try_from(page.total).unwrap_or(i32::MAX);
    let mut connection =
        AuditConnection::with_additional_fields(had_cursor, page.has_next, ConnectionTotals { total_count });
    connection.edges.extend(
        page.items
            .into_iter()
            .map(|row| Edge::with_additional_fields(cursor_of(&row).encode(), AuditEntry(row), EmptyFields)),
    );
    connection
}

/// Mutations of the audit log (there is only its export: entries never change).
#[derive(Default)]
pub struct AuditMutation;

#[Object]
impl AuditMutation {
    /// A link, valid five minutes, to the company's filtered log as `csv` (the default) or
    /// `json` (audit:export); fetching it streams the file.
    async fn export_audit_log(
        &self,
        ctx: &Context<'_>,
        company_id: ID,
        filter: Option<AuditFilter>,
        format: Option<String>,
    ) -> Result<String> {
        let company_id = parse_id(&company_id, "company")?;
        let filter = filter.unwrap_or_default().parse()?;
        let format = ExportFormat::parse(format.as_deref())?;
        Ok(export::export_link(app(ctx), caller(ctx), company_id, filter, format).await?)
    }
}
