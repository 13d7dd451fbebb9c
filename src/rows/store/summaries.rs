//! SQL for summaries: a table's rows grouped and aggregated with exact decimals, and a
//! project's total fields added up by module scope, each in one statement.

use diesel::prelude::*;
use diesel::sql_types;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// How a metric aggregates its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Sum,
    Avg,
    Min,
    Max,
    Count,
}

impl Aggregate {
    /// The name a metric's result goes under: `sum_litres`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sum => "sum",
            Self::Avg => "avg",
            Self::Min => "min",
            Self::Max => "max",
            Self::Count => "count",
        }
    }

    /// The SQL over the field named by bind parameter `$n`: exact numeric, trailing zeros
    /// trimmed, as text (an average keeps 20 decimal places).
    fn sql(self, n: usize) -> String {
        let value = format!("data_numeric(cells ->> ${n}::text)");
        match self {
            Self::Sum => format!("trim_scale(sum({value}))::text"),
            Self::Avg => format!("trim_scale(round(avg({value}), 20))::text"),
            Self::Min => format!("trim_scale(min({value}))::text"),
            Self::Max => format!("trim_scale(max({value}))::text"),
            Self::Count => format!("count(cells ->> ${n}::text)"),
        }
    }
}

/// One group: the grouping fields' values by key, and each metric's result by name.
#[derive(QueryableByName)]
pub struct SummaryRow {
    #[diesel(sql_type = sql_types::Jsonb)]
    pub key: serde_json::Value,
    #[diesel(sql_type = sql_types::Jsonb)]
    pub values: serde_json::Value,
}

/// A table's rows (of one cycle, if given) grouped by the values of `group_by` and
/// aggregated by `metrics` (field key, aggregate), ordered by group; at most `limit` groups.
pub async fn summarise(
    conn: &mut AsyncPgConnection,
    table_id: Uuid,
    cycle_id: Option<Uuid>,
    group_by: &[String],
    metrics: &[(String, Aggregate)],
    limit: i64,
) -> QueryResult<Vec<SummaryRow>> {
    // $1 table, $2 cycle, $3 limit; then the grouping keys, then each metric's name and field.
    let mut n = 3;
    let mut next = || {
        n += 1;
        n
    };
    let key = if group_by.is_empty() {
        "'{}'::jsonb".to_owned()
    } else {
        let pairs: Vec<String> = group_by
            .iter()
            .map(|_| {
                let k = next();
                format!("${k}::text, cells -> ${k}::text")
            })
            .collect();
        format!("jsonb_build_object({})", pairs.join(", "))
    };
    let values: Vec<String> = metrics
        .iter()
        .map(|(_, aggregate)| {
            let name = next();
            let field = next();
            format!("${name}::text, {}", aggregate.sql(field))
        })
        .collect();
    let grouping = if group_by.is_empty() { "" } else { "GROUP BY 1 " };
    let sql = format!(
        "SELECT {key} AS key, jsonb_build_object({}) AS values FROM data_rows \
         WHERE table_id = $1 AND ($2::uuid IS NULL OR cycle_id = $2) {grouping}ORDER BY 1 LIMIT $3",
        values.join(", ")
    );
    let mut query = diesel::sql_query(sql)
        .into_boxed()
        .bind::<sql_types::Uuid, _>(table_id)
        .bind::<sql_types::Nullable<sql_types::Uuid>, _>(cycle_id)
        .bind::<sql_types::BigInt, _>(limit);
    for field in group_by {
        query = query.bind::<sql_types::Text, _>(field.clone());
    }
    for (field, aggregate) in metrics {
        query = query
            .bind::<sql_types::Text, _>(format!("{}_{field}", aggregate.name()))
            .bind::<sql_types::Text, _>(field.clone());
    }
    query.load(conn).await
}

/// One total of a project: a field key under a module scope (None: no scope), its sum.
#[derive(QueryableByName)]
pub struct ScopeTotal {
    #[diesel(sql_type = sql_types::Nullable<sql_types::Integer>)]
    pub scope: Option<i32>,
    #[diesel(sql_type = sql_types::Text)]
    pub key: String,
    #[diesel(sql_type = sql_types::Nullable<sql_types::Text>)]
    pub unit: Option<String>,
    #[diesel(sql_type = sql_types::Nullable<sql_types::Text>)]
    pub total: Option<String>,
}

/// The project's fields marked `total` (restricted ones only when `with_restricted`),
/// summed over the rows of their tables (of one cycle, if given) by the scope of each
/// table's module, field key and unit (fields of one key in different units are not added).
pub async fn project_totals(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    cycle_id: Option<Uuid>,
    with_restricted: bool,
) -> QueryResult<Vec<ScopeTotal>> {
    diesel::sql_query(
        "SELECT m.scope, f.key, f.unit, \
                trim_scale(sum(data_numeric(r.cells ->> f.key)))::text AS total \
         FROM data_fields f JOIN data_tables t ON t.id = f.table_id \
         LEFT JOIN modules m ON m.id = t.module_id \
         JOIN data_rows r ON r.table_id = t.id AND ($2::uuid IS NULL OR r.cycle_id = $2) \
         WHERE t.project_id = $1 AND f.total AND ($3 OR NOT f.restricted) \
         GROUP BY m.scope, f.key, f.unit ORDER BY m.scope NULLS LAST, f.key, f.unit",
    )
    .bind::<sql_types::Uuid, _>(project_id)
    .bind::<sql_types::Nullable<sql_types::Uuid>, _>(cycle_id)
    .bind::<sql_types::Bool, _>(with_restricted)
    .load(conn)
    .await
}
