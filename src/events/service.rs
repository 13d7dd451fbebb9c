//! Reading the streams: a company's activity feed (members only, each event only to those
//! who may read its target) and a user's own notifications.

use std::sync::Arc;

use uuid::Uuid;

use super::access;
use super::model::{EventRow, NotificationRow};
use super::store::{self, FeedFilter};
use crate::app::App;
use crate::auth::caller::Caller;
use crate::db::scope::Scope;
use crate::db::tx;
use crate::error::{AppError, AppResult};
use crate::rbac::standing::{Standing, standing_of};

/// One page of a stream, newest first.
#[derive(Debug)]
pub struct StreamPage<T> {
    pub items: Vec<T>,
    pub has_next: bool,
    /// Rows in the whole (filtered) stream; counted only when asked for, else 0.
    pub total: i64,
}

/// How far back a page reaches.
#[derive(Debug, Clone, Copy)]
pub struct StreamRequest {
    pub size: i64,
    pub before: Option<i64>,
    /// Whether the client asked for the total (counting a long stream costs a scan).
    pub count_total: bool,
}

impl StreamRequest {
    /// How many rows to read: one more than the page, to learn whether another follows.
    fn probe(self) -> i64 {
        self.size + 1
    }

    /// The page cut from rows read by [`Self::probe`], with the total if it was counted.
    fn cut<T>(self, mut rows: Vec<T>, total: Option<i64>) -> StreamPage<T> {
        let has_next = rows.len() as i64 > self.size;
        rows.truncate(usize::try_from(self.size).unwrap_or(0));
        StreamPage {
            items: rows,
            has_next,
            total: total.unwrap_or(0),
        }
    }
}

/// The caller's remembered standing, or why they do not reach the company.
pub async fn standing(app: &App, caller: &Caller, company_id: Uuid) -> AppResult<Arc<Standing>> {
    let actor = caller.acting()?;
    let standing = standing_of(app, actor).await?;
    standing.reach(company_id)?;
    Ok(standing)
}

/// The company's activity the caller may read, newest first.
pub async fn company_activity(
    app: &App,
    caller: &Caller,
    company_id: Uuid,
    project_id: Option<Uuid>,
    actor_id: Option<Uuid>,
    page: StreamRequest,
) -> AppResult<StreamPage<EventRow>> {
    let standing = standing(app, caller, company_id).await?;
    let (readable, readable_in_projects) = access::readable(&standing, company_id);
    let filter = FeedFilter {
        project_id,
        actor_id,
        readable,
        readable_in_projects,
    };
    tx::read(app, caller.scope(), async |conn| {
        let rows = store::feed_page(conn, company_id, &filter, page.before, page.probe()).await?;
        let total = if page.count_total {
            Some(store::feed_count(conn, company_id, &filter).await?)
        } else {
            None
        };
        Ok(page.cut(rows, total))
    })
    .await
}

/// The caller's notifications, newest first.
pub async fn my_notifications(
    app: &App,
    caller: &Caller,
    unread_only: bool,
    page: StreamRequest,
) -> AppResult<StreamPage<NotificationRow>> {
    let actor = caller.signed_in()?.user_id;
    tx::read(app, Scope::Person(actor), async |conn| {
        let rows = store::notifications_page(conn, actor, unread_only, page.before, page.probe()).await?;
        let total = if page.count_total {
            Some(store::notification_count(conn, actor, unread_only).await?)
        } else {
            None
        };
        Ok(page.cut(rows, total))
    })
    .await
}

/// How many of the caller's notifications are unread.
pub async fn unread_count(app: &App, caller: &Caller) -> AppResult<i64> {
    let actor = caller.signed_in()?.user_id;
    tx::read(app, Scope::Person(actor), async |conn| {
        Ok(store::notification_count(conn, actor, true).await?)
    })
    .await
}

/// Marks one of the caller's notifications read; another person's is NOT_FOUND.
pub async fn mark_read(app: &App, caller: &Caller, id: Uuid) -> AppResult<NotificationRow> {
    let actor = caller.signed_in()?.user_id;
    tx::read(app, Scope::Person(actor), async |conn| {
        store::mark_read(conn, actor, id, app.clock.now())
            .await?
            .ok_or_else(|| AppError::not_found("notification"))
    })
    .await
}

/// Marks all the caller's notifications read; returns how many were unread.
pub async fn mark_all_read(app: &App, caller: &Caller) -> AppResult<usize> {
    let actor = caller.signed_in()?.user_id;
    tx::read(app, Scope::Person(actor), async |conn| {
        Ok(store::mark_all_read(conn, actor, app.clock.now()).await?)
    })
    .await
}
