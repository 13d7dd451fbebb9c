//! Cycle rules: ISO dates, start before end, no overlap within a project, closing and
//! reopening need cycle:manage, nothing changes in an archived project.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use futures_util::FutureExt;
use serde_json::json;
use uuid::Uuid;

use super::model::{CycleRow, NewCycle};
use super::store;
use crate::app::App;
use crate::auth::caller::{Actor, Caller};
use crate::db::tx::{self, Change, Touches};
use crate::error::{AppError, AppResult, InputCheck};
use crate::events::verb::Verb;
use crate::events::write::{self, Activity, Notice};
use crate::input;
use crate::projects::access::project_member;
use crate::projects::model::ProjectRow;
use crate::rbac::catalog::{Action, Resource};
use crate::rows::recalculate;
use crate::tables::store as table_store;

/// Adds a cycle to a project (cycle:create); CONFLICT when it overlaps another.
pub async fn create_cycle(
    app: &App,
    caller: &Caller,
    project_id: Uuid,
    name: &str,
    starts_on: &str,
    ends_on: &str,
) -> AppResult<(CycleRow, ProjectRow)> {
    caller.acting()?;
    let mut check = InputCheck::default();
    let name = check.take(input::text(name, "name", 1, 100));
    let starts = check.take(input::date(starts_on, "startsOn"));
    let ends = check.take(input::date(ends_on, "endsOn"));
    if let (Some(starts), Some(ends)) = (starts, ends)
        && starts >= ends
    {
        check.take::<()>(Err(AppError::invalid("endsOn", "must be after startsOn")));
    }
    tx::write(
        app,
        caller,
        Touches::ROWS,
        |Change { conn, actor, now, .. }| {
            async move {
                let (project, member) = project_member(conn, project_id, actor, true).await?;
                member.require(Resource::Cycle, Action::Create)?;
                if project.archived_at.is_some() {
                    return Err(AppError::conflict(
                        "the project is archived; restore it to change it",
                    ));
                }
                check.finish()?;
                let (Some(name), Some(starts_on), Some(ends_on)) = (name, starts, ends) else {
                    return Err(AppError::internal(anyhow::anyhow!(
                        "input check passed without values"
                    )));
                };
                let cycle = NewCycle {
                    id: Uuid::new_v4(),
                    project_id: project.id,
                    name: &name,
                    starts_on,
                    ends_on,
                    created_at: now,
                };
                match store::insert(conn, &cycle).await {
                    Ok(row) => {
                        let activity = Activity::new(
                            project.company_id,
                            Some(actor),
                            Verb::CycleCreated,
                            ("cycle", row.id),
                            format!(
                                "Cycle {} ({} to {}) added to {}",
                                row.name, row.starts_on, row.ends_on, project.name
                            ),
                        )
                        .in_project(project.id)
                        .data(json!({ "name": row.name, "startsOn": row.starts_on, "endsOn": row.ends_on }));
                        write::record(conn, now, activity).await?;
                        Ok((row, project))
                    }
                    Err(err) if store::is_overlap(&err) => Err(AppError::conflict(
                        "the dates overlap another cycle of this project",
                    )),
                    Err(err) => Err(err.into()),
                }
            }
            .boxed()
        },
    )
    .await
}

/// Closes (`close`) or reopens a cycle (cycle:manage).
pub async fn set_closed(
    app: &App,
    caller: &Caller,
    cycle_id: Uuid,
    close: bool,
) -> AppResult<(CycleRow, ProjectRow)> {
    tx::write(
        app,
        caller,
        Touches::CALCULATION,
        |Change { conn, actor, now, .. }| {
            async move {
                let cycle = store::find_for(conn, cycle_id, actor)
                    .await?
                    .ok_or_else(|| AppError::not_found("cycle"))?;
                let (project, member) = project_member(conn, cycle.project_id, actor, true).await?;
                member.require(Resource::Cycle, Action::Manage)?;
                if project.archived_at.is_some() {
                    return Err(AppError::conflict(
                        "the project is archived; restore it to change it",
                    ));
                }
                let closed_at = if close {
                    Some(cycle.closed_at.unwrap_or(now))
                } else {
                    None
                };
                let updated = store::set_closed(conn, cycle.id, closed_at).await?;
                if cycle.closed_at.is_some() != close {
                    record_closing(conn, now, actor, &project, &updated).await?;
                }
                if cycle.closed_at.is_some() && !close {
                    // Its rows kept the figures they were closed with; they catch up now.
                    let reason = format!("cycle {} reopened", updated.name);
                    for table_id in table_store::formula_fields(conn, Some(project.company_id))
                        .await?
                        .into_iter()
                        .filter(|formula| formula.project_id == project.id)
                        .map(|formula| formula.table_id)
                        .collect::<BTreeSet<_>>()
                    {
                        recalculate::request(conn, (project.company_id, project.id, table_id), &reason, now)
                            .await?;
                    }
                }
                Ok((updated, project))
            }
            .boxed()
        },
    )
    .await
}

/// The event of a cycle closing or reopening; on closing, a notification to every member
/// who has rows in it (except whoever closed it).
async fn record_closing(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    actor: Actor,
    project: &ProjectRow,
    cycle: &CycleRow,
) -> AppResult<()> {
    let closed = cycle.closed_at.is_some();
    let (verb, summary) = if closed {
        (
            Verb::CycleClosed,
            format!(
                "Cycle {} of {} closed: its rows are read-only",
                cycle.name, project.name
            ),
        )
    } else {
        (
            Verb::CycleReopened,
            format!("Cycle {} of {} reopened", cycle.name, project.name),
        )
    };
    let activity = Activity::new(
        project.company_id,
        Some(actor),
        verb,
        ("cycle", cycle.id),
        summary,
    )
    .in_project(project.id)
    .data(json!({ "name": cycle.name, "closed": closed }));
    write::record(conn, now, activity).await?;
    if !closed {
        return Ok(());
    }
    let notices = store::row_authors_in_cycle(conn, project.company_id, cycle.id)
        .await?
        .into_iter()
        .filter(|user| Some(*user) != actor.user_id())
        .map(|user_id| Notice {
            user_id,
            company_id: Some(project.company_id),
            kind: "cycle.closed",
            title: format!("Cycle {} was closed", cycle.name),
            body: format!(
                "Rows you added to {} in cycle {} are now read-only.",
                project.name, cycle.name
            ),
            link: None,
        })
        .collect();
    write::notify(conn, now, notices).await
}

/// The project's cycles in date order (cycle:view).
pub async fn list_cycles(
    app: &App,
    caller: &Caller,
    project_id: Uuid,
) -> AppResult<(Vec<CycleRow>, ProjectRow)> {
    let actor = caller.acting()?;
    tx::read(app, actor.scope(), async |conn| {
        let (project, member) = project_member(conn, project_id, actor, false).await?;
        member.require(Resource::Cycle, Action::View)?;
        Ok((store::list(conn, project.id).await?, project))
    })
    .await
}
