//! Row values checked against their table's fields: every value is validated and put in
//! canonical form (ISO dates, canonical decimal strings, select options as given) before it
//! is stored, and every problem is reported, not only the first.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bigdecimal::BigDecimal;
use chrono::{DateTime, NaiveDate, SecondsFormat};

use regex::Regex;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::formulas::Calculator;
use crate::input;
use crate::tables::fields::FieldSpec;
use crate::tables::formula::{self, FieldOutline, Kind};
use crate::tables::model::{FieldRow, FieldType};

/// Longest TEXT (and EMAIL, URL) value, in characters.
pub const MAX_TEXT_CHARS: usize = 10_000;
/// Largest LONG_TEXT value, in bytes.
pub const MAX_LONG_TEXT_BYTES: usize = 100 * 1024;

/// One field with its rules prepared once: the compiled pattern and exact bounds.
pub struct FieldRule {
    pub id: Uuid,
    pub spec: FieldSpec,
    /// The type its stored values have: its own, or for a formula what it computes
    /// (DECIMAL or BOOLEAN), so filters and orders treat it like those.
    pub stored_as: FieldType,
    pattern: Option<Regex>,
    min: Option<BigDecimal>,
    max: Option<BigDecimal>,
}

/// Why one value was refused, under the key of its field.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueError {
    pub key: String,
    pub message: String,
}

impl ValueError {
    /// A refusal of the value under `key`.
    pub fn new(key: &str, message: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

fn bound(value: Option<f64>) -> Option<BigDecimal> {
    value.and_then(|v| BigDecimal::from_str(&v.to_string()).ok())
}

impl FieldRule {
    /// Prepares a field's rules (its pattern was checked when the field was defined).
    pub fn new(id: Uuid, spec: FieldSpec) -> Self {
        let pattern = spec.pattern.as_deref().and_then(|p| Regex::new(p).ok());
        let (min, max) = (bound(spec.min), bound(spec.max));
        Self {
            id,
            stored_as: spec.field_type,
            spec,
            pattern,
            min,
            max,
        }
    }

    /// The rules of a stored field.
    pub fn of_row(row: &FieldRow) -> Self {
        Self::new(row.id, FieldSpec::of_row(row))
    }

    /// The same field without bounds, pattern or requirement: for reading filter operands.
    pub fn relaxed(&self) -> Self {
        let mut spec = self.spec.clone();
        spec.min = None;
        spec.max = None;
        spec.pattern = None;
        spec.required = false;
        spec.field_type = self.stored_as;
        Self::new(self.id, spec)
    }

    /// The canonical form of one non-null value, or why it is refused.
    pub fn normalise(&self, value: &Value) -> Result<Value, String> {
        let spec = &self.spec;
        match spec.field_type {
            FieldType::Text | FieldType::LongText | FieldType::Email | FieldType::Url => {
                let text = value.as_str().ok_or("must be a string")?;
                self.check_text(text).map(Value::String)
            }
            FieldType::Integer => {
                let number = integer(value)?;
                self.check_range(&BigDecimal::from(number))?;
                Ok(Value::from(number))
            }
            FieldType::Decimal => {
                let number = decimal(value)?;
                self.check_range(&number)?;
                Ok(Value::String(number.to_plain_string()))
            }
            FieldType::Boolean => boolean(value).map(Value::Bool),
            FieldType::Date => {
                let text = value.as_str().ok_or("must be a date like 2026-03-31")?;
                NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
                    .map(|d| Value::String(d.format("%Y-%m-%d").to_string()))
                    .map_err(|_| "must be a date like 2026-03-31".to_owned())
            }
            FieldType::Datetime => {
                let invalid =
                    || "must be an RFC 3339 date-time with a zone, like 2026-03-31T12:00:00Z".to_owned();
                let text = value.as_str().ok_or_else(invalid)?;
                let at = DateTime::parse_from_rfc3339(text.trim()).map_err(|_| invalid())?;
                Ok(Value::String(
                    at.to_utc().to_rfc3339_opts(SecondsFormat::Millis, true),
                ))
            }
            FieldType::SingleSelect => {
                let option = value.as_str().ok_or("must be one of the options")?;
                self.check_option(option)?;
                Ok(Value::String(option.to_owned()))
            }
            FieldType::MultiSelect => self.multi_select(value),
            FieldType::Reference => {
                let text = value.as_str().ok_or("must be the id of a row")?;
                Uuid::parse_str(text.trim())
                    .map(|id| Value::String(id.to_string()))
                    .map_err(|_| "must be the id of a row".to_owned())
            }
            FieldType::Formula => Err("is computed; it cannot be written".to_owned()),
        }
    }

    fn check_text(&self, raw: &str) -> Result<String, String> {
        let spec = &self.spec;
        let text = match spec.field_type {
            FieldType::Email | FieldType::Url => raw.trim(),
            _ => raw,
        };
        if spec.field_type == FieldType::LongText {
            if text.len() > MAX_LONG_TEXT_BYTES {
                return Err(format!("must be at most {MAX_LONG_TEXT_BYTES} bytes"));
            }
        } else if text.chars().count() > MAX_TEXT_CHARS {
            return Err(format!("must be at most {MAX_TEXT_CHARS} characters"));
        }
        if spec.field_type == FieldType::Email && !email_address::EmailAddress::is_valid(text) {
            return Err("must be an email address".to_owned());
        }
        if spec.field_type == FieldType::Url {
            crate::input::optional_url(Some(text.to_owned()), &spec.key)
                .map_err(|_| "must be an http:// or https:// URL".to_owned())?;
        }
        let length = text.chars().count() as f64;
        if let Some(min) = spec.min
            && length < min
        {
            return Err(format!("must be at least {min} characters"));
        }
        if let Some(max) = spec.max
            && length > max
        {
            return Err(format!("must be at most {max} characters"));
        }
        if let Some(pattern) = &self.pattern
            && !pattern.is_match(text)
        {
            return Err(format!("must match the pattern {}", pattern.as_str()));
        }
        Ok(text.to_owned())
    }

    fn check_range(&self, number: &BigDecimal) -> Result<(), String> {
        if let Some(min) = &self.min
            && number < min
        {
            return Err(format!("must be at least {}", min.to_plain_string()));
        }
        if let Some(max) = &self.max
            && number > max
        {
            return Err(format!("must be at most {}", max.to_plain_string()));
        }
        Ok(())
    }

    fn check_option(&self, option: &str) -> Result<(), String> {
        let options = self.spec.options.as_deref().unwrap_or_default();
        if options.iter().any(|o| o == option) {
            Ok(())
        } else {
            Err(format!("must be one of: {}", options.join(", ")))
        }
    }

    fn multi_select(&self, value: &Value) -> Result<Value, String> {
        let chosen: Vec<String> = match value {
            Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or("must be a list of options"))
                .collect::<Result<_, _>>()?,
            // CSV cells list the options separated by semicolons.
            Value::String(text) => text
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            _ => return Err("must be a list of options".to_owned()),
        };
        for option in &chosen {
            self.check_option(option)?;
        }
        if chosen.iter().collect::<HashSet<_>>().len() != chosen.len() {
            return Err("must not repeat an option".to_owned());
        }
        Ok(Value::from(chosen))
    }

    /// What a unique field's value is claimed under: the SHA-256 of its canonical text
    /// (emails ignore case), so values of any length fit the claim index.
    pub fn unique_claim(&self, value: &Value) -> Option<String> {
        if !self.spec.unique {
            return None;
        }
        let text = match value {
            Value::Null => return None,
            Value::String(text) if self.spec.field_type == FieldType::Email => text.to_lowercase(),
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        Some(URL_SAFE_NO_PAD.encode(crate::auth::tokens::hash_token(&text)))
    }
}

fn integer(value: &Value) -> Result<i64, String> {
    let invalid = || "must be a whole number between -9223372036854775808 and 9223372036854775807".to_owned();
    match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            })
            .ok_or_else(invalid),
        Value::String(text) => text.trim().parse().map_err(|_| invalid()),
        _ => Err(invalid()),
    }
}

fn decimal(value: &Value) -> Result<BigDecimal, String> {
    match value {
        Value::Number(n) => input::exact_decimal(&n.to_string()),
        Value::String(text) => input::exact_decimal(text),
        _ => Err(input::DECIMAL_EXPECTED.to_owned()),
    }
}

fn boolean(value: &Value) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(true),
            "false" | "no" | "0" => Ok(false),
            _ => Err("must be true or false".to_owned()),
        },
        _ => Err("must be true or false".to_owned()),
    }
}

/// A table's fields, prepared for checking many rows.
pub struct RowRules {
    pub fields: Vec<FieldRule>,
    by_key: HashMap<String, usize>,
    /// Whether the caller holds table:manage: restricted fields are theirs to read and write.
    manages_table: bool,
    /// The table's formulas, computed for every row checked (None: it has none).
    calculator: Option<Calculator>,
    /// The day factors are taken on for a row without a date of its own.
    default_day: NaiveDate,
}

impl RowRules {
    /// The rules for writing rows of a table with these fields.
    pub fn new(fields: &[FieldRow], manages_table: bool) -> Self {
        let computed = computed_types(fields);
        let fields: Vec<FieldRule> = fields
            .iter()
            .map(|row| {
                let mut rule = FieldRule::of_row(row);
                if let Some(stored_as) = computed.get(row.key.as_str()) {
                    rule.stored_as = *stored_as;
                }
                rule
            })
            .collect();
        let by_key = fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.spec.key.clone(), i))
            .collect();
        Self {
            fields,
            by_key,
            manages_table,
            calculator: None,
            default_day: chrono::Utc::now().date_naive(),
        }
    }

    /// The same rules computing the table's formulas for every row they check.
    #[must_use]
    pub fn computing(mut self, calculator: Option<Calculator>) -> Self {
        self.calculator = calculator;
        self
    }

    /// Takes factors on `day` for rows without a date of their own (a write's cycle's last
    /// day, else the day of the write).
    pub fn take_factors_on(&mut self, day: NaiveDate) {
        self.default_day = day;
    }

    /// The table's formulas, if it has any.
    pub fn calculator(&self) -> Option<&Calculator> {
        self.calculator.as_ref()
    }

    /// Whether the caller holds table:manage, which restricted fields need.
    pub fn manages_table(&self) -> bool {
        self.manages_table
    }

    /// The field with this key.
    pub fn field(&self, key: &str) -> Option<&FieldRule> {
        self.by_key.get(key).map(|&i| &self.fields[i])
    }

    /// Checks a whole new row: every writable field present (null when not given).
    pub fn new_row(&self, input: &Value) -> Result<Map<String, Value>, Vec<ValueError>> {
        self.merge(&Map::new(), input)
    }

    /// Applies `patch` (keys given are set, null clears) to `current` and checks the result.
    pub fn merge(
        &self,
        current: &Map<String, Value>,
        patch: &Value,
    ) -> Result<Map<String, Value>, Vec<ValueError>> {
        let Some(patch) = patch.as_object() else {
            return Err(vec![ValueError::new(
                "",
                "must be a JSON object of field keys to values",
            )]);
        };
        let mut errors = Vec::new();
        for key in patch.keys() {
            if self.field(key).is_none() {
                errors.push(ValueError::new(key, "is not a field of this table"));
            }
        }
        let mut row = Map::new();
        for rule in &self.fields {
            let key = &rule.spec.key;
            if rule.spec.field_type == FieldType::Formula {
                if patch.get(key).is_some_and(|v| !v.is_null()) {
                    errors.push(ValueError::new(key, "is computed; it cannot be written"));
                }
                continue;
            }
            let value = match patch.get(key) {
                Some(given) if rule.spec.restricted && !self.manages_table => {
                    // A null is ignored either way, so it reveals nothing about the value.
                    if !given.is_null() {
                        errors.push(ValueError::new(
                            key,
                            "is restricted: changing it needs table:manage",
                        ));
                    }
                    current.get(key).cloned().unwrap_or(Value::Null)
                }
                Some(Value::Null) => Value::Null,
                Some(given) => match rule.normalise(given) {
                    Ok(value) => value,
                    Err(message) => {
                        errors.push(ValueError::new(key, message));
                        continue;
                    }
                },
                None => current.get(key).cloned().unwrap_or(Value::Null),
            };
            if rule.spec.required && is_blank(&value) {
                errors.push(ValueError::new(key, "is required"));
            }
            row.insert(key.clone(), value);
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        if let Some(calculator) = &self.calculator
            && let Err(mut error) = calculator.compute(&mut row, self.default_day)
        {
            // Why a restricted formula failed could tell of the values it hides.
            if !self.manages_table && self.field(&error.key).is_some_and(|f| f.spec.restricted) {
                error.message = "cannot be computed from this row's values".to_owned();
            }
            return Err(vec![error]);
        }
        Ok(row)
    }
}

/// The type each formula field's values are stored as (what it computes).
fn computed_types(fields: &[FieldRow]) -> HashMap<&str, FieldType> {
    let outline: Vec<FieldOutline<'_>> = fields
        .iter()
        .filter_map(|field| {
            Some(FieldOutline {
                key: &field.key,
                field_type: FieldType::parse(&field.field_type)?,
                formula: field.formula.as_deref(),
            })
        })
        .collect();
    let Ok(plan) = formula::plan(&outline) else {
        return HashMap::new();
    };
    plan.iter()
        .filter_map(|(key, _, kind)| {
            let stored_as = match kind {
                Kind::Number => FieldType::Decimal,
                Kind::Bool => FieldType::Boolean,
                Kind::Text => return None,
            };
            let key = fields.iter().find(|f| &f.key == key)?.key.as_str();
            Some((key, stored_as))
        })
        .collect()
}

/// Null, an empty string or an empty list: what a required field may not hold.
pub fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(field_type: FieldType, tweak: impl FnOnce(&mut FieldSpec)) -> FieldRule {
        let mut spec = FieldSpec {
            key: "k".into(),
            label: "K".into(),
            field_type,
            required: false,
            unique: false,
            options: None,
            min: None,
            max: None,
            pattern: None,
            reference_table_id: None,
            formula: None,
            restricted: false,
            unit: None,
            total: false,
        };
        tweak(&mut spec);
        FieldRule::new(Uuid::nil(), spec)
    }

    #[test]
    fn decimals_are_exact_and_canonical() {
        let d = rule(FieldType::Decimal, |s| s.min = Some(0.0));
        assert_eq!(d.normalise(&json!("0012.5000")), Ok(json!("12.5")));
        assert_eq!(
            d.normalise(&json!("12345678901234567890.123456789012345678")),
            Ok(json!("12345678901234567890.123456789012345678"))
        );
        assert_eq!(d.normalise(&json!(100)), Ok(json!("100")));
        assert_eq!(d.normalise(&json!("1e3")), Ok(json!("1000")));
        assert!(d.normalise(&json!("-0.01")).is_err());
        assert!(d.normalise(&json!("1e999999")).is_err());
        assert!(d.normalise(&json!("abc")).is_err());
    }

    #[test]
    fn integers_bounds_and_strings() {
        let i = rule(FieldType::Integer, |s| {
            s.min = Some(1.0);
            s.max = Some(10.0);
        });
        assert_eq!(i.normalise(&json!("7")), Ok(json!(7)));
        assert_eq!(i.normalise(&json!(10)), Ok(json!(10)));
        assert!(i.normalise(&json!(11)).is_err());
        assert!(i.normalise(&json!(2.5)).is_err());
        assert!(i.normalise(&json!("9223372036854775808")).is_err());
    }

    #[test]
    fn dates_and_datetimes_are_iso() {
        let d = rule(FieldType::Date, |_| {});
        assert_eq!(d.normalise(&json!(" 2026-03-01 ")), Ok(json!("2026-03-01")));
        assert!(d.normalise(&json!("2026-02-30")).is_err());
        let t = rule(FieldType::Datetime, |_| {});
        assert_eq!(
            t.normalise(&json!("2026-03-01T12:00:00+02:00")),
            Ok(json!("2026-03-01T10:00:00.000Z"))
        );
        assert!(t.normalise(&json!("2026-03-01T12:00:00")).is_err());
    }

    #[test]
    fn text_rules() {
        let t = rule(FieldType::Text, |s| {
            s.min = Some(2.0);
            s.pattern = Some("^[A-Z]".into());
        });
        assert_eq!(t.normalise(&json!("Ab")), Ok(json!("Ab")));
        assert!(t.normalise(&json!("A")).is_err());
        assert!(t.normalise(&json!("ab")).is_err());
        let long = rule(FieldType::LongText, |_| {});
        assert!(long.normalise(&json!("x".repeat(MAX_LONG_TEXT_BYTES))).is_ok());
        assert!(
            long.normalise(&json!("x".repeat(MAX_LONG_TEXT_BYTES + 1)))
                .is_err()
        );
        let email = rule(FieldType::Email, |_| {});
        assert!(email.normalise(&json!("a@b.example")).is_ok());
        assert!(email.normalise(&json!("nope")).is_err());
    }

    #[test]
    fn selects_take_only_their_options() {
        let options = Some(vec!["diesel".to_owned(), "gas".to_owned()]);
        let single = rule(FieldType::SingleSelect, |s| s.options = options.clone());
        assert!(single.normalise(&json!("gas")).is_ok());
        assert!(single.normalise(&json!("Gas")).is_err());
        let multi = rule(FieldType::MultiSelect, |s| s.options = options);
        assert_eq!(
            multi.normalise(&json!("diesel; gas")),
            Ok(json!(["diesel", "gas"]))
        );
        assert!(multi.normalise(&json!(["gas", "gas"])).is_err());
    }
}
