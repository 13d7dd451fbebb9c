//! Formula fields computed for the rows written: each formula in dependency order, over the
//! row's values and the emission factors in effect on the row's day (its first DATE
//! field's value, else its cycle's last day, else the day of the write).

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;
use diesel_async::AsyncPgConnection;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::values::ValueError;
use crate::error::{AppError, AppResult};
use crate::factors::service::FactorBook;
use crate::tables::formula::{self, FieldOutline, Kind, MAX_RESULT_DIGITS, Plan, RowInputs, Val};
use crate::tables::model::{FieldRow, FieldType};

/// A table's formulas, planned once for every row a write touches.
pub struct Calculator {
    /// Formula fields in the order to compute them, with what each computes.
    plan: Plan,
    /// Every field a formula reads, with what it holds.
    inputs: Vec<(String, Kind)>,
    /// The table's first DATE field: the day factors are taken on.
    date_key: Option<String>,
    book: FactorBook,
    /// Each formula field's formula as written.
    sources: HashMap<String, String>,
}

impl Calculator {
    /// The calculator of a table with these fields (None when it has no formula).
    pub async fn load(
        conn: &mut AsyncPgConnection,
        company_id: Uuid,
        fields: &[FieldRow],
    ) -> AppResult<Option<Self>> {
        let types: Vec<(Option<FieldType>, &FieldRow)> = fields
            .iter()
            .map(|f| (FieldType::parse(&f.field_type), f))
            .collect();
        let outline: Vec<FieldOutline<'_>> = types
            .iter()
            .filter_map(|(field_type, field)| {
                Some(FieldOutline {
                    key: &field.key,
                    field_type: (*field_type)?,
                    formula: field.formula.as_deref(),
                })
            })
            .collect();
        let plan = formula::plan(&outline).map_err(|(key, error)| {
            AppError::internal(anyhow::anyhow!(
                "the stored formula of {key} does not plan: {error}"
            ))
        })?;
        if plan.is_empty() {
            return Ok(None);
        }
        let kind_of: HashMap<&str, Kind> = outline
            .iter()
            .filter_map(|f| formula::input_kind(f.field_type).map(|kind| (f.key, kind)))
            .chain(plan.iter().map(|(key, _, kind)| (key.as_str(), *kind)))
            .collect();
        let read: BTreeSet<String> = plan.iter().flat_map(|(_, expr, _)| expr.fields()).collect();
        let inputs = read
            .into_iter()
            .filter_map(|key| kind_of.get(key.as_str()).map(|kind| (key, *kind)))
            .collect();
        let keys: BTreeSet<String> = plan.iter().flat_map(|(_, expr, _)| expr.factor_keys()).collect();
        let book = FactorBook::load(conn, company_id, &keys.into_iter().collect::<Vec<_>>()).await?;
        let date_key = types
            .iter()
            .find(|(field_type, _)| *field_type == Some(FieldType::Date))
            .map(|(_, field)| field.key.clone());
        let sources = fields
            .iter()
            .filter_map(|f| Some((f.key.clone(), f.formula.clone()?)))
            .collect();
        Ok(Some(Self {
            plan,
            inputs,
            date_key,
            book,
            sources,
        }))
    }

    /// The day the row's factors are taken on.
    fn day_of(&self, cells: &Map<String, Value>, default_day: NaiveDate) -> NaiveDate {
        self.date_key
            .as_ref()
            .and_then(|key| cells.get(key)?.as_str())
            .and_then(|text| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
            .unwrap_or(default_day)
    }

    /// Computes the row's formula fields in place; Err names the formula that cannot be
    /// computed (a division by zero, no factor version in effect).
    pub fn compute(&self, cells: &mut Map<String, Value>, default_day: NaiveDate) -> Result<(), ValueError> {
        let day = self.day_of(cells, default_day);
        let mut values: HashMap<String, Val> = self
            .inputs
            .iter()
            .map(|(key, kind)| {
                let value = cells.get(key).map_or(Val::Null, |v| Val::from_cell(v, *kind));
                (key.clone(), value)
            })
            .collect();
        for (key, expr, kind) in &self.plan {
            let inputs = RowInputs {
                values: &values,
                factor: |factor: &str| self.book.in_effect(factor, day).map(|f| f.value.clone()),
            };
            let value = expr
                .evaluate(&inputs)
                .map_err(|message| ValueError::new(key, message))?;
            if value.is_too_large() {
                return Err(ValueError::new(
                    key,
                    format!("the result has more than {MAX_RESULT_DIGITS} digits before the point"),
                ));
            }
            let cell = value.into_cell();
            // Later formulas read the value as stored.
            values.insert(key.clone(), Val::from_cell(&cell, *kind));
            cells.insert(key.clone(), cell);
        }
        Ok(())
    }

    /// What the row's formula values were computed with: per formula field among `cells`
    /// (those the reader may see), the table's `calcVersion` they were computed at and, when
    /// that is the table's current one (`current`), the formula, the day factors were taken
    /// on and the factor versions used; an older one awaits the background recalculation.
    pub fn computed_with(
        &self,
        cells: &Map<String, Value>,
        default_day: NaiveDate,
        (row_version, table_version): (i32, i32),
    ) -> Value {
        if row_version < table_version {
            let pending = json!({ "calcVersion": row_version, "current": false });
            return Value::Object(
                self.plan
                    .iter()
                    .filter(|(key, _, _)| cells.contains_key(key))
                    .map(|(key, _, _)| (key.clone(), pending.clone()))
                    .collect(),
            );
        }
        let day = self.day_of(cells, default_day);
        let used: Map<String, Value> = self
            .plan
            .iter()
            .filter(|(key, _, _)| cells.contains_key(key))
            .map(|(key, expr, _)| {
                let factors: Map<String, Value> = expr
                    .factor_keys()
                    .into_iter()
                    .map(|factor| {
                        let version = self.book.in_effect(&factor, day).map(|f| {
                            json!({
                                "id": f.id, "value": f.value.to_plain_string(), "unit": f.unit,
                                "validFrom": f.valid_from, "validTo": f.valid_to, "builtIn": f.company_id.is_none(),
                            })
                        });
                        (factor, version.unwrap_or(Value::Null))
                    })
                    .collect();
                (
                    key.clone(),
                    json!({
                        "formula": self.sources.get(key), "day": day, "factors": factors,
                        "calcVersion": row_version, "current": true,
                    }),
                )
            })
            .collect();
        Value::Object(used)
    }
}
