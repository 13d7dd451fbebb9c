//! GraphQL face of reporting cycles.

use async_graphql::{Context, Enum, ID, Object, Result};

use super::model::CycleRow;
use super::service;
use crate::graphql::context::{app, caller, parse_id};
use crate::projects::graphql::Project;
use crate::projects::model::ProjectRow;

/// Whether a cycle still takes data.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum CycleStatus {
    Open,
    Closed,
}

/// A reporting period of a project.
pub struct Cycle {
    row: CycleRow,
    project: ProjectRow,
}

impl Cycle {
    /// A cycle with the project it belongs to.
    pub fn new(row: CycleRow, project: ProjectRow) -> Self {
        Self { row, project }
    }
}

#[Object]
impl Cycle {
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }

    async fn project(&self) -> Project {
        Project::new(self.project.clone())
    }

    async fn name(&self) -> &str {
        &self.row.name
    }

    /// First day, ISO 8601 (inclusive).
    async fn starts_on(&self) -> String {
        self.row.starts_on.to_string()
    }

    /// Last day, ISO 8601 (inclusive).
    async fn ends_on(&self) -> String {
        self.row.ends_on.to_string()
    }

    async fn status(&self) -> CycleStatus {
        if self.row.closed_at.is_some() {
            CycleStatus::Closed
        } else {
            CycleStatus::Open
        }
    }
}

/// Cycle mutations.
#[derive(Default)]
pub struct CyclesMutation;

#[Object]
impl CyclesMutation {
    /// Adds a cycle (cycle:create); CONFLICT when it overlaps another of the project.
    async fn create_cycle(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        name: String,
        starts_on: String,
        ends_on: String,
    ) -> Result<Cycle> {
        let project_id = parse_id(&project_id, "project")?;
        let (row, project) =
            service::create_cycle(app(ctx), caller(ctx), project_id, &name, &starts_on, &ends_on).await?;
        Ok(Cycle::new(row, project))
    }

    /// Closes a cycle: its data becomes read-only (cycle:manage).
    async fn close_cycle(&self, ctx: &Context<'_>, id: ID) -> Result<Cycle> {
        let (row, project) =
            service::set_closed(app(ctx), caller(ctx), parse_id(&id, "cycle")?, true).await?;
        Ok(Cycle::new(row, project))
    }

    /// Reopens a closed cycle (cycle:manage).
    async fn reopen_cycle(&self, ctx: &Context<'_>, id: ID) -> Result<Cycle> {
        let (row, project) =
            service::set_closed(app(ctx), caller(ctx), parse_id(&id, "cycle")?, false).await?;
        Ok(Cycle::new(row, project))
    }
}
