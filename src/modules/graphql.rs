//! GraphQL face of modules.

use async_graphql::{Context, ID, MaybeUndefined, Object, Result};

use super::model::ModuleRow;
use super::service::{self, ModuleInput};
use crate::graphql::context::{app, caller, parse_id, presence};
use crate::projects::graphql::Project;
use crate::projects::model::ProjectRow;

/// A section of a project.
pub struct Module {
    row: ModuleRow,
    project: ProjectRow,
}

impl Module {
    /// A module with the project it belongs to.
    pub fn new(row: ModuleRow, project: ProjectRow) -> Self {
        Self { row, project }
    }
}

#[Object]
impl Module {
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }

    async fn project(&self) -> Project {
        Project::new(self.project.clone())
    }

    async fn name(&self) -> &str {
        &self.row.name
    }

    async fn description(&self) -> Option<&str> {
        self.row.description.as_deref()
    }

    /// 1, 2 or 3 (e.g. GHG Protocol scopes), or null.
    async fn scope(&self) -> Option<i32> {
        self.row.scope
    }

    /// 0-based, dense within the project.
    async fn position(&self) -> i32 {
        self.row.position
    }
}

/// Module mutations.
#[derive(Default)]
pub struct ModulesMutation;

#[Object]
impl ModulesMutation {
    /// Adds a module at the end of the project's list (module:create).
    async fn create_module(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        name: String,
        description: Option<String>,
        scope: Option<i32>,
    ) -> Result<Module> {
        let project_id = parse_id(&project_id, "project")?;
        let (row, project) =
            service::create_module(app(ctx), caller(ctx), project_id, &name, description, scope).await?;
        Ok(Module::new(row, project))
    }

    /// Edits a module; `position` moves it and the others close up (module:edit).
    async fn update_module(
        &self,
        ctx: &Context<'_>,
        id: ID,
        name: Option<String>,
        description: MaybeUndefined<String>,
        scope: MaybeUndefined<i32>,
        position: Option<i32>,
    ) -> Result<Module> {
        let input = ModuleInput {
            name,
            description: presence(description),
            scope: presence(scope),
            position,
        };
        let (row, project) =
            service::update_module(app(ctx), caller(ctx), parse_id(&id, "module")?, input).await?;
        Ok(Module::new(row, project))
    }

    /// Deletes a module (module:delete).
    async fn delete_module(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        service::delete_module(app(ctx), caller(ctx), parse_id(&id, "module")?).await?;
        Ok(true)
    }
}
