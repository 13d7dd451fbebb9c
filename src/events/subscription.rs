//! The three subscriptions: a person's notifications, a company's activity feed, and the
//! row changes of one table. Access is checked when subscribing and again for every event.
//!
//! Each subscription's setup (access checks, starting position) runs in a boxed future:
//! async-graphql keeps the resolver's future inside the subscription's stream for as long
//! as it lives, so an inline setup would cost every open subscription its full size.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, Result, Subscription};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use uuid::Uuid;

use super::cursor::{self, Stream as CursorStream};
use super::graphql::Notification;
use super::held::Holding;
use super::hub::LiveEvent;
use super::live::{self, Start};
use super::model::EventRow;
use super::shared_answer::{HeldShape, LiveActivity, selection_shape};
use super::verb::Verb;
use crate::api_keys::graphql::ApiKey;
use crate::auth::caller::Actor;
use crate::db::tx;
use crate::error::{AppError, AppResult};
use crate::graphql::context::{app, caller, loader, parse_id, signed_in};
use crate::projects::service as projects;
use crate::rbac::catalog::Action;
use crate::rbac::standing::Standing;
use crate::rows::graphql::DataRow;
use crate::rows::service as rows;
use crate::users::graphql::User;
use crate::users::loader::UserLoader;

/// What happened to a row, or to many at once.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum RowChangeKind {
    Created,
    Updated,
    Deleted,
    /// An import or a field change rewrote `count` rows without naming them: refetch.
    Bulk,
}

/// One row's change (or a bulk change of many), for live grids.
pub struct RowChange {
    kind: RowChangeKind,
    row_id: Option<Uuid>,
    count: i32,
    /// The event, whose changed rows every grid subscriber reads from one copy.
    live: Arc<LiveEvent>,
    /// Its event's position and its place among the event's changes (the cursor).
    seq: i64,
    index: u32,
    actor_id: Option<Uuid>,
    api_key_id: Option<Uuid>,
    at: DateTime<Utc>,
}

impl RowChange {
    /// The changes `live` made to the rows of `table_id`, in the order their cursors name.
    fn all_in(live: &Arc<LiveEvent>, table_id: Uuid) -> Vec<Self> {
        let event = &live.event;
        let change = |index: u32, kind, row_id, count| Self {
            kind,
            row_id,
            count,
            live: Arc::clone(live),
            seq: event.seq,
            index,
            actor_id: event.actor_id,
            api_key_id: event.api_key_id,
            at: event.created_at,
        };
        if let Some(count) = rewritten_rows(event, table_id) {
            return vec![change(0, RowChangeKind::Bulk, None, count)];
        }
        live.rows
            .iter()
            .filter(|row| row.table_id == table_id)
            .zip(0..)
            .map(|(row, index)| {
                let kind = match row.kind.as_str() {
                    "CREATED" => RowChangeKind::Created,
                    "DELETED" => RowChangeKind::Deleted,
                    _ => RowChangeKind::Updated,
                };
                change(index, kind, Some(row.row_id), 1)
            })
            .collect()
    }
}

/// How many rows of `table_id` the event changed without naming them (a CSV import's
/// inserted rows, the rows a field change rewrote); None when it named them or changed none.
fn rewritten_rows(event: &EventRow, table_id: Uuid) -> Option<i32> {
    let data = event.data.as_ref()?;
    let table = data.get("tableId")?.as_str()?;
    if Uuid::parse_str(table).ok()? != table_id {
        return None;
    }
    let count = match Verb::parse(&event.verb)? {
        Verb::RowImported => data.get("inserted"),
        Verb::TableFieldAdded | Verb::TableFieldUpdated | Verb::TableFieldRemoved => {
            data.get("rowsRewritten")
        }
        Verb::TableRecalculating | Verb::TableRecalculated => data.get("changed"),
        _ => None,
    }?;
    i32::try_from(count.as_i64()?).ok().filter(|count| *count > 0)
}

#[Object]
impl RowChange {
    async fn kind(&self) -> RowChangeKind {
        self.kind
    }

    /// The row as it is now, as the subscriber may see it (null once deleted, and for BULK).
    async fn row(&self, ctx: &Context<'_>) -> Result<Option<DataRow>> {
        let Some(row_id) = self.row_id.filter(|_| self.kind != RowChangeKind::Deleted) else {
            return Ok(None);
        };
        match rows::changed_row(app(ctx), caller(ctx), &self.live, row_id).await {
            Ok(record) => Ok(record.map(DataRow::alone)),
            Err(err) if err.code == crate::error::ErrorCode::NotFound => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// The changed row (null for BULK).
    async fn row_id(&self) -> Option<ID> {
        self.row_id.map(|id| ID(id.to_string()))
    }

    /// How many rows changed: 1, or a BULK change's count.
    async fn count(&self) -> Option<i32> {
        Some(self.count)
    }

    /// Resumes `rowChanges(after:)` right after this change.
    async fn cursor(&self) -> Option<String> {
        Some(cursor::encode_within(
            CursorStream::RowChanges,
            self.seq,
            self.index,
        ))
    }

    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(actor) = self.actor_id else {
            return Ok(None);
        };
        Ok(loader::<UserLoader>(ctx).load_one(actor).await?.map(User::new))
    }

    /// The API key that made the change, when an integration did.
    async fn api_key(&self, ctx: &Context<'_>) -> Result<Option<ApiKey>> {
        ApiKey::load(ctx, self.api_key_id).await
    }

    async fn at(&self) -> DateTime<Utc> {
        self.at
    }
}

fn start(stream: CursorStream, after: Option<&str>) -> AppResult<Start> {
    Ok(match after {
        Some(text) => Start::After(cursor::decode(stream, text)?),
        None => Start::Now,
    })
}

/// Who acts (a verified person or a key) and their standing in a company they reach
/// (NOT_FOUND otherwise).
async fn member(ctx: &Context<'_>, company_id: Uuid) -> AppResult<(Actor, Arc<Standing>)> {
    let caller = caller(ctx);
    let actor = caller.acting()?;
    let standing = super::service::standing(app(ctx), caller, company_id).await?;
    Ok((actor, standing))
}

/// Live streams.
#[derive(Default)]
pub struct EventsSubscription;

#[Subscription]
impl EventsSubscription {
    /// New notifications for the signed-in user. With `after`, first replays those after that cursor.
    async fn notification_added(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<Notification>> + use<>> {
        let actor = signed_in(ctx)?.user_id;
        let start = start(CursorStream::Notifications, after.as_deref())?;
        let stream = Box::pin(live::notifications(app(ctx).clone(), actor, start)).await?;
        Ok(stream.map(|item| {
            item.map(|row| Notification(Arc::unwrap_or_clone(row)))
                .map_err(Into::into)
        }))
    }

    /// A company's activity feed, filtered to what the subscriber may view. Resumable like notificationAdded.
    async fn activity(
        &self,
        ctx: &Context<'_>,
        company_id: ID,
        project_id: Option<ID>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<LiveActivity>> + use<>> {
        let company_id = parse_id(&company_id, "company")?;
        let shape = selection_shape(ctx);
        let start = start(CursorStream::Activity, after.as_deref())?;
        let feed = Box::pin(async {
            let member = member(ctx, company_id).await?;
            let project_id = match project_id {
                Some(id) => {
                    let (project, _) =
                        projects::get_project(app(ctx), caller(ctx), parse_id(&id, "project")?).await?;
                    if project.company_id != company_id {
                        return Err(AppError::not_found("project"));
                    }
                    Some(project.id)
                }
                None => None,
            };
            let feed = live::company_feed(
                app(ctx).clone(),
                company_id,
                member,
                CursorStream::Activity,
                start,
            )
            .await?;
            Ok::<_, AppError>(feed.in_project(project_id))
        })
        .await?;
        if let (Some(holding), Some(shape)) = (ctx.data_opt::<Holding>(), &shape) {
            let root = ctx.item.node.response_key().node.as_str();
            let held = HeldShape::new(root, Arc::clone(shape));
            holding.hand_over(feed, held, ctx.item.pos, &caller(ctx).request_id);
            return Ok(futures_util::stream::empty().left_stream());
        }
        Ok(feed
            .into_stream()
            .map(move |item| {
                item.map(|live| LiveActivity {
                    live,
                    shape: shape.clone(),
                })
                .map_err(Into::into)
            })
            .right_stream())
    }

    /// Row changes in one table, for live grids and dashboards: one per row, or one BULK
    /// change when an import or a field change rewrote many. With `after` (a change's
    /// cursor), first replays the changes that came after it.
    async fn row_changes(
        &self,
        ctx: &Context<'_>,
        table_id: ID,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<RowChange>> + use<>> {
        let table_id = parse_id(&table_id, "table")?;
        // The change the client saw last; replay starts with its event, skipping up to it.
        let seen = after
            .as_deref()
            .map(|text| cursor::decode_within(CursorStream::RowChanges, text))
            .transpose()?;
        let start = seen.map_or(Start::Now, |(seq, _)| Start::After(seq - 1));
        let stream = Box::pin(async {
            let actor = caller(ctx).acting()?;
            let company_id = tx::read(app(ctx), actor.scope(), async |conn| {
                let access = rows::table_access(conn, actor, table_id, Action::View).await?;
                Ok(access.project.company_id)
            })
            .await?;
            let member = member(ctx, company_id).await?;
            live::company_events(
                app(ctx).clone(),
                company_id,
                member,
                CursorStream::RowChanges,
                start,
            )
            .await
        })
        .await?;
        Ok(stream.flat_map(move |item| {
            let changes: Vec<Result<RowChange>> = match item {
                Ok(live) => {
                    let seen_here = seen
                        .filter(|(seq, _)| *seq == live.event.seq)
                        .map(|(_, index)| index);
                    RowChange::all_in(&live, table_id)
                        .into_iter()
                        .filter(|change| seen_here.is_none_or(|seen| change.index > seen))
                        .map(Ok)
                        .collect()
                }
                Err(err) => vec![Err(err.into())],
            };
            futures_util::stream::iter(changes)
        }))
    }
}
