//! Factor rules: who sees and changes a company's factors (factor:view, factor:manage),
//! what a version must hold, and that versions are added and deleted, never edited.

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
use crate::error::{AppError, AppResult, ErrorCode, InputCheck};
use crate::events::verb::Verb;
use crate::events::write::{self, Activity};
use crate::input;
use crate::rbac::catalog::{Action, Resource};
use crate::rows::recalculate::recalculate;
use crate::tables::store as table_store;

/// Longest search text.
const MAX_SEARCH_CHARS: usize = 100;

/// A factor version as the client sent it.
#[derive(Debug, Clone, Default)]
pub struct FactorDraft {
    pub company_id: Uuid,
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
    let mut conn = app.pool.get().await?;
    access::member(&mut conn, company_id, actor)
        .await?
        .require(Resource::Factor, Action::View)?;
    check.finish()?;
    let versions = store::list(&mut conn, company_id, search.as_deref()).await?;
    let Some(day) = on else {
        return Ok(versions);
    };
    let mut in_effect: Vec<FactorRow> = versions.into_iter().filter(|f| holds(f, day)).collect();
    // In book order, the first of each key is the one in effect.
    in_effect.dedup_by(|later, first| later.key == first.key);
    Ok(in_effect)
}

/// Adds a version of a factor to the company (factor:manage); CONFLICT when the company
/// has a version of the key starting the same day.
pub async fn create(app: &App, caller: &Caller, draft: FactorDraft) -> AppResult<FactorRow> {
    caller.acting()?;
    let mut check = InputCheck::default();
    let key = draft.key.trim().to_owned();
    if !is_factor_key(&key) {
        check.take::<()>(Err(AppError::invalid(
            "input.key",
            "must be lower-case: a letter, then letters, digits, _ or . (at most 64)",
        )));
    }
    let label = check.take(input::text(&draft.label, "input.label", 1, 200));
    let value = check.take(
        input::exact_decimal(&draft.value).map_err(|message| AppError::invalid("input.value", message)),
    );
    let unit = check.take(input::text(&draft.unit, "input.unit", 1, 50));
    let source = check.take(input::text(&draft.source, "input.source", 1, 500));
    let licence = check.take(input::optional_text(draft.licence, "input.licence", 200));
    let basis = check.take(input::optional_text(draft.basis, "input.basis", 500));
    if draft
        .source_year
        .is_some_and(|year| !(1900..=2200).contains(&year))
    {
        check.take::<()>(Err(AppError::invalid(
            "input.sourceYear",
            "must be a year like 2025",
        )));
    }
    let valid_from = check
        .take(parse_date(draft.valid_from, "input.validFrom"))
        .flatten();
    let valid_to = check.take(parse_date(draft.valid_to, "input.validTo")).flatten();
    if let (Some(from), Some(to)) = (valid_from, valid_to)
        && from > to
    {
        check.take::<()>(Err(AppError::invalid(
            "input.validTo",
            "must not be before validFrom",
        )));
    }
    let company_id = draft.company_id;
    tx::write(app, caller, Touches::ROWS, |Change { conn, actor, now, .. }| {
        async move {
            access::member(conn, company_id, actor)
                .await?
                .require(Resource::Factor, Action::Manage)?;
            check.finish()?;
            let (Some(label), Some(value), Some(unit), Some(source)) = (label, value, unit, source) else {
                return Err(AppError::internal(anyhow::anyhow!("input check passed without values")));
            };
            let known = store::versions_of(conn, company_id, std::slice::from_ref(&key)).await?;
            if let Some(other) = known.iter().find(|f| !units_match(&f.unit, &unit)) {
                return Err(AppError::invalid(
                    "input.unit",
                    format!(
                        "must be {} like the other versions of {key}: formulas multiply fields measured in it",
                        other.unit
                    ),
                ));
            }
            let factor = FactorRow {
                id: Uuid::new_v4(),
                company_id: Some(company_id),
                key,
                label,
                value,
                unit,
                basis: basis.flatten(),
                source,
                source_year: draft.source_year,
                licence: licence.flatten(),
                valid_from,
                valid_to,
                created_at: now,
            };
            let row = store::insert(conn, &factor).await?.ok_or_else(|| {
                AppError::conflict(format!(
                    "the company already has a version of {} starting {}: a version never changes; add one with a later validFrom",
                    factor.key,
                    factor.valid_from.map_or_else(|| "with no start".to_owned(), |d| d.to_string())
                ))
            })?;
            let recalculated = recalculate_users(conn, company_id, &row.key, "input", now).await?;
            let activity = Activity::new(
                company_id,
                Some(actor),
                Verb::FactorCreated,
                ("factor", row.id),
                format!("Emission factor {} ({}) added: {} per {}", row.key, period(&row), row.value, row.unit),
            )
            .data(json!({
                "key": row.key, "value": row.value.to_string(), "validFrom": row.valid_from,
                "validTo": row.valid_to, "rowsRecalculated": recalculated,
            }));
            write::record(conn, now, activity).await?;
            Ok(row)
        }
        .boxed()
    })
    .await
}

/// Deletes a company's factor version (factor:manage); the defaults are read-only.
pub async fn delete(app: &App, caller: &Caller, factor_id: Uuid) -> AppResult<()> {
    tx::write(app, caller, Touches::ROWS, |Change { conn, actor, now, .. }| {
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
            let recalculated = recalculate_users(conn, company_id, &factor.key, "id", now).await?;
            let activity = Activity::new(
                company_id,
                Some(actor),
                Verb::FactorDeleted,
                ("factor", factor.id),
                format!("Emission factor {} ({}) deleted", factor.key, period(&factor)),
            )
            .data(json!({ "key": factor.key, "rowsRecalculated": recalculated }));
            write::record(conn, now, activity).await.map(|_| ())
        }
        .boxed()
    })
    .await
}

/// Recomputes the company's rows whose formulas may read the factor (in the change's
/// transaction: a version that would leave a row unable to compute is refused at `path`);
/// answers how many rows changed.
async fn recalculate_users(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    key: &str,
    path: &str,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let mut changed = 0;
    for table_id in table_store::tables_with_formulas_naming(conn, company_id, key).await? {
        changed += recalculate(conn, company_id, table_id, path, now).await?;
    }
    Ok(changed)
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
