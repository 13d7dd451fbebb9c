//! Factor rules: who sees and changes a company's factors (factor:view, factor:manage),
//! what a version must hold, and that versions are added and deleted, never edited.

use bigdecimal::BigDecimal;
use chrono::{DateTime, NaiveDate, Utc};
use diesel_async::AsyncPgConnection;
use futures_util::FutureExt;
use serde_json::json;
use uuid::Uuid;

use super::model::FactorRow;
use super::store;
use crate::app::App;
use crate::auth::caller::Caller;
use crate::companies::access;
use crate::db::tx::{self, Change, Touches};
use crate::error::{AppError, AppResult, ErrorCode, FieldError, InputCheck};
use crate::events::verb::Verb;
use crate::events::write::{self, Activity};
use crate::input;
use crate::rbac::catalog::{Action, Resource};
use crate::rows::recalculate::recalculate_users;

/// Longest search text.
const MAX_SEARCH_CHARS: usize = 100;

/// A factor version as a client or a file gave it, before any check.
#[derive(Debug, Clone, Default)]
pub struct FactorDraft {
    pub key: String,
    pub label: String,
    pub value: String,
    pub unit: String,
    pub source: String,
    pub source_year: Option<i32>,
    pub licence: Option<String>,
    pub basis: Option<String>,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
}

/// A factor version whose every part passed the checks, not yet stored.
#[derive(Debug, Clone)]
pub struct CheckedFactor {
    key: String,
    label: String,
    value: BigDecimal,
    unit: String,
    basis: Option<String>,
    source: String,
    source_year: Option<i32>,
    licence: Option<String>,
    valid_from: Option<NaiveDate>,
    valid_to: Option<NaiveDate>,
}

impl FactorDraft {
    /// Checks every part (the one place a version's rules live), naming each bad part by
    /// its input name (`key`, `validTo`…).
    pub fn check(self) -> Result<CheckedFactor, Vec<FieldError>> {
        let mut check = InputCheck::default();
        let key = self.key.trim().to_owned();
        if !is_factor_key(&key) {
            check.take::<()>(Err(AppError::invalid(
                "key",
                "must be lower-case: a letter, then letters, digits, _ or . (at most 64)",
            )));
        }
        let label = check.take(input::text(&self.label, "label", 1, 200));
        let value = check
            .take(input::exact_decimal(&self.value).map_err(|message| AppError::invalid("value", message)));
        let unit = check.take(input::text(&self.unit, "unit", 1, 50));
        let source = check.take(input::text(&self.source, "source", 1, 500));
        let licence = check.take(input::optional_text(self.licence, "licence", 200));
        let basis = check.take(input::optional_text(self.basis, "basis", 500));
        if self
            .source_year
            .is_some_and(|year| !(1900..=2200).contains(&year))
        {
            check.take::<()>(Err(AppError::invalid("sourceYear", "must be a year like 2025")));
        }
        let valid_from = check.take(parse_date(self.valid_from, "validFrom")).flatten();
        let valid_to = check.take(parse_date(self.valid_to, "validTo")).flatten();
        if let (Some(from), Some(to)) = (valid_from, valid_to)
            && from > to
        {
            check.take::<()>(Err(AppError::invalid("validTo", "must not be before validFrom")));
        }
        check.finish().map_err(|error| error.fields)?;
        match (label, value, unit, source, licence, basis) {
            (Some(label), Some(value), Some(unit), Some(source), Some(licence), Some(basis)) => {
                Ok(CheckedFactor {
                    key,
                    label,
                    value,
                    unit,
                    basis,
                    source,
                    source_year: self.source_year,
                    licence,
                    valid_from,
                    valid_to,
                })
            }
            _ => Err(vec![FieldError {
                path: "value".to_owned(),
                message: "could not be read".to_owned(),
            }]),
        }
    }
}

impl CheckedFactor {
    /// The key it is a version of.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The row to store for `owner` (None: the shipped defaults).
    pub fn into_row(self, owner: Option<Uuid>, now: DateTime<Utc>) -> FactorRow {
        FactorRow {
            id: Uuid::new_v4(),
            company_id: owner,
            key: self.key,
            label: self.label,
            value: self.value,
            unit: self.unit,
            basis: self.basis,
            source: self.source,
            source_year: self.source_year,
            licence: self.licence,
            valid_from: self.valid_from,
            valid_to: self.valid_to,
            created_at: now,
        }
    }
}

/// A factor key: lower-case, a letter first, then letters, digits, `_` or `.` (at most 64).
pub fn is_factor_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && key.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
}

fn parse_date(raw: Option<String>, path: &str) -> AppResult<Option<NaiveDate>> {
    input::non_empty(raw)
        .map(|raw| input::date(&raw, path))
        .transpose()
}

/// The versions of some factors a company sees, ready to say which is in effect on a day:
/// of the versions whose period holds the day, the company's own over the default's, and
/// of those the one that started last.
#[derive(Debug, Default)]
pub struct FactorBook {
    /// In key order, the company's first, the latest start first.
    versions: Vec<FactorRow>,
}

impl FactorBook {
    /// Reads every version of `keys` the company sees.
    pub async fn load(conn: &mut AsyncPgConnection, company_id: Uuid, keys: &[String]) -> AppResult<Self> {
        if keys.is_empty() {
            return Ok(Self::default());
        }
        Ok(Self {
            versions: store::versions_of(conn, company_id, keys).await?,
        })
    }

    /// The units the versions of `key` are per (none: the company sees no such factor).
    pub fn units_of(&self, key: &str) -> Vec<&str> {
        let mut units: Vec<&str> = self
            .versions
            .iter()
            .filter(|factor| factor.key == key)
            .map(|factor| factor.unit.as_str())
            .collect();
        units.dedup();
        units
    }

    /// The version of `key` in effect on `day`.
    pub fn in_effect(&self, key: &str, day: NaiveDate) -> Option<&FactorRow> {
        self.versions
            .iter()
            .filter(|factor| factor.key == key)
            .find(|factor| holds(factor, day))
    }
}

/// Whether a field measured in `field_unit` fits a factor per `factor_unit`: the same
/// unit, any case, a plural `s` aside ("litres" fits "litre").
pub fn units_match(field_unit: &str, factor_unit: &str) -> bool {
    let norm = |unit: &str| {
        let unit = unit.trim().to_lowercase();
        unit.strip_suffix('s').map(str::to_owned).unwrap_or(unit)
    };
    norm(field_unit) == norm(factor_unit)
}

/// Whether the factor's period holds the day.
fn holds(factor: &FactorRow, day: NaiveDate) -> bool {
    factor.valid_from.is_none_or(|from| from <= day) && factor.valid_to.is_none_or(|to| day <= to)
}

/// The company's factors with the defaults (factor:view), by key; with `on`, only the
/// version of each key in effect that day.
pub async fn list(
    app: &App,
    caller: &Caller,
    company_id: Uuid,
    search: Option<String>,
    on: Option<String>,
) -> AppResult<Vec<FactorRow>> {
    let actor = caller.acting()?;
    let mut check = InputCheck::default();
    let search =
        input::non_empty(search).and_then(|s| check.take(input::text(&s, "search", 1, MAX_SEARCH_CHARS)));
    let on = check.take(parse_date(on, "on")).flatten();
    tx::read(app, actor.scope(), async |conn| {
        access::member(conn, company_id, actor)
            .await?
            .require(Resource::Factor, Action::View)?;
        check.finish()?;
        let versions = store::list(conn, company_id, search.as_deref()).await?;
        let Some(day) = on else {
            return Ok(versions);
        };
        let mut in_effect: Vec<FactorRow> = versions.into_iter().filter(|f| holds(f, day)).collect();
        // In book order, the first of each key is the one in effect.
        in_effect.dedup_by(|later, first| later.key == first.key);
        Ok(in_effect)
    })
    .await
}

/// Adds a version of a factor to the company (factor:manage); CONFLICT when the company
/// has a version of the key starting the same day.
pub async fn create(
    app: &App,
    caller: &Caller,
    company_id: Uuid,
    draft: FactorDraft,
) -> AppResult<FactorRow> {
    caller.acting()?;
    let checked = draft.check().map_err(|fields| {
        AppError::invalid_fields(
            fields
                .into_iter()
                .map(|field| FieldError {
                    path: format!("input.{}", field.path),
                    message: field.message,
                })
                .collect(),
        )
    });
    tx::write(
        app,
        caller,
        Touches::CALCULATION,
        |Change { conn, actor, now, .. }| {
            async move {
                access::member(conn, company_id, actor)
                    .await?
                    .require(Resource::Factor, Action::Manage)?;
                let factor = checked?.into_row(Some(company_id), now);
                let known = store::versions_of(conn, company_id, std::slice::from_ref(&factor.key)).await?;
                if let Some(other) = known.iter().find(|f| !units_match(&f.unit, &factor.unit)) {
                    return Err(AppError::invalid("input.unit", unit_refusal(other)));
                }
                let row = store::insert(conn, &factor)
                    .await?
                    .ok_or_else(|| AppError::conflict(already_versioned(&factor)))?;
                let to_recalculate =
                    recalculate_users(conn, Some(company_id), std::slice::from_ref(&row.key), now).await?;
                let activity = Activity::new(
                    company_id,
                    Some(actor),
                    Verb::FactorCreated,
                    ("factor", row.id),
                    format!(
                        "Emission factor {} ({}) added: {} per {}",
                        row.key,
                        period(&row),
                        row.value,
                        row.unit
                    ),
                )
                .data(json!({
                    "key": row.key, "value": row.value.to_string(), "validFrom": row.valid_from,
                    "validTo": row.valid_to, "rowsToRecalculate": to_recalculate,
                }));
                write::record(conn, now, activity).await?;
                Ok(row)
            }
            .boxed()
        },
    )
    .await
}

/// Deletes a company's factor version (factor:manage); the defaults are read-only.
pub async fn delete(app: &App, caller: &Caller, factor_id: Uuid) -> AppResult<()> {
    tx::write(app, caller, Touches::CALCULATION, |Change { conn, actor, now, .. }| {
        async move {
            let factor = store::find(conn, factor_id)
                .await?
                .ok_or_else(|| AppError::not_found("emission factor"))?;
            let Some(company_id) = factor.company_id else {
                return Err(AppError::forbidden(
                    "the shipped default factors are read-only: add a company version of the key to override one",
                ));
            };
            // Another company's factor is as unknown as one that never was.
            access::member(conn, company_id, actor)
                .await
                .map_err(|error| match error.code {
                    ErrorCode::NotFound => AppError::not_found("emission factor"),
                    _ => error,
                })?
                .require(Resource::Factor, Action::Manage)?;
            store::delete(conn, factor.id).await?;
            let to_recalculate =
                recalculate_users(conn, Some(company_id), std::slice::from_ref(&factor.key), now).await?;
            let activity = Activity::new(
                company_id,
                Some(actor),
                Verb::FactorDeleted,
                ("factor", factor.id),
                format!("Emission factor {} ({}) deleted", factor.key, period(&factor)),
            )
            .data(json!({ "key": factor.key, "rowsToRecalculate": to_recalculate }));
            write::record(conn, now, activity).await.map(|_| ())
        }
        .boxed()
    })
    .await
}

/// Why a version of a key cannot be in another unit than `other`, a version it has.
pub fn unit_refusal(other: &FactorRow) -> String {
    format!(
        "must be {} like the other versions of {}: formulas multiply fields measured in it",
        other.unit, other.key
    )
}

/// Why a version cannot be stored where its owner has one of the key starting that day.
pub fn already_versioned(factor: &FactorRow) -> String {
    format!(
        "{} already has a version of {} starting {}: a version never changes; add one with a later validFrom",
        if factor.company_id.is_some() {
            "the company"
        } else {
            "the default set"
        },
        factor.key,
        factor
            .valid_from
            .map_or_else(|| "with no start".to_owned(), |d| d.to_string())
    )
}

/// The validity period as people read it: `2025-01-01 to 2025-12-31`, `from 2025-01-01`.
fn period(factor: &FactorRow) -> String {
    match (factor.valid_from, factor.valid_to) {
        (Some(from), Some(to)) => format!("{from} to {to}"),
        (Some(from), None) => format!("from {from}"),
        (None, Some(to)) => format!("until {to}"),
        (None, None) => "always".to_owned(),
    }
}
