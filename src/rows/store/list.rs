//! SQL for the filtered, ordered row list: conditions and orders become one parameterised
//! query (field keys are checked before they get here), and its count.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::BoxedSqlQuery;
use diesel::sql_types;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::Count;
use super::ROW_COLUMNS;
use crate::companies::store::escape_like;
use crate::rows::model::RowRecord;
use crate::rows::query::{Comparison, Condition, Operator, Order, RowCursor};

/// A value bound into a generated query.
enum Bind {
    Text(String),
    Texts(Vec<String>),
    Json(serde_json::Value),
    Uuid(Uuid),
    At(DateTime<Utc>),
    Int(i64),
}

/// A row query under construction: SQL text with numbered parameters and their values.
struct Sql {
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    fn param(&mut self, bind: Bind) -> String {
        self.binds.push(bind);
        format!("${}", self.binds.len())
    }

    fn build(self) -> BoxedSqlQuery<'static, Pg, diesel::query_builder::SqlQuery> {
        let mut query = diesel::sql_query(self.text).into_boxed();
        for bind in self.binds {
            query = match bind {
                Bind::Text(v) => query.bind::<sql_types::Text, _>(v),
                Bind::Texts(v) => query.bind::<sql_types::Array<sql_types::Text>, _>(v),
                Bind::Json(v) => query.bind::<sql_types::Jsonb, _>(v),
                Bind::Uuid(v) => query.bind::<sql_types::Uuid, _>(v),
                Bind::At(v) => query.bind::<sql_types::Timestamptz, _>(v),
                Bind::Int(v) => query.bind::<sql_types::BigInt, _>(v),
            };
        }
        query
    }
}

/// The SQL expression a field sorts and compares by. Keys are checked snake_case (by the
/// database too), so they are safe to write into the text.
fn field_expr(key: &str, comparison: Comparison) -> String {
    match comparison {
        Comparison::Number => format!("data_numeric(r.cells ->> '{key}')"),
        _ => format!("(r.cells ->> '{key}')"),
    }
}

fn like_pattern(text: &str) -> String {
    format!("%{}%", escape_like(text))
}

fn condition_sql(sql: &mut Sql, condition: &Condition) -> String {
    let key = &condition.key;
    let expr = field_expr(key, condition.comparison);
    let contains = |sql: &mut Sql, value: &serde_json::Value| {
        let param = sql.param(Bind::Json(serde_json::json!({ key.as_str(): value })));
        format!("r.cells @> {param}")
    };
    match &condition.operator {
        Operator::Eq(value) if condition.comparison == Comparison::List => {
            let param = sql.param(Bind::Json(value.clone()));
            format!("r.cells -> '{key}' = {param}")
        }
        Operator::Ne(value) if condition.comparison == Comparison::List => {
            let param = sql.param(Bind::Json(value.clone()));
            format!("(r.cells -> '{key}') IS DISTINCT FROM {param}")
        }
        Operator::Eq(value) => contains(sql, value),
        Operator::Ne(value) => format!("NOT {}", contains(sql, value)),
        Operator::Compare(symbol, operand) => {
            let param = sql.param(Bind::Text(operand.clone()));
            match condition.comparison {
                Comparison::Number => format!("{expr} {symbol} {param}::numeric"),
                _ => format!("{expr} {symbol} {param}"),
            }
        }
        Operator::In(values) => {
            let parts: Vec<String> = values.iter().map(|v| contains(sql, v)).collect();
            format!("({})", parts.join(" OR "))
        }
        Operator::Contains(value) if condition.comparison == Comparison::List => contains(sql, value),
        Operator::Contains(value) => {
            let param = sql.param(Bind::Text(like_pattern(value.as_str().unwrap_or_default())));
            format!("{expr} ILIKE {param}")
        }
        Operator::IsNull(true) => format!("(r.cells ->> '{key}') IS NULL"),
        Operator::IsNull(false) => format!("(r.cells ->> '{key}') IS NOT NULL"),
    }
}

/// What a row list asks for.
pub struct RowListQuery<'a> {
    pub table_id: Uuid,
    pub cycle_id: Option<Uuid>,
    /// Only rows written after this instant.
    pub updated_since: Option<DateTime<Utc>>,
    pub conditions: &'a [Condition],
    pub order: &'a Order,
    /// Keys removed from the values (restricted fields the caller may not read).
    pub strip: &'a [String],
}

fn where_sql(sql: &mut Sql, query: &RowListQuery<'_>) -> String {
    let table = sql.param(Bind::Uuid(query.table_id));
    let mut clauses = vec![format!("r.table_id = {table}")];
    if let Some(cycle_id) = query.cycle_id {
        let cycle = sql.param(Bind::Uuid(cycle_id));
        clauses.push(format!("r.cycle_id = {cycle}"));
    }
    if let Some(since) = query.updated_since {
        let since = sql.param(Bind::At(since));
        clauses.push(format!("r.updated_at > {since}"));
    }
    for condition in query.conditions {
        clauses.push(condition_sql(sql, condition));
    }
    clauses.join(" AND ")
}

/// One page of rows (`limit` of them) after `after`.
pub async fn page(
    conn: &mut AsyncPgConnection,
    query: &RowListQuery<'_>,
    after: Option<&RowCursor>,
    limit: i64,
) -> QueryResult<Vec<RowRecord>> {
    let mut sql = Sql {
        text: String::new(),
        binds: vec![Bind::Texts(query.strip.to_vec())],
    };
    let mut clauses = where_sql(&mut sql, query);
    let order = match query.order {
        Order::Created => {
            if let Some(RowCursor::Created { at, id }) = after {
                let (at, id) = (sql.param(Bind::At(*at)), sql.param(Bind::Uuid(*id)));
                clauses.push_str(&format!(" AND (r.created_at, r.id) > ({at}, {id})"));
            }
            "r.created_at, r.id".to_owned()
        }
        Order::Field {
            key,
            comparison,
            descending,
        } => {
            let expr = field_expr(key, *comparison);
            if let Some(RowCursor::Field { value, id }) = after {
                let id = sql.param(Bind::Uuid(*id));
                let keyset = match value {
                    None => format!("({expr} IS NULL AND r.id > {id})"),
                    Some(value) => {
                        let value = sql.param(Bind::Text(value.clone()));
                        let cast = if *comparison == Comparison::Number {
                            "::numeric"
                        } else {
                            ""
                        };
                        let beyond = if *descending { "<" } else { ">" };
                        format!(
                            "({expr} {beyond} {value}{cast} OR ({expr} = {value}{cast} AND r.id > {id}) \
                             OR {expr} IS NULL)"
                        )
                    }
                };
                clauses.push_str(&format!(" AND {keyset}"));
            }
            let direction = if *descending { "DESC" } else { "ASC" };
            format!("{expr} {direction} NULLS LAST, r.id")
        }
    };
    let limit = sql.param(Bind::Int(limit));
    sql.text =
        format!("SELECT {ROW_COLUMNS} FROM data_rows r WHERE {clauses} ORDER BY {order} LIMIT {limit}");
    sql.build().load(conn).await
}

/// How many rows the list holds in all.
pub async fn count(conn: &mut AsyncPgConnection, query: &RowListQuery<'_>) -> QueryResult<i64> {
    let mut sql = Sql {
        text: String::new(),
        binds: Vec::new(),
    };
    let clauses = where_sql(&mut sql, query);
    sql.text = format!("SELECT count(*) AS count FROM data_rows r WHERE {clauses}");
    sql.build().get_result::<Count>(conn).await.map(|c| c.count)
}
