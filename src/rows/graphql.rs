//! GraphQL face of rows: `DataRow`, the rows connection, `dataRow`, and the row mutations.

use std::sync::{Arc, LazyLock};

use async_graphql::connection::PageInfo;
use async_graphql::{
    Context, Enum, ID, InputObject, InputValueError, InputValueResult, Json, Name, Object, Result, Scalar,
    ScalarType, Upload, Value,
};
use async_graphql_value::RAW_VALUE_TOKEN;
use async_graphql_value::indexmap::IndexMap;
use chrono::{DateTime, Utc};

use super::edges::RowEdges;
use super::loader::CalculatorLoader;
use super::model::{ImportRow, RecalculationRow, RowRecord};
use super::query::Order;
use super::service::{self, RowCounter, RowPage};
use super::store::Aggregate;
use super::{export, import};
use crate::api_keys::graphql::ApiKey;
use crate::cycles::graphql::Cycle;
use crate::cycles::loader::CycleLoader;
use crate::error::AppError;
use crate::graphql::context::{app, caller, loader, parse_id};
use crate::graphql::import_result::{ImportResult, RowError};
use crate::projects::model::ProjectRow;
use crate::tables::graphql::DataTable;
use crate::tables::loader::TableLoader;
use crate::tables::model::TableRow;
use crate::users::graphql::User;
use crate::users::loader::UserLoader;

/// Values as the database returned them (JSON text), turned into the response directly.
pub struct StoredJson(pub String);

/// Any JSON value.
#[Scalar(name = "JSON")]
impl ScalarType for StoredJson {
    fn parse(value: Value) -> InputValueResult<Self> {
        let json = value.into_json().map_err(InputValueError::custom)?;
        Ok(Self(json.to_string()))
    }

    /// The text goes into the response as it is (serde_json's raw value), not parsed into
    /// a value tree and written out again.
    fn to_value(&self) -> Value {
        Self::raw(self.0.clone())
    }
}

/// The key serde_json recognises as raw JSON text, made once.
static RAW_VALUE_KEY: LazyLock<Name> = LazyLock::new(|| Name::new(RAW_VALUE_TOKEN));

impl StoredJson {
    /// The value that writes `json` (valid JSON text) into a response as it is.
    pub fn raw(json: String) -> Value {
        let mut raw = IndexMap::with_capacity(1);
        raw.insert(RAW_VALUE_KEY.clone(), Value::String(json));
        Value::Object(raw)
    }
}

/// The table and project a set of rows belongs to, shared by all of them.
pub type TableOf = Arc<(TableRow, ProjectRow)>;

/// One row of a data table.
pub struct DataRow {
    record: RowRecord,
    /// Its table with the project, when the row came with them (None: loaded on demand).
    table: Option<TableOf>,
}

impl DataRow {
    /// A row of `table`.
    pub fn new(record: RowRecord, table: TableOf) -> Self {
        Self {
            record,
            table: Some(table),
        }
    }

    /// A row read on its own: its table is loaded only when a field asks for it.
    pub fn alone(record: RowRecord) -> Self {
        Self { record, table: None }
    }

    async fn table_of(&self, ctx: &Context<'_>) -> Result<TableOf> {
        if let Some(table) = &self.table {
            return Ok(table.clone());
        }
        loader::<TableLoader>(ctx)
            .load_one(self.record.table_id)
            .await?
            .ok_or_else(|| AppError::not_found("table").into())
    }

    /// The row as stored (restricted values already left out).
    pub fn record(&self) -> &RowRecord {
        &self.record
    }
}

// Fields resolve one after another: they are cheap, and a page of rows then costs no
// task set per object (async-graphql's parallel default).
#[Object(serial)]
impl DataRow {
    async fn id(&self) -> ID {
        ID(self.record.id.to_string())
    }

    async fn table(&self, ctx: &Context<'_>) -> Result<DataTable> {
        let table = self.table_of(ctx).await?;
        Ok(DataTable::new(table.0.clone(), table.1.clone()))
    }

    /// The reporting cycle the row belongs to, if any.
    async fn cycle(&self, ctx: &Context<'_>) -> Result<Option<Cycle>> {
        let Some(cycle_id) = self.record.cycle_id else {
            return Ok(None);
        };
        let cycle = loader::<CycleLoader>(ctx).load_one(cycle_id).await?;
        let Some(cycle) = cycle else {
            return Ok(None);
        };
        Ok(Some(Cycle::new(cycle, self.table_of(ctx).await?.1.clone())))
    }

    /// Field key → value (restricted fields are left out for readers without table:manage).
    async fn values(&self) -> StoredJson {
        StoredJson(self.record.cells.clone())
    }

    /// For a table with formula fields: per formula field (that the reader may see), the
    /// table's `calcVersion` its value was computed at and whether that is the current one;
    /// when it is, the formula, the day factors were taken on (the row's first date field,
    /// else its cycle's last day, else the day it was written) and each factor version used
    /// (null when none was in effect). `current: false` while a background recalculation
    /// has not reached the row yet. Null for a table without formulas.
    async fn computed_with(&self, ctx: &Context<'_>) -> Result<Option<Json<serde_json::Value>>> {
        let table = self.table_of(ctx).await?;
        let calculator = loader::<CalculatorLoader>(ctx)
            .load_one((table.0.id, table.1.company_id))
            .await?;
        let Some(calculator) = calculator.as_deref().and_then(Option::as_ref) else {
            return Ok(None);
        };
        let day = match self.record.cycle_id {
            Some(cycle) => loader::<CycleLoader>(ctx)
                .load_one(cycle)
                .await?
                .map(|c| c.ends_on),
            None => None,
        }
        .unwrap_or_else(|| self.record.created_at.date_naive());
        let cells = match serde_json::from_str(&self.record.cells) {
            Ok(serde_json::Value::Object(cells)) => cells,
            _ => serde_json::Map::new(),
        };
        let versions = (self.record.calc_version, table.0.calc_version);
        Ok(Some(Json(calculator.computed_with(&cells, day, versions))))
    }

    /// Goes up by one with every update; send it back as `expectedVersion`.
    async fn version(&self) -> i32 {
        self.record.version
    }

    async fn created_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(user_id) = self.record.created_by else {
            return Ok(None);
        };
        Ok(loader::<UserLoader>(ctx).load_one(user_id).await?.map(User::new))
    }

    /// The API key that added the row, when an integration did.
    async fn created_by_api_key(&self, ctx: &Context<'_>) -> Result<Option<ApiKey>> {
        ApiKey::load(ctx, self.record.created_by_api_key).await
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.record.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.record.updated_at
    }
}

/// An edge of a row list. Its cursor is written only when asked for: a field-ordered
/// cursor has to read the row's values.
pub struct DataRowEdge {
    pub(super) node: DataRow,
    pub(super) order: Arc<Order>,
}

// Fields resolve one after another: they are cheap, and a page of rows then costs no
// task set per object (async-graphql's parallel default).
#[Object(serial)]
impl DataRowEdge {
    async fn cursor(&self) -> String {
        service::cursor_of(&self.node.record, &self.order).encode()
    }

    async fn node(&self) -> &DataRow {
        &self.node
    }
}

/// A page of a table's rows.
pub struct DataRowConnection {
    edges: RowEdges,
    page_info: PageInfo,
    counter: RowCounter,
}

impl DataRowConnection {
    /// The connection for one page of `table`'s rows.
    pub fn new(rows: RowPage, table: TableOf) -> Self {
        let RowPage {
            page,
            order,
            had_cursor,
            counter,
        } = rows;
        let cursor = |record: &RowRecord| service::cursor_of(record, &order).encode();
        let page_info = PageInfo {
            has_previous_page: had_cursor,
            has_next_page: page.has_next,
            start_cursor: page.items.first().map(cursor),
            end_cursor: page.items.last().map(cursor),
        };
        let order = Arc::new(order);
        let edges: Vec<DataRowEdge> = page
            .items
            .into_iter()
            .map(|record| DataRowEdge {
                node: DataRow::new(record, table.clone()),
                order: order.clone(),
            })
            .collect();
        Self {
            edges: RowEdges(edges),
            page_info,
            counter,
        }
    }
}

// Fields resolve one after another: they are cheap, and a page of rows then costs no
// task set per object (async-graphql's parallel default).
#[Object(serial)]
impl DataRowConnection {
    async fn edges(&self) -> &RowEdges {
        &self.edges
    }

    async fn nodes(&self) -> Vec<&DataRow> {
        self.edges.0.iter().map(|e| &e.node).collect()
    }

    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }

    /// Rows in the whole filtered list (counted only when asked for).
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let count = self.counter.count(app(ctx)).await?;
        Ok(i32::try_from(count).unwrap_or(i32::MAX))
    }
}

/// What an import does with good lines when some are bad.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum ImportMode {
    /// Store nothing unless every line is good (the default).
    AllOrNothing,
    /// Store the good lines and report the bad ones.
    SkipInvalid,
}

impl From<ImportMode> for import::ImportMode {
    fn from(mode: ImportMode) -> Self {
        match mode {
            ImportMode::AllOrNothing => Self::AllOrNothing,
            ImportMode::SkipInvalid => Self::SkipInvalid,
        }
    }
}

/// A background recalculation of a table's formula values: what asked for it and how far
/// it has come (rows are walked oldest first, 1,000 per transaction).
pub struct Recalculation(pub RecalculationRow);

#[Object]
impl Recalculation {
    /// What changed, e.g. "field co2e_kg changed", "factor diesel_litre".
    async fn reason(&self) -> &str {
        &self.0.reason
    }

    /// The table's `calcVersion` it brings the rows to.
    async fn calc_version(&self) -> i32 {
        self.0.calc_version
    }

    async fn requested_at(&self) -> DateTime<Utc> {
        self.0.requested_at
    }

    /// Rows the table held when it was asked for.
    async fn total(&self) -> i32 {
        i32::try_from(self.0.total).unwrap_or(i32::MAX)
    }

    /// Rows walked so far.
    async fn done(&self) -> i32 {
        i32::try_from(self.0.done).unwrap_or(i32::MAX)
    }

    /// Rows whose values changed so far.
    async fn changed(&self) -> i32 {
        i32::try_from(self.0.changed).unwrap_or(i32::MAX)
    }

    /// Rows that could not compute so far (they keep their values; the last event names
    /// the first few).
    async fn failed(&self) -> i32 {
        i32::try_from(self.0.failed).unwrap_or(i32::MAX)
    }
}

/// A CSV import into a table, as recorded.
pub struct Import(pub ImportRow);

#[Object]
impl Import {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(actor) = self.0.actor_id else {
            return Ok(None);
        };
        Ok(loader::<UserLoader>(ctx).load_one(actor).await?.map(User::new))
    }

    async fn cycle_id(&self) -> Option<ID> {
        self.0.cycle_id.map(|id| ID(id.to_string()))
    }

    /// ALL_OR_NOTHING or SKIP_INVALID.
    async fn mode(&self) -> ImportMode {
        if self.0.mode == "skip_invalid" {
            ImportMode::SkipInvalid
        } else {
            ImportMode::AllOrNothing
        }
    }

    /// COMPLETED (good lines stored) or REJECTED (nothing stored: ALL_OR_NOTHING met a bad line).
    async fn status(&self) -> String {
        self.0.status.to_uppercase()
    }

    /// Data lines read (the header not counted).
    async fn lines(&self) -> i32 {
        self.0.lines
    }

    async fn inserted(&self) -> i32 {
        self.0.inserted
    }

    async fn rejected(&self) -> i32 {
        self.0.rejected
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Row queries.
#[derive(Default)]
pub struct RowsQuery;

#[Object]
impl RowsQuery {
    /// A row of a table the caller may read; NOT_FOUND for any other id.
    async fn data_row(&self, ctx: &Context<'_>, id: ID) -> Result<Option<DataRow>> {
        let record = service::get_row(app(ctx), caller(ctx), parse_id(&id, "row")?).await?;
        Ok(Some(DataRow::alone(record)))
    }
}

/// Row mutations.
#[derive(Default)]
pub struct RowsMutation;

#[Object]
impl RowsMutation {
    /// Adds 1 to 1,000 rows, all or none (row:create). Each row is an object of field key to
    /// value; missing optional keys are null. Every bad value is reported in
    /// extensions.fields at path ["rows", index, key].
    async fn insert_rows(
        &self,
        ctx: &Context<'_>,
        table_id: ID,
        cycle_id: Option<ID>,
        rows: Vec<Json<serde_json::Value>>,
    ) -> Result<Vec<DataRow>> {
        let table_id = parse_id(&table_id, "table")?;
        let cycle_id = cycle_id.as_ref().map(|id| parse_id(id, "cycle")).transpose()?;
        let rows = rows.into_iter().map(|r| r.0).collect();
        let (records, table, project) =
            service::insert_rows(app(ctx), caller(ctx), table_id, cycle_id, rows).await?;
        let table = Arc::new((table, project));
        Ok(records
            .into_iter()
            .map(|r| DataRow::new(r, table.clone()))
            .collect())
    }

    /// Sets the given values of a row (null clears one; keys not given keep their value)
    /// (row:edit). CONFLICT when `expectedVersion` is not the row's current version.
    async fn update_row(
        &self,
        ctx: &Context<'_>,
        id: ID,
        values: Json<serde_json::Value>,
        expected_version: Option<i32>,
    ) -> Result<DataRow> {
        let row_id = parse_id(&id, "row")?;
        let (record, table, project) =
            service::update_row(app(ctx), caller(ctx), row_id, values.0, expected_version).await?;
        Ok(DataRow::new(record, Arc::new((table, project))))
    }

    /// Imports a CSV upload (row:create): the header names fields by key or label; each line
    /// is checked like an inserted row. Every bad line is reported (the first 1,000 in
    /// detail) with its line number, field and reason.
    async fn import_csv(
        &self,
        ctx: &Context<'_>,
        table_id: ID,
        cycle_id: Option<ID>,
        csv: Upload,
        mode: Option<ImportMode>,
    ) -> Result<ImportResult> {
        let table_id = parse_id(&table_id, "table")?;
        let cycle_id = cycle_id.as_ref().map(|id| parse_id(id, "cycle")).transpose()?;
        let file = csv.value(ctx)?.content;
        let mode = mode.unwrap_or(ImportMode::AllOrNothing).into();
        let report = import::import_csv(app(ctx), caller(ctx), table_id, cycle_id, file, mode).await?;
        let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        Ok(ImportResult {
            import_id: ID(report.import_id.to_string()),
            inserted: count(report.inserted),
            rejected: count(report.rejected),
            errors: report.errors.into_iter().map(RowError::from).collect(),
        })
    }

    /// A link to the table's rows (of one cycle, if given) as CSV, valid five minutes
    /// (row:export).
    async fn export_csv(&self, ctx: &Context<'_>, table_id: ID, cycle_id: Option<ID>) -> Result<String> {
        let table_id = parse_id(&table_id, "table")?;
        let cycle_id = cycle_id.as_ref().map(|id| parse_id(id, "cycle")).transpose()?;
        Ok(export::export_link(app(ctx), caller(ctx), table_id, cycle_id).await?)
    }

    /// Deletes rows, all or none (row:delete); returns how many.
    async fn delete_rows(&self, ctx: &Context<'_>, ids: Vec<ID>) -> Result<i32> {
        let ids = ids
            .iter()
            .map(|id| parse_id(id, "row"))
            .collect::<Result<_, _>>()?;
        let deleted = service::delete_rows(app(ctx), caller(ctx), ids).await?;
        Ok(i32::try_from(deleted).unwrap_or(i32::MAX))
    }
}

/// How a summary metric aggregates its field.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum SummaryOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
}

impl From<SummaryOp> for Aggregate {
    fn from(op: SummaryOp) -> Self {
        match op {
            SummaryOp::Sum => Self::Sum,
            SummaryOp::Avg => Self::Avg,
            SummaryOp::Min => Self::Min,
            SummaryOp::Max => Self::Max,
            SummaryOp::Count => Self::Count,
        }
    }
}

/// One metric of a summary: a field and how to aggregate it.
#[derive(InputObject)]
pub struct SummaryMetricInput {
    pub field: String,
    pub op: SummaryOp,
}

impl SummaryMetricInput {
    /// The metric as the service takes it.
    pub fn parse(self) -> (String, Aggregate) {
        (self.field, self.op.into())
    }
}

/// One group of a summary: the grouping keys' values and each metric's result, keyed
/// "<op>_<field>" (`sum_litres`); sums, averages, minima and maxima are exact decimals as
/// strings, counts numbers.
pub struct SummaryGroup(pub service::SummaryGroup);

#[Object]
impl SummaryGroup {
    /// The grouping fields' values, by field key (empty without groupBy).
    async fn key(&self) -> Json<serde_json::Value> {
        Json(self.0.key.clone())
    }

    /// Each metric's result under "<op>_<field>".
    async fn values(&self) -> Json<serde_json::Value> {
        Json(self.0.values.clone())
    }
}
