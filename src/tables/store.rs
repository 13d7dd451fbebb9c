//! SQL for data tables, fields and schema changes. A table is reached only through the
//! caller's membership of its project's company.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::model::{FieldRow, NewTable, SchemaChangeRow, TableRow};
use crate::auth::caller::Actor;
use crate::companies::store::reached_by;
use crate::db::prepared::prepared;
use crate::db::schema::{data_fields, data_tables, projects, schema_changes};
use crate::pagination::{Cursor, PageRequest};
use crate::projects::model::ProjectRow;

/// Creates a table.
pub async fn insert_table(conn: &mut AsyncPgConnection, table: &NewTable<'_>) -> QueryResult<TableRow> {
    diesel::insert_into(data_tables::table)
        .values(table)
        .returning(TableRow::as_returning())
        .get_result(conn)
        .await
}

/// The table, if `user_id` belongs to its project's company; `lock` takes a row lock.
pub async fn find_for(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    actor: Actor,
    lock: bool,
) -> QueryResult<Option<TableRow>> {
    let query = data_tables::table
        .inner_join(projects::table)
        .filter(data_tables::id.eq(id))
        .filter(reached_by(actor, projects::company_id))
        .select(TableRow::as_select());
    if lock {
        query.for_update().first(conn).await.optional()
    } else {
        query.first(conn).await.optional()
    }
}

/// The project and company a table belongs to.
pub async fn home_of(conn: &mut AsyncPgConnection, table_id: Uuid) -> QueryResult<Option<(Uuid, Uuid)>> {
    data_tables::table
        .inner_join(projects::table)
        .filter(data_tables::id.eq(table_id))
        .select((data_tables::project_id, projects::company_id))
        .first(conn)
        .await
        .optional()
}

/// One page of the project's tables, oldest first, and how many there are.
pub async fn list(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    page: PageRequest,
) -> QueryResult<(Vec<TableRow>, i64)> {
    let mut query = data_tables::table
        .filter(data_tables::project_id.eq(project_id))
        .into_boxed();
    if let Some(Cursor { at, id }) = page.after {
        query = query.filter(
            data_tables::created_at
                .gt(at)
                .or(data_tables::created_at.eq(at).and(data_tables::id.gt(id))),
        );
    }
    let rows = query
        .order((data_tables::created_at, data_tables::id))
        .limit(page.limit())
        .select(TableRow::as_select())
        .load(conn)
        .await?;
    let total = data_tables::table
        .filter(data_tables::project_id.eq(project_id))
        .count()
        .get_result(conn)
        .await?;
    Ok((rows, total))
}

/// A table with the number of tables in its project.
#[derive(QueryableByName)]
pub struct CountedTable {
    #[diesel(embed)]
    pub table: TableRow,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub total: i64,
}

/// The first `limit` tables of each project (oldest first), with each project's table count,
/// in one query.
pub async fn first_tables(
    conn: &mut AsyncPgConnection,
    project_ids: &[Uuid],
    limit: i64,
) -> QueryResult<Vec<CountedTable>> {
    prepared(
        diesel::sql_query(
            "SELECT t.id, t.project_id, t.module_id, t.name, t.description, t.schema_version, \
             t.created_at, t.updated_at, t.calc_version, t.total FROM unnest($1::uuid[]) AS p(id) CROSS JOIN LATERAL \
         (SELECT *, count(*) OVER () AS total FROM data_tables WHERE project_id = p.id \
          ORDER BY created_at, id LIMIT $2) t",
        )
        .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(project_ids)
        .bind::<diesel::sql_types::BigInt, _>(limit),
    )
    .load(conn)
    .await
}

/// Renames or re-describes a table.
pub async fn update_table(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    name: Option<&str>,
    description: Option<Option<&str>>,
    now: DateTime<Utc>,
) -> QueryResult<TableRow> {
    if let Some(name) = name {
        diesel::update(data_tables::table.find(id))
            .set(data_tables::name.eq(name))
            .execute(conn)
            .await?;
    }
    if let Some(description) = description {
        diesel::update(data_tables::table.find(id))
            .set(data_tables::description.eq(description))
            .execute(conn)
            .await?;
    }
    diesel::update(data_tables::table.find(id))
        .set(data_tables::updated_at.eq(now))
        .returning(TableRow::as_returning())
        .get_result(conn)
        .await
}

/// Bumps the schema version; returns the new one.
pub async fn bump_version(conn: &mut AsyncPgConnection, id: Uuid, now: DateTime<Utc>) -> QueryResult<i32> {
    diesel::update(data_tables::table.find(id))
        .set((
            data_tables::schema_version.eq(data_tables::schema_version + 1),
            data_tables::updated_at.eq(now),
        ))
        .returning(data_tables::schema_version)
        .get_result(conn)
        .await
}

/// Deletes a table with its fields and history.
pub async fn delete_table(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::delete(data_tables::table.find(id))
        .execute(conn)
        .await
        .map(|_| ())
}

/// How many other tables have REFERENCE fields pointing at this one.
pub async fn referencing_tables(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<usize> {
    let tables: Vec<Uuid> = data_fields::table
        .filter(data_fields::reference_table_id.eq(id))
        .filter(data_fields::table_id.ne(id))
        .select(data_fields::table_id)
        .distinct()
        .load(conn)
        .await?;
    Ok(tables.len())
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    count: i64,
}

/// How many tables outside the project reference tables inside it.
pub async fn references_into_project(conn: &mut AsyncPgConnection, project_id: Uuid) -> QueryResult<i64> {
    diesel::sql_query(
        "SELECT count(DISTINCT f.table_id) AS count FROM data_fields f \
         JOIN data_tables target ON target.id = f.reference_table_id \
         JOIN data_tables source ON source.id = f.table_id \
         WHERE target.project_id = $1 AND source.project_id <> $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(project_id)
    .get_result::<Count>(conn)
    .await
    .map(|row| row.count)
}

/// Stores fields.
pub async fn insert_fields(conn: &mut AsyncPgConnection, fields: &[FieldRow]) -> QueryResult<()> {
    diesel::insert_into(data_fields::table)
        .values(fields)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Tables by id with their projects (a deleted table is simply absent).
pub async fn tables_by_ids(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> QueryResult<Vec<(TableRow, ProjectRow)>> {
    data_tables::table
        .inner_join(projects::table)
        .filter(data_tables::id.eq_any(ids))
        .select((TableRow::as_select(), ProjectRow::as_select()))
        .load(conn)
        .await
}

/// A formula and where it is.
#[derive(Debug, Queryable)]
pub struct PlacedFormula {
    pub company_id: Uuid,
    pub project_id: Uuid,
    pub table_id: Uuid,
    pub formula: String,
}

/// The formulas of one company's tables (None: of every company's): what to recompute
/// when a factor version comes or goes.
pub async fn formula_fields(
    conn: &mut AsyncPgConnection,
    company_id: Option<Uuid>,
) -> QueryResult<Vec<PlacedFormula>> {
    let mut query = data_fields::table
        .inner_join(data_tables::table.on(data_tables::id.eq(data_fields::table_id)))
        .inner_join(projects::table.on(projects::id.eq(data_tables::project_id)))
        .filter(data_fields::field_type.eq("formula"))
        .select((
            projects::company_id,
            projects::id,
            data_fields::table_id,
            data_fields::formula.assume_not_null(),
        ))
        .filter(data_fields::formula.is_not_null())
        .into_boxed();
    if let Some(company_id) = company_id {
        query = query.filter(projects::company_id.eq(company_id));
    }
    query.load(conn).await
}

/// The table's fields in order.
pub async fn fields_of(conn: &mut AsyncPgConnection, table_ids: &[Uuid]) -> QueryResult<Vec<FieldRow>> {
    data_fields::table
        .filter(data_fields::table_id.eq_any(table_ids))
        .order((data_fields::table_id, data_fields::position))
        .select(FieldRow::as_select())
        .load(conn)
        .await
}

/// A field, if `actor` reaches its table's company.
pub async fn find_field_for(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    actor: Actor,
) -> QueryResult<Option<FieldRow>> {
    data_fields::table
        .inner_join(data_tables::table.on(data_tables::id.eq(data_fields::table_id)))
        .inner_join(projects::table.on(projects::id.eq(data_tables::project_id)))
        .filter(data_fields::id.eq(id))
        .filter(reached_by(actor, projects::company_id))
        .select(FieldRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Replaces a field's definition (keeping its id and position).
pub async fn replace_field(conn: &mut AsyncPgConnection, field: &FieldRow) -> QueryResult<FieldRow> {
    diesel::update(data_fields::table.find(field.id))
        .set((
            data_fields::key.eq(&field.key),
            data_fields::label.eq(&field.label),
            data_fields::field_type.eq(&field.field_type),
            data_fields::required.eq(field.required),
            data_fields::is_unique.eq(field.is_unique),
            data_fields::options.eq(&field.options),
            data_fields::min_value.eq(field.min_value),
            data_fields::max_value.eq(field.max_value),
            data_fields::pattern.eq(&field.pattern),
            data_fields::reference_table_id.eq(field.reference_table_id),
            data_fields::formula.eq(&field.formula),
            data_fields::restricted.eq(field.restricted),
            data_fields::unit.eq(&field.unit),
            data_fields::total.eq(field.total),
        ))
        .returning(FieldRow::as_returning())
        .get_result(conn)
        .await
}

/// Removes a field and closes the gap in the order.
pub async fn delete_field(conn: &mut AsyncPgConnection, field: &FieldRow) -> QueryResult<()> {
    diesel::delete(data_fields::table.find(field.id))
        .execute(conn)
        .await?;
    diesel::update(
        data_fields::table
            .filter(data_fields::table_id.eq(field.table_id))
            .filter(data_fields::position.gt(field.position)),
    )
    .set(data_fields::position.eq(data_fields::position - 1))
    .execute(conn)
    .await
    .map(|_| ())
}

/// Records a schema change.
pub async fn insert_change(conn: &mut AsyncPgConnection, change: &SchemaChangeRow) -> QueryResult<()> {
    diesel::insert_into(schema_changes::table)
        .values(change)
        .execute(conn)
        .await
        .map(|_| ())
}

/// One page of the table's schema history, oldest first, and how many entries there are.
pub async fn changes(
    conn: &mut AsyncPgConnection,
    table_id: Uuid,
    page: PageRequest,
) -> QueryResult<(Vec<SchemaChangeRow>, i64)> {
    let mut query = schema_changes::table
        .filter(schema_changes::table_id.eq(table_id))
        .into_boxed();
    if let Some(Cursor { at, id }) = page.after {
        query = query.filter(
            schema_changes::created_at
                .gt(at)
                .or(schema_changes::created_at.eq(at).and(schema_changes::id.gt(id))),
        );
    }
    let rows = query
        .order((schema_changes::created_at, schema_changes::id))
        .limit(page.limit())
        .select(SchemaChangeRow::as_select())
        .load(conn)
        .await?;
    let total = schema_changes::table
        .filter(schema_changes::table_id.eq(table_id))
        .count()
        .get_result(conn)
        .await?;
    Ok((rows, total))
}
