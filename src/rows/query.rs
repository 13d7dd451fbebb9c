//! What a client may ask of a table's rows — `filter`, `orderBy` and the cursor — parsed
//! and checked against the fields the caller can see, before any SQL is written.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bigdecimal::BigDecimal;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::str::FromStr;
use uuid::Uuid;

use super::values::{FieldRule, RowRules};
use crate::error::{AppError, AppResult, FieldError};
use crate::tables::model::FieldType;

/// Most values an `in` list may hold.
const MAX_IN_VALUES: usize = 100;
/// Most conditions a filter may hold.
const MAX_CONDITIONS: usize = 20;

/// How a field's values compare in SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// As numbers (INTEGER and DECIMAL).
    Number,
    /// As text (dates and date-times are stored in ISO form, so they order as text too).
    Text,
    /// Equality only (BOOLEAN).
    Equality,
    /// Lists of options (MULTI_SELECT).
    List,
}

impl Comparison {
    fn of(field_type: FieldType) -> Self {
        match field_type {
            FieldType::Integer | FieldType::Decimal => Self::Number,
            FieldType::Boolean => Self::Equality,
            FieldType::MultiSelect => Self::List,
            _ => Self::Text,
        }
    }
}

/// One filter operator with its (canonical) operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Operator {
    /// The row holds exactly this value: `cells @> {"key": value}`.
    Eq(Value),
    Ne(Value),
    /// An ordering comparison ("<", "<=", ">", ">=") with the operand as text.
    Compare(&'static str, String),
    In(Vec<Value>),
    /// Text containing a substring (case-insensitive), or a list containing an option.
    Contains(Value),
    IsNull(bool),
}

/// One condition on one field.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub key: String,
    pub comparison: Comparison,
    pub operator: Operator,
}

/// The order of a row list.
#[derive(Debug, Clone, PartialEq)]
pub enum Order {
    /// Oldest first (the default).
    Created,
    /// By a field's value (nulls last), then by id.
    Field {
        key: String,
        comparison: Comparison,
        descending: bool,
    },
}

/// Where the previous page ended.
#[derive(Debug, Clone, PartialEq)]
pub enum RowCursor {
    Created { at: DateTime<Utc>, id: Uuid },
    Field { value: Option<String>, id: Uuid },
}

impl RowCursor {
    /// The opaque text handed to clients.
    pub fn encode(&self) -> String {
        let json = match self {
            Self::Created { at, id } => json!(["c", at.to_rfc3339(), id]),
            Self::Field { value, id } => json!(["f", value, id]),
        };
        URL_SAFE_NO_PAD.encode(json.to_string())
    }

    /// Reads a cursor sent back for a list in `order`.
    pub fn decode(text: &str, order: &Order) -> AppResult<Self> {
        let invalid = || AppError::invalid("after", "is not a cursor from this list");
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let parts: (String, Value, Uuid) = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        match (parts, order) {
            ((kind, Value::String(at), id), Order::Created) if kind == "c" => Ok(Self::Created {
                at: DateTime::parse_from_rfc3339(&at).map_err(|_| invalid())?.to_utc(),
                id,
            }),
            ((kind, value, id), Order::Field { comparison, .. }) if kind == "f" => {
                let value = match value {
                    Value::Null => None,
                    Value::String(s)
                        if *comparison != Comparison::Number || BigDecimal::from_str(&s).is_ok() =>
                    {
                        Some(s)
                    }
                    _ => return Err(invalid()),
                };
                Ok(Self::Field { value, id })
            }
            _ => Err(invalid()),
        }
    }
}

/// The text a row sorts by under `order`, for its cursor.
pub fn sort_value(cells: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    match cells.get(key)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Parses `orderBy`: "key" or "-key" of a visible, orderable field.
pub fn parse_order(order_by: Option<&str>, rules: &RowRules) -> AppResult<Order> {
    let Some(text) = order_by.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(Order::Created);
    };
    let (key, descending) = match text.strip_prefix('-') {
        Some(key) => (key, true),
        None => (text, false),
    };
    let rule = visible(rules, key)
        .ok_or_else(|| AppError::invalid("orderBy", format!("{key} is not a field of this table")))?;
    let comparison = Comparison::of(rule.stored_as);
    if comparison == Comparison::List || rule.stored_as == FieldType::Formula {
        return Err(AppError::invalid(
            "orderBy",
            format!("{key} cannot be ordered by"),
        ));
    }
    Ok(Order::Field {
        key: key.to_owned(),
        comparison,
        descending,
    })
}

/// The field with this key, if the caller may see it (restricted ones need table:manage).
pub fn visible<'r>(rules: &'r RowRules, key: &str) -> Option<&'r FieldRule> {
    rules
        .field(key)
        .filter(|rule| rules.manages_table() || !rule.spec.restricted)
}

/// Parses `filter`: `{ key: { op: operand, ... }, ... }`, all combined with AND.
pub fn parse_filter(filter: Option<&Value>, rules: &RowRules) -> AppResult<Vec<Condition>> {
    let Some(filter) = filter.filter(|f| !f.is_null()) else {
        return Ok(Vec::new());
    };
    let object = filter.as_object().ok_or_else(|| {
        AppError::invalid("filter", "must be an object like { \"litres\": { \"gt\": 100 } }")
    })?;
    let mut conditions = Vec::new();
    let mut errors = Vec::new();
    for (key, ops) in object {
        let Some(rule) = visible(rules, key) else {
            errors.push(FieldError {
                path: format!("filter.{key}"),
                message: "is not a field of this table".to_owned(),
            });
            continue;
        };
        let Some(ops) = ops.as_object() else {
            errors.push(FieldError {
                path: format!("filter.{key}"),
                message: "must be an object of operators (eq, ne, lt, lte, gt, gte, in, contains, isNull)"
                    .to_owned(),
            });
            continue;
        };
        for (op, operand) in ops {
            match condition(rule, op, operand) {
                Ok(operator) => conditions.push(Condition {
                    key: key.clone(),
                    comparison: Comparison::of(rule.stored_as),
                    operator,
                }),
                Err(message) => errors.push(FieldError {
                    path: format!("filter.{key}.{op}"),
                    message,
                }),
            }
        }
    }
    if conditions.len() > MAX_CONDITIONS {
        errors.push(FieldError {
            path: "filter".to_owned(),
            message: format!("at most {MAX_CONDITIONS} conditions"),
        });
    }
    if errors.is_empty() {
        Ok(conditions)
    } else {
        Err(AppError::invalid_fields(errors))
    }
}

fn condition(rule: &FieldRule, op: &str, operand: &Value) -> Result<Operator, String> {
    let comparison = Comparison::of(rule.stored_as);
    let relaxed = rule.relaxed();
    let value = |v: &Value| relaxed.normalise(v);
    match op {
        "eq" | "ne" if comparison == Comparison::List => {
            let list = value(operand)?;
            Ok(if op == "eq" {
                Operator::Eq(list)
            } else {
                Operator::Ne(list)
            })
        }
        "eq" => Ok(Operator::Eq(value(operand)?)),
        "ne" => Ok(Operator::Ne(value(operand)?)),
        "lt" | "lte" | "gt" | "gte" => {
            if !matches!(comparison, Comparison::Number | Comparison::Text) {
                return Err("this field cannot be compared by order".to_owned());
            }
            let symbol = match op {
                "lt" => "<",
                "lte" => "<=",
                "gt" => ">",
                _ => ">=",
            };
            let text = match value(operand)? {
                Value::String(s) => s,
                other => other.to_string(),
            };
            Ok(Operator::Compare(symbol, text))
        }
        "in" => {
            let items = operand.as_array().ok_or("must be a list")?;
            if items.is_empty() || items.len() > MAX_IN_VALUES {
                return Err(format!("must hold 1 to {MAX_IN_VALUES} values"));
            }
            items
                .iter()
                .map(value)
                .collect::<Result<_, _>>()
                .map(Operator::In)
        }
        "contains" => match comparison {
            Comparison::List => {
                let option = operand.as_str().ok_or("must be one option")?;
                relaxed.normalise(&json!([option]))?;
                Ok(Operator::Contains(json!([option])))
            }
            Comparison::Text => {
                let text = operand.as_str().ok_or("must be a string")?;
                if text.is_empty() || text.chars().count() > 200 {
                    return Err("must be 1 to 200 characters".to_owned());
                }
                Ok(Operator::Contains(Value::String(text.to_owned())))
            }
            _ => Err("is only for text and multi-select fields".to_owned()),
        },
        "isNull" => operand
            .as_bool()
            .map(Operator::IsNull)
            .ok_or_else(|| "must be true or false".to_owned()),
        _ => Err("is not an operator (eq, ne, lt, lte, gt, gte, in, contains, isNull)".to_owned()),
    }
}
