//! Field definitions as submitted, checked into a [`FieldSpec`] before anything is stored.

use std::collections::HashSet;

use regex::Regex;
use serde::Serialize;
use uuid::Uuid;

use super::model::{FieldRow, FieldType};
use crate::error::{AppError, AppResult, FieldError};
use crate::input;

/// A field definition that passed every check.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldSpec {
    pub key: String,
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    pub required: bool,
    pub unique: bool,
    pub options: Option<Vec<String>>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub pattern: Option<String>,
    pub reference_table_id: Option<Uuid>,
    pub formula: Option<String>,
    pub restricted: bool,
    pub unit: Option<String>,
    pub total: bool,
}

/// A field definition as the client sent it.
#[derive(Debug, Clone, Default)]
pub struct FieldDraft {
    pub key: String,
    pub label: String,
    pub field_type: Option<FieldType>,
    pub required: Option<bool>,
    pub unique: Option<bool>,
    pub options: Option<Vec<String>>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub pattern: Option<String>,
    pub reference_table_id: Option<Uuid>,
    pub formula: Option<String>,
    pub restricted: Option<bool>,
    pub unit: Option<String>,
    pub total: Option<bool>,
}

/// Lower-case snake_case: a letter, then letters, digits or `_`, at most 63 characters.
fn is_field_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && key.len() <= 63
}

/// Checks a draft; every problem is reported under `prefix` (e.g. `fields.2`).
pub fn check(draft: FieldDraft, prefix: &str) -> AppResult<FieldSpec> {
    let mut errors = Vec::new();
    let mut fail = |name: &str, message: &str| {
        errors.push(FieldError {
            path: format!("{prefix}.{name}"),
            message: message.to_owned(),
        });
    };
    let field_type = draft.field_type.unwrap_or(FieldType::Text);
    let key = draft.key.trim().to_owned();
    if !is_field_key(&key) {
        fail(
            "key",
            "must be lower-case snake_case: a letter, then letters, digits or _ (at most 63)",
        );
    }
    let label = input::text(&draft.label, "label", 1, 100).map_err(|e| e.message);
    if let Err(message) = &label {
        fail("label", message.trim_start_matches("label: "));
    }
    let selects = matches!(field_type, FieldType::SingleSelect | FieldType::MultiSelect);
    let options = draft
        .options
        .map(|o| o.into_iter().map(|v| v.trim().to_owned()).collect::<Vec<_>>());
    match (&options, selects) {
        (None, true) => fail("options", "is required for select fields"),
        (Some(o), true) if o.is_empty() || o.iter().any(|v| v.is_empty() || v.chars().count() > 100) => {
            fail("options", "must be 1 to 100 characters each, and at least one")
        }
        (Some(o), true) if o.iter().collect::<HashSet<_>>().len() != o.len() => {
            fail("options", "must not repeat")
        }
        (Some(_), false) => fail("options", "is only for select fields"),
        _ => {}
    }
    let numeric = matches!(field_type, FieldType::Integer | FieldType::Decimal);
    let textual = matches!(
        field_type,
        FieldType::Text | FieldType::LongText | FieldType::Email | FieldType::Url
    );
    if (draft.min.is_some() || draft.max.is_some()) && !numeric && !textual {
        fail("min", "min and max are for numbers, and lengths of text fields");
    }
    if textual
        && [draft.min, draft.max]
            .iter()
            .flatten()
            .any(|n| *n < 0.0 || n.fract() != 0.0)
    {
        fail("min", "text lengths must be whole numbers, at least 0");
    }
    if [draft.min, draft.max].iter().flatten().any(|n| !n.is_finite()) {
        fail("min", "must be a finite number");
    }
    if let (Some(min), Some(max)) = (draft.min, draft.max)
        && min > max
    {
        fail("max", "must not be below min");
    }
    if let Some(pattern) = &draft.pattern {
        if !textual {
            fail("pattern", "is only for text fields");
        } else if pattern.len() > 500 || Regex::new(pattern).is_err() {
            fail("pattern", "is not a valid regular expression");
        }
    }
    match (field_type, draft.reference_table_id) {
        (FieldType::Reference, None) => fail("referenceTableId", "is required for REFERENCE fields"),
        (FieldType::Reference, Some(_)) | (_, None) => {}
        (_, Some(_)) => fail("referenceTableId", "is only for REFERENCE fields"),
    }
    let formula = draft
        .formula
        .map(|f| f.trim().to_owned())
        .filter(|f| !f.is_empty());
    match (field_type, &formula) {
        (FieldType::Formula, None) => fail("formula", "is required for FORMULA fields"),
        (FieldType::Formula, Some(f)) if f.chars().count() > 1_000 => {
            fail("formula", "must be at most 1000 characters")
        }
        (FieldType::Formula, Some(_)) | (_, None) => {}
        (_, Some(_)) => fail("formula", "is only for FORMULA fields"),
    }
    let unit = draft.unit.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty());
    if unit
        .as_ref()
        .is_some_and(|u| u.chars().count() > 50 || u.chars().any(char::is_control))
    {
        fail("unit", "must be at most 50 characters");
    }
    let numeric_or_computed = matches!(
        field_type,
        FieldType::Integer | FieldType::Decimal | FieldType::Formula
    );
    if unit.is_some() && !numeric_or_computed {
        fail("unit", "is only for INTEGER, DECIMAL and FORMULA fields");
    }
    let total = draft.total.unwrap_or(false);
    if total && !numeric_or_computed {
        fail("total", "is only for INTEGER, DECIMAL and FORMULA fields");
    }
    let unique = draft.unique.unwrap_or(false);
    if unique
        && matches!(
            field_type,
            FieldType::LongText | FieldType::Boolean | FieldType::MultiSelect | FieldType::Formula
        )
    {
        fail("unique", "is not available for this field type");
    }
    if !errors.is_empty() {
        return Err(AppError::invalid_fields(errors));
    }
    Ok(FieldSpec {
        key,
        label: label.unwrap_or_default(),
        field_type,
        required: draft.required.unwrap_or(false),
        unique,
        options: options.filter(|_| selects),
        min: draft.min,
        max: draft.max,
        pattern: draft.pattern,
        reference_table_id: draft.reference_table_id,
        formula,
        restricted: draft.restricted.unwrap_or(false),
        unit,
        total,
    })
}

impl FieldSpec {
    /// The stored row for this spec.
    pub fn to_row(
        &self,
        id: Uuid,
        table_id: Uuid,
        position: i32,
        now: chrono::DateTime<chrono::Utc>,
    ) -> FieldRow {
        FieldRow {
            id,
            table_id,
            key: self.key.clone(),
            label: self.label.clone(),
            field_type: self.field_type.as_str().to_owned(),
            required: self.required,
            is_unique: self.unique,
            position,
            options: self.options.as_ref().map(|o| serde_json::json!(o)),
            min_value: self.min,
            max_value: self.max,
            pattern: self.pattern.clone(),
            reference_table_id: self.reference_table_id,
            formula: self.formula.clone(),
            restricted: self.restricted,
            created_at: now,
            unit: self.unit.clone(),
            total: self.total,
        }
    }

    /// The spec of a stored row (for the before/after of a schema change).
    pub fn of_row(row: &FieldRow) -> Self {
        Self {
            key: row.key.clone(),
            label: row.label.clone(),
            field_type: FieldType::parse(&row.field_type).unwrap_or(FieldType::Text),
            required: row.required,
            unique: row.is_unique,
            options: row
                .options
                .as_ref()
                .and_then(|o| serde_json::from_value(o.clone()).ok()),
            min: row.min_value,
            max: row.max_value,
            pattern: row.pattern.clone(),
            reference_table_id: row.reference_table_id,
            formula: row.formula.clone(),
            restricted: row.restricted,
            unit: row.unit.clone(),
            total: row.total,
        }
    }

    /// JSON snapshot for the schema history.
    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}
