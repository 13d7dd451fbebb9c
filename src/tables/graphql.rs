//! GraphQL face of data tables: `DataTable`, `DataField`, schema history, and the table
//! and field mutations.

use std::sync::Arc;

use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object, Result};
use chrono::{DateTime, Utc};

use super::fields::FieldDraft;
use super::loader::FieldsLoader;
use super::model::{FieldRow, FieldType, SchemaChangeRow, TableRow};
use super::service::{self, NewTableInput};
use crate::graphql::connection::{PageConnection, connection};
use crate::graphql::context::{app, authorizer, caller, loader, parse_id, presence};
use crate::modules::graphql::Module;
use crate::modules::loader::ModuleLoader;
use crate::pagination::{Cursor, PageRequest};
use crate::projects::graphql::Project;
use crate::projects::model::ProjectRow;
use crate::rows::graphql::{DataRowConnection, Import, Recalculation, SummaryGroup, SummaryMetricInput};
use crate::rows::loader::FirstRowsLoader;
use crate::rows::service::{self as row_service, RowListArgs};
use crate::rows::{import, recalculate};
use crate::users::graphql::User;
use crate::users::loader::UserLoader;

/// A user-defined table of a project.
pub struct DataTable {
    row: TableRow,
    project: ProjectRow,
}

impl DataTable {
    /// A table with the project it belongs to.
    pub fn new(row: TableRow, project: ProjectRow) -> Self {
        Self { row, project }
    }
}

// Serial: lists of these resolve their items concurrently already, so parallel fields
// add a task set per object and no batching.
#[Object(serial)]
impl DataTable {
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }

    async fn project(&self) -> Project {
        Project::new(self.project.clone())
    }

    /// The module the table sits in, if any.
    async fn module(&self, ctx: &Context<'_>) -> Result<Option<Module>> {
        let Some(module_id) = self.row.module_id else {
            return Ok(None);
        };
        let module = loader::<ModuleLoader>(ctx).load_one(module_id).await?;
        Ok(module.map(|m| Module::new(m, self.project.clone())))
    }

    async fn name(&self) -> &str {
        &self.row.name
    }

    async fn description(&self) -> Option<&str> {
        self.row.description.as_deref()
    }

    /// Bumped by every field change.
    async fn schema_version(&self) -> i32 {
        self.row.schema_version
    }

    /// Bumped by every change formulas depend on (a formula or field, an emission factor
    /// version); rows computed at an earlier one await the background recalculation.
    async fn calc_version(&self) -> i32 {
        self.row.calc_version
    }

    /// The background recalculation of the table's formula values under way, if one is.
    async fn recalculation(&self, ctx: &Context<'_>) -> Result<Option<Recalculation>> {
        Ok(recalculate::under_way(app(ctx), caller(ctx).scope(), self.row.id)
            .await?
            .map(Recalculation))
    }

    /// The columns, in order.
    async fn fields(&self, ctx: &Context<'_>) -> Result<Vec<DataField>> {
        let rows = loader::<FieldsLoader>(ctx)
            .load_one(self.row.id)
            .await?
            .unwrap_or_default();
        Ok(rows.into_iter().map(DataField).collect())
    }

    /// The rows (of one cycle, if given) grouped by the values of `groupBy` (at most 3
    /// fields) and aggregated by `metrics` (1 to 10), computed in SQL with exact decimals;
    /// at most 1,000 groups. SUM, AVG, MIN and MAX take number fields (formulas computing
    /// numbers included), COUNT any field. Restricted fields need table:manage.
    async fn summary(
        &self,
        ctx: &Context<'_>,
        cycle_id: Option<ID>,
        group_by: Option<Vec<String>>,
        metrics: Vec<SummaryMetricInput>,
    ) -> Result<Vec<SummaryGroup>> {
        let cycle_id = cycle_id.as_ref().map(|id| parse_id(id, "cycle")).transpose()?;
        let metrics = metrics.into_iter().map(SummaryMetricInput::parse).collect();
        let groups = row_service::table_summary(
            app(ctx),
            caller(ctx),
            self.row.id,
            cycle_id,
            group_by.unwrap_or_default(),
            metrics,
        )
        .await?;
        Ok(groups.into_iter().map(SummaryGroup).collect())
    }

    /// The table's rows: `filter` is `{ key: { eq | ne | lt | lte | gt | gte | in | contains |
    /// isNull: operand } }` (all combined with AND); `orderBy` is "key" or "-key" (then id);
    /// `updatedSince` keeps the rows written after that instant (a sync's last run).
    #[graphql(complexity = "crate::graphql::connection::page_cost(first, child_complexity)")]
    #[expect(
        clippy::too_many_arguments,
        reason = "a resolver takes its field's GraphQL arguments as the schema has them"
    )]
    async fn rows(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        cycle_id: Option<ID>,
        filter: Option<Json<serde_json::Value>>,
        order_by: Option<String>,
        updated_since: Option<DateTime<Utc>>,
    ) -> Result<DataRowConnection> {
        let args = RowListArgs {
            cycle_id: cycle_id.as_ref().map(|id| parse_id(id, "cycle")).transpose()?,
            filter: filter.map(|f| f.0),
            order_by,
            first,
            after,
            updated_since,
        };
        let default_list = args.filter.is_none()
            && args.order_by.is_none()
            && args.after.is_none()
            && args.cycle_id.is_none()
            && args.updated_since.is_none();
        let rows = if default_list {
            // The common case, a first page, comes from one query for every table listed.
            let actor = caller(ctx).acting()?;
            let page = PageRequest::parse(args.first, None)?;
            let permissions = authorizer(ctx)?
                .project_permissions(self.project.company_id, self.project.id)
                .await?;
            let fields = loader::<FieldsLoader>(ctx)
                .load_one(self.row.id)
                .await?
                .unwrap_or_default();
            let rows = loader::<FirstRowsLoader>(ctx)
                .load_one((self.row.id, page.limit()))
                .await?
                .unwrap_or_default();
            row_service::first_page(actor.scope(), permissions, &fields, rows, page, self.row.id)?
        } else {
            row_service::list_rows(app(ctx), caller(ctx), self.row.id, args).await?
        };
        Ok(DataRowConnection::new(
            rows,
            Arc::new((self.row.clone(), self.project.clone())),
        ))
    }

    /// CSV imports into the table, oldest first: who, when, how many lines went in.
    #[graphql(complexity = "crate::graphql::connection::page_cost(first, child_complexity)")]
    async fn imports(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PageConnection<Import>> {
        let page = PageRequest::parse(first, after.as_deref())?;
        let rows = import::list_imports(app(ctx), caller(ctx), self.row.id, page).await?;
        Ok(connection(
            rows,
            page.after.is_some(),
            |row| Cursor {
                at: row.created_at,
                id: row.id,
            },
            Import,
        ))
    }

    /// Every field change, oldest first: who, when, and the field before and after.
    #[graphql(complexity = "crate::graphql::connection::page_cost(first, child_complexity)")]
    async fn schema_changes(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PageConnection<SchemaChange>> {
        let page = PageRequest::parse(first, after.as_deref())?;
        let rows = service::schema_changes(app(ctx), caller(ctx), self.row.id, page).await?;
        Ok(connection(
            rows,
            page.after.is_some(),
            |row| Cursor {
                at: row.created_at,
                id: row.id,
            },
            SchemaChange,
        ))
    }
}

/// A column definition.
pub struct DataField(FieldRow);

// Serial: lists of these resolve their items concurrently already, so parallel fields
// add a task set per object and no batching.
#[Object(serial)]
impl DataField {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// lower-case snake_case, unique in the table: the key of the value in each row.
    async fn key(&self) -> &str {
        &self.0.key
    }

    async fn label(&self) -> &str {
        &self.0.label
    }

    #[graphql(name = "type")]
    async fn field_type(&self) -> FieldType {
        FieldType::parse(&self.0.field_type).unwrap_or(FieldType::Text)
    }

    async fn required(&self) -> bool {
        self.0.required
    }

    async fn unique(&self) -> bool {
        self.0.is_unique
    }

    async fn position(&self) -> i32 {
        self.0.position
    }

    /// Choices of a select field.
    async fn options(&self) -> Option<Vec<String>> {
        self.0
            .options
            .as_ref()
            .and_then(|o| serde_json::from_value(o.clone()).ok())
    }

    async fn min(&self) -> Option<f64> {
        self.0.min_value
    }

    async fn max(&self) -> Option<f64> {
        self.0.max_value
    }

    async fn pattern(&self) -> Option<&str> {
        self.0.pattern.as_deref()
    }

    async fn reference_table_id(&self) -> Option<ID> {
        self.0.reference_table_id.map(|id| ID(id.to_string()))
    }

    /// For FORMULA fields, e.g. "quantity * factor('diesel_litres')".
    async fn formula(&self) -> Option<&str> {
        self.0.formula.as_deref()
    }

    /// Values hidden from roles without table:manage on this table.
    async fn restricted(&self) -> bool {
        self.0.restricted
    }

    /// What the values are measured in, e.g. "litre", "kWh", "kg CO2e".
    async fn unit(&self) -> Option<&str> {
        self.0.unit.as_deref()
    }

    /// Whether `Project.summary` adds the field up by module scope.
    async fn total(&self) -> bool {
        self.0.total
    }
}

/// One change to a table's schema.
pub struct SchemaChange(SchemaChangeRow);

#[Object]
impl SchemaChange {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// field_added, field_updated or field_removed.
    async fn change(&self) -> &str {
        &self.0.change
    }

    async fn field_key(&self) -> &str {
        &self.0.field_key
    }

    async fn before(&self) -> Option<Json<serde_json::Value>> {
        self.0.before.clone().map(Json)
    }

    async fn after(&self) -> Option<Json<serde_json::Value>> {
        self.0.after.clone().map(Json)
    }

    /// The table's schema version this change produced.
    async fn schema_version(&self) -> i32 {
        self.0.schema_version
    }

    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(actor) = self.0.actor_id else {
            return Ok(None);
        };
        Ok(loader::<UserLoader>(ctx).load_one(actor).await?.map(User::new))
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A column definition as submitted.
#[derive(InputObject)]
pub struct FieldInput {
    key: String,
    label: String,
    #[graphql(name = "type")]
    field_type: FieldType,
    required: Option<bool>,
    unique: Option<bool>,
    options: Option<Vec<String>>,
    min: Option<f64>,
    max: Option<f64>,
    pattern: Option<String>,
    reference_table_id: Option<ID>,
    formula: Option<String>,
    restricted: Option<bool>,
    /// What the values are measured in, e.g. "litre", "kWh", "kg CO2e" (numbers and formulas).
    unit: Option<String>,
    /// Add the field up in `Project.summary` by module scope (numbers and formulas).
    total: Option<bool>,
}

impl FieldInput {
    fn into_draft(self) -> Result<FieldDraft> {
        Ok(FieldDraft {
            key: self.key,
            label: self.label,
            field_type: Some(self.field_type),
            required: self.required,
            unique: self.unique,
            options: self.options,
            min: self.min,
            max: self.max,
            pattern: self.pattern,
            reference_table_id: self
                .reference_table_id
                .as_ref()
                .map(|id| parse_id(id, "referenced table"))
                .transpose()?,
            formula: self.formula,
            restricted: self.restricted,
            unit: self.unit,
            total: self.total,
        })
    }
}

/// Table queries.
#[derive(Default)]
pub struct TablesQuery;

#[Object]
impl TablesQuery {
    /// A table of a company the caller belongs to; NOT_FOUND for any other id.
    async fn data_table(&self, ctx: &Context<'_>, id: ID) -> Result<Option<DataTable>> {
        let (row, project) = service::get_table(app(ctx), caller(ctx), parse_id(&id, "table")?).await?;
        Ok(Some(DataTable::new(row, project)))
    }
}

/// Table and field mutations.
#[derive(Default)]
pub struct TablesMutation;

#[Object]
impl TablesMutation {
    /// Creates a table with its first fields (table:create).
    async fn create_data_table(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        module_id: Option<ID>,
        name: String,
        description: Option<String>,
        fields: Option<Vec<FieldInput>>,
    ) -> Result<DataTable> {
        let new = NewTableInput {
            project_id: parse_id(&project_id, "project")?,
            module_id: module_id.as_ref().map(|id| parse_id(id, "module")).transpose()?,
            name,
            description,
            fields: fields
                .unwrap_or_default()
                .into_iter()
                .map(FieldInput::into_draft)
                .collect::<Result<_>>()?,
        };
        let (row, project) = service::create_table(app(ctx), caller(ctx), new).await?;
        Ok(DataTable::new(row, project))
    }

    /// Renames or re-describes a table (table:edit).
    async fn update_data_table(
        &self,
        ctx: &Context<'_>,
        id: ID,
        name: Option<String>,
        description: MaybeUndefined<String>,
    ) -> Result<DataTable> {
        let table_id = parse_id(&id, "table")?;
        let (row, project) =
            service::update_table(app(ctx), caller(ctx), table_id, name, presence(description)).await?;
        Ok(DataTable::new(row, project))
    }

    /// Deletes a table (table:delete; CONFLICT while other tables reference it).
    async fn delete_data_table(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        service::delete_table(app(ctx), caller(ctx), parse_id(&id, "table")?).await?;
        Ok(true)
    }

    /// Adds a field (table:manage); the schema version goes up and the change is recorded.
    async fn add_field(&self, ctx: &Context<'_>, table_id: ID, field: FieldInput) -> Result<DataField> {
        let table_id = parse_id(&table_id, "table")?;
        let row = service::add_field(app(ctx), caller(ctx), table_id, field.into_draft()?).await?;
        Ok(DataField(row))
    }

    /// Replaces a field's definition (table:manage).
    async fn update_field(&self, ctx: &Context<'_>, id: ID, field: FieldInput) -> Result<DataField> {
        let field_id = parse_id(&id, "field")?;
        let row = service::update_field(app(ctx), caller(ctx), field_id, field.into_draft()?).await?;
        Ok(DataField(row))
    }

    /// Removes a field (table:manage).
    async fn remove_field(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        service::remove_field(app(ctx), caller(ctx), parse_id(&id, "field")?).await?;
        Ok(true)
    }
}
