//! Summaries: a table's rows grouped and aggregated in SQL with exact decimals, and a
//! project's total fields by module scope. Restricted fields count only for those who may
//! read them.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::access::table_access;
use crate::app::App;
use crate::auth::caller::Caller;
use crate::db::tx;
use crate::error::{AppError, AppResult, FieldError};
use crate::projects::access::project_member;
use crate::rbac::catalog::{Action, Resource};
use crate::rows::query::visible;
use crate::rows::store::{self, Aggregate};
use crate::tables::model::FieldType;
use crate::tables::restricted;

/// Most grouping fields, metrics and groups one summary has.
const MAX_GROUP_FIELDS: usize = 3;
const MAX_METRICS: usize = 10;
pub const MAX_GROUPS: i64 = 1_000;

/// One group of a summary: the grouping fields' values by key, each metric's result under
/// `<op>_<field>` (exact decimals as strings; counts as numbers).
pub struct SummaryGroup {
    pub key: Value,
    pub values: Value,
}

/// The table's rows (of one cycle, if given) grouped by `group_by` and aggregated by
/// `metrics` (row:view; restricted fields need table:manage). SUM, AVG, MIN and MAX take
/// number fields (formulas computing numbers included); COUNT counts the non-empty values
/// of any field.
pub async fn table_summary(
    app: &App,
    caller: &Caller,
    table_id: Uuid,
    cycle_id: Option<Uuid>,
    group_by: Vec<String>,
    metrics: Vec<(String, Aggregate)>,
) -> AppResult<Vec<SummaryGroup>> {
    let actor = caller.acting()?;
    tx::read(app, actor.scope(), async |conn| {
        let access = table_access(conn, actor, table_id, Action::View).await?;
        let mut errors = Vec::new();
        let mut refuse = |path: String, message: &str| {
            errors.push(FieldError {
                path,
                message: message.to_owned(),
            });
        };
        if group_by.len() > MAX_GROUP_FIELDS {
            refuse("groupBy".into(), "groups by at most 3 fields");
        }
        if metrics.is_empty() || metrics.len() > MAX_METRICS {
            refuse("metrics".into(), "asks for 1 to 10 metrics");
        }
        for (index, key) in group_by.iter().enumerate() {
            match visible(&access.rules, key).map(|rule| rule.stored_as) {
                None => refuse(format!("groupBy.{index}"), "is not a field of this table"),
                Some(FieldType::LongText | FieldType::MultiSelect) => {
                    refuse(format!("groupBy.{index}"), "cannot be grouped by")
                }
                Some(_) => {}
            }
        }
        for (index, (key, aggregate)) in metrics.iter().enumerate() {
            match visible(&access.rules, key).map(|rule| rule.stored_as) {
                None => refuse(format!("metrics.{index}.field"), "is not a field of this table"),
                Some(FieldType::Integer | FieldType::Decimal) => {}
                Some(_) if *aggregate == Aggregate::Count => {}
                Some(_) => refuse(
                    format!("metrics.{index}.field"),
                    "is not a number: only COUNT applies to it",
                ),
            }
        }
        if !errors.is_empty() {
            return Err(AppError::invalid_fields(errors));
        }
        let rows = store::summarise(conn, table_id, cycle_id, &group_by, &metrics, MAX_GROUPS + 1).await?;
        if rows.len() > usize::try_from(MAX_GROUPS).unwrap_or(usize::MAX) {
            return Err(AppError::invalid(
                "groupBy",
                format!(
                    "makes more than {MAX_GROUPS} groups: group by fewer or coarser fields, or one cycle"
                ),
            ));
        }
        Ok(rows
            .into_iter()
            .map(|row| SummaryGroup {
                key: row.key,
                values: row.values,
            })
            .collect())
    })
    .await
}

/// The project's fields marked `total`, summed by module scope (row:view; restricted ones
/// only for those who may read them): `{ "scopes": { "1": { "co2e_kg": "12.5" }, …,
/// "none": {…} }, "units": { "co2e_kg": "kg CO2e" } }`, of one cycle if given.
pub async fn project_summary(
    app: &App,
    caller: &Caller,
    project_id: Uuid,
    cycle_id: Option<Uuid>,
) -> AppResult<Value> {
    let actor = caller.acting()?;
    tx::read(app, actor.scope(), async |conn| {
        let (project, member) = project_member(conn, project_id, actor, false).await?;
        member.require(Resource::Row, Action::View)?;
        let with_restricted = restricted::reads_restricted(member.permissions);
        let totals = store::project_totals(conn, project.id, cycle_id, with_restricted).await?;
        // A key measured in several units is named with its unit: "co2e (t)", "co2e (kg)".
        let mut units_of: BTreeMap<&str, BTreeSet<Option<&str>>> = BTreeMap::new();
        for total in &totals {
            units_of
                .entry(&total.key)
                .or_default()
                .insert(total.unit.as_deref());
        }
        let name = |total: &store::ScopeTotal| match (&total.unit, units_of[total.key.as_str()].len()) {
            (Some(unit), 2..) => format!("{} ({unit})", total.key),
            _ => total.key.clone(),
        };
        let mut scopes: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        let mut units = Map::new();
        for total in &totals {
            let scope = total.scope.map_or_else(|| "none".to_owned(), |s| s.to_string());
            let name = name(total);
            scopes.entry(scope).or_default().insert(
                name.clone(),
                total.total.clone().map_or(Value::Null, Value::String),
            );
            if let Some(unit) = &total.unit {
                units.insert(name, Value::String(unit.clone()));
            }
        }
        Ok(json!({ "cycleId": cycle_id, "scopes": scopes, "units": units }))
    })
    .await
}
