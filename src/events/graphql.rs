//! GraphQL face of the streams: ActivityEvent, Notification, their connections, and the
//! notification mutations.

use std::sync::Arc;

use async_graphql::connection::{ConnectionNameType, Edge, EdgeNameType, EmptyFields};
use async_graphql::{Context, ID, Json, Object, OutputType, Result};
use chrono::{DateTime, Utc};

use super::cursor::{self, Stream};
use super::model::{EventRow, NotificationRow};
use super::service::{self, StreamPage, StreamRequest};
use crate::api_keys::graphql::ApiKey;
use crate::companies::graphql::Company;
use crate::companies::loader::CompanyLoader;
use crate::graphql::connection::ConnectionTotals;
use crate::graphql::context::{app, authorizer, caller, loader, parse_id};
use crate::pagination::page_size;
use crate::projects::graphql::Project;
use crate::projects::loader::ProjectLoader;
use crate::rbac::catalog::{Action, Resource};
use crate::users::graphql::User;
use crate::users::loader::UserLoader;

/// Something that happened in a company.
pub struct ActivityEvent(pub Arc<EventRow>);

#[Object]
impl ActivityEvent {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Opaque position in the company's stream; pass it as `after` to resume.
    async fn cursor(&self) -> String {
        cursor::encode(Stream::Activity, self.0.seq)
    }

    async fn company(&self, ctx: &Context<'_>) -> Result<Company> {
        loader::<CompanyLoader>(ctx)
            .load_one(self.0.company_id)
            .await?
            .map(Company::loaded)
            .ok_or_else(|| crate::error::AppError::not_found("company").into())
    }

    /// The project it happened in (null when company-wide, since deleted, or not visible
    /// to the reader: project:view there).
    async fn project(&self, ctx: &Context<'_>) -> Result<Option<Project>> {
        let Some(project) = self.0.project_id else {
            return Ok(None);
        };
        let visible = authorizer(ctx)?
            .project_permissions(self.0.company_id, project)
            .await?
            .is_some_and(|permissions| permissions.allows(Resource::Project, Action::View));
        if !visible {
            return Ok(None);
        }
        Ok(loader::<ProjectLoader>(ctx)
            .load_one(project)
            .await?
            .map(Project::new))
    }

    /// Who did it (null for the system, or an account since deleted).
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(actor) = self.0.actor_id else {
            return Ok(None);
        };
        Ok(loader::<UserLoader>(ctx).load_one(actor).await?.map(User::new))
    }

    /// The API key that did it, when an integration did.
    async fn api_key(&self, ctx: &Context<'_>) -> Result<Option<ApiKey>> {
        ApiKey::load(ctx, self.0.api_key_id).await
    }

    /// What happened, e.g. "row.created", "member.invited", "table.field_added".
    async fn verb(&self) -> &str {
        &self.0.verb
    }

    async fn target_type(&self) -> &str {
        &self.0.target_type
    }

    async fn target_id(&self) -> ID {
        ID(self.0.target_id.to_string())
    }

    /// One line for people, e.g. "3 rows added to Fuel use".
    async fn summary(&self) -> &str {
        &self.0.summary
    }

    /// Small details: counts, names, before and after.
    async fn data(&self) -> Option<Json<&serde_json::Value>> {
        self.0.data.as_ref().map(Json)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A message to the signed-in user.
pub struct Notification(pub NotificationRow);

#[Object]
impl Notification {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Opaque position in the user's stream; pass it as `after` to resume.
    async fn cursor(&self) -> String {
        cursor::encode(Stream::Notifications, self.0.seq)
    }

    /// e.g. "invitation.received", "member.role_changed", "import.finished".
    async fn kind(&self) -> &str {
        &self.0.kind
    }

    async fn title(&self) -> &str {
        &self.0.title
    }

    async fn body(&self) -> &str {
        &self.0.body
    }

    /// Where the product shows the matter.
    async fn link(&self) -> Option<&str> {
        self.0.link.as_deref()
    }

    async fn read(&self) -> bool {
        self.0.read_at.is_some()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Names the activity connection as the contract does (`ActivityConnection`).
pub struct ActivityConnectionName;

impl ConnectionNameType for ActivityConnectionName {
    fn type_name<T: OutputType>() -> String {
        "ActivityConnection".to_owned()
    }
}

/// Names the activity edge after its connection (`ActivityEdge`).
pub struct ActivityEdgeName;

impl EdgeNameType for ActivityEdgeName {
    fn type_name<T: OutputType>() -> String {
        "ActivityEdge".to_owned()
    }
}

/// A page of a company's activity, newest first.
pub type ActivityConnection = async_graphql::connection::Connection<
    String,
    ActivityEvent,
    ConnectionTotals,
    EmptyFields,
    ActivityConnectionName,
    ActivityEdgeName,
>;

/// A page of the signed-in user's notifications, newest first.
pub type NotificationConnection =
    async_graphql::connection::Connection<String, Notification, ConnectionTotals, EmptyFields>;

/// Reads `first` and `after` of a stream connection.
pub fn stream_request(
    ctx: &Context<'_>,
    stream: Stream,
    first: Option<i32>,
    after: Option<&str>,
) -> Result<StreamRequest> {
    let size = page_size(first)?;
    let before = after.map(|text| cursor::decode(stream, text)).transpose()?;
    let count_total = ctx.look_ahead().field("totalCount").exists();
    Ok(StreamRequest {
        size,
        before,
        count_total,
    })
}

/// The activity connection for a page.
pub fn activity_connection(page: StreamPage<EventRow>, had_cursor: bool) -> ActivityConnection {
    let total_count = i32::try_from(page.total).unwrap_or(i32::MAX);
    let mut connection = ActivityConnection::with_additional_fields(
        had_cursor,
        page.has_next,
        ConnectionTotals { total_count },
    );
    connection.edges.extend(page.items.into_iter().map(|row| {
        Edge::with_additional_fields(
            cursor::encode(Stream::Activity, row.seq),
            ActivityEvent(Arc::new(row)),
            EmptyFields,
        )
    }));
    connection
}

/// The notification connection for a page.
pub fn notification_connection(
    page: StreamPage<NotificationRow>,
    had_cursor: bool,
) -> NotificationConnection {
    let total_count = i32::try_from(page.total).unwrap_or(i32::MAX);
    let mut connection = NotificationConnection::with_additional_fields(
        had_cursor,
        page.has_next,
        ConnectionTotals { total_count },
    );
    connection.edges.extend(
        page.items
            .into_iter()
            .map(|row| Edge::new(cursor::encode(Stream::Notifications, row.seq), Notification(row))),
    );
    connection
}

/// Notification mutations.
#[derive(Default)]
pub struct EventsMutation;

#[Object]
impl EventsMutation {
    /// Marks one of your notifications read.
    async fn mark_notification_read(&self, ctx: &Context<'_>, id: ID) -> Result<Notification> {
        let id = parse_id(&id, "notification")?;
        let row = service::mark_read(app(ctx), caller(ctx), id).await?;
        Ok(Notification(row))
    }

    /// Marks all your notifications read; returns how many were unread.
    async fn mark_all_notifications_read(&self, ctx: &Context<'_>) -> Result<i32> {
        let marked = service::mark_all_read(app(ctx), caller(ctx)).await?;
        Ok(i32::try_from(marked).unwrap_or(i32::MAX))
    }
}
