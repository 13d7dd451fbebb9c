//! Importing a file of factor versions (either layout of [`super::layouts`]) for a company
//! (factor:manage) or, at startup, into the shipped defaults (`DEFAULT_FACTORS_FILE`). Each
//! version is checked as `createEmissionFactor` checks one; a version its owner already has
//! exactly counts as unchanged, so a file can be imported again, while one that differs is
//! refused (a version never changes). ALL_OR_NOTHING stores nothing when any line is bad.
//! Rows whose formulas read an imported key are then recomputed in the background.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use futures_util::FutureExt;
use serde_json::json;
use tokio::io::AsyncReadExt;
use uuid::Uuid;

use super::layouts::{self, MAX_FILE_BYTES, Period, ReadFactors};
use super::model::FactorRow;
use super::service::{already_versioned, unit_refusal, units_match};
use super::store;
use crate::app::App;
use crate::auth::caller::Caller;
use crate::companies::access;
use crate::db::scope::{Crossing, Scope};
use crate::db::tx::{self, Change, Touches, Work};
use crate::error::{AppError, AppResult, InputCheck};
use crate::events::verb::Verb;
use crate::events::write::{self, Activity};
use crate::input;
use crate::rbac::catalog::{Action, Resource};
use crate::rows::import::{ImportMode, LineError, MAX_REPORTED_ERRORS};
use crate::rows::recalculate::recalculate_users;

/// What an import stored and refused.
#[derive(Debug, Default)]
pub struct FactorImport {
    /// New versions stored.
    pub added: usize,
    /// Versions the owner already had exactly.
    pub unchanged: usize,
    /// Lines refused (of the factor file or, with `field` "mapping", of the mapping file).
    pub rejected: usize,
    /// The refused lines (the first [`MAX_REPORTED_ERRORS`]).
    pub errors: Vec<LineError>,
    /// Stored rows whose formula values are recomputed in the background.
    pub rows_to_recalculate: i64,
}

/// The files of a company's import, as uploaded, and the period DESNZ lines are given.
pub struct FactorFiles {
    pub file: std::fs::File,
    pub mapping: Option<std::fs::File>,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
}

/// Whether `caller` may import factors into the company: checked before an upload's files are
/// received.
pub async fn may_import(app: &App, caller: &Caller, company_id: Uuid) -> AppResult<()> {
    let actor = caller.acting()?;
    tx::read(app, actor.scope(), async |conn| {
        access::member(conn, company_id, actor)
            .await?
            .require(Resource::Factor, Action::Manage)
    })
    .await
}

/// Imports a factor file into a company's own versions (factor:manage).
pub async fn import(
    app: &App,
    caller: &Caller,
    company_id: Uuid,
    files: FactorFiles,
    mode: ImportMode,
) -> AppResult<FactorImport> {
    caller.acting()?;
    let mut check = InputCheck::default();
    let period = Period {
        valid_from: check
            .take(
                input::non_empty(files.valid_from)
                    .map(|day| input::date(&day, "validFrom"))
                    .transpose(),
            )
            .flatten(),
        valid_to: check
            .take(
                input::non_empty(files.valid_to)
                    .map(|day| input::date(&day, "validTo"))
                    .transpose(),
            )
            .flatten(),
    };
    let file = check.take(contents(tokio::fs::File::from_std(files.file), "csv").await);
    let mapping = match files.mapping {
        Some(mapping) => check.take(contents(tokio::fs::File::from_std(mapping), "mapping").await),
        None => None,
    };
    tx::write(
        app,
        caller,
        Touches::CALCULATION,
        |Change { conn, actor, now, .. }| {
            async move {
                access::member(conn, company_id, actor)
                    .await?
                    .require(Resource::Factor, Action::Manage)?;
                check.finish()?;
                let file = file.unwrap_or_default();
                let read = layouts::read(&file, mapping.as_deref(), &period)?;
                let (added, mut outcome) = store_read(conn, Some(company_id), read, mode, now).await?;
                if added.is_empty() {
                    return Ok(outcome);
                }
                let keys = keys_of(&added);
                outcome.rows_to_recalculate = recalculate_users(conn, Some(company_id), &keys, now).await?;
                let activity = Activity::new(
                    company_id,
                    Some(actor),
                    Verb::FactorsImported,
                    ("company", company_id),
                    format!(
                        "{} emission factor version(s) imported ({} already there, {} line(s) refused)",
                        outcome.added, outcome.unchanged, outcome.rejected
                    ),
                )
                .data(json!({
                    "keys": keys, "added": outcome.added, "unchanged": outcome.unchanged,
                    "rejected": outcome.rejected, "rowsToRecalculate": outcome.rows_to_recalculate,
                }));
                write::record(conn, now, activity).await?;
                Ok(outcome)
            }
            .boxed()
        },
    )
    .await
}

/// Imports a factor file (and its mapping) into the shipped defaults, all or nothing: how the
/// operator loads an authoritative set at startup. Every company's rows that read an imported
/// key are recomputed.
pub async fn import_defaults(app: &App, file: &Path, mapping: Option<&Path>) -> AppResult<FactorImport> {
    let file = contents(open(file).await?, "csv").await?;
    let mapping = match mapping {
        Some(path) => Some(contents(open(path).await?, "mapping").await?),
        None => None,
    };
    tx::transaction(
        app,
        Scope::Crossing(Crossing::Upkeep),
        Touches::CALCULATION,
        |Work { conn, now, .. }| {
            async move {
                let read = layouts::read(&file, mapping.as_deref(), &Period::default())?;
                let (added, mut outcome) =
                    store_read(conn, None, read, ImportMode::AllOrNothing, now).await?;
                if !added.is_empty() {
                    outcome.rows_to_recalculate =
                        recalculate_users(conn, None, &keys_of(&added), now).await?;
                }
                Ok(outcome)
            }
            .boxed()
        },
    )
    .await
}

async fn open(path: &Path) -> AppResult<tokio::fs::File> {
    tokio::fs::File::open(path)
        .await
        .map_err(|err| AppError::invalid("csv", format!("cannot open {}: {err}", path.display())))
}

/// A file's bytes, or BAD_USER_INPUT at `path` when it is larger than a factor file may be.
async fn contents(file: tokio::fs::File, path: &str) -> AppResult<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(AppError::internal)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_FILE_BYTES {
        return Err(AppError::invalid(
            path,
            format!(
                "is larger than a factor file may be ({} MB)",
                MAX_FILE_BYTES / (1024 * 1024)
            ),
        ));
    }
    Ok(bytes)
}

/// The distinct keys of some versions, in order.
fn keys_of<'f>(factors: impl IntoIterator<Item = &'f FactorRow>) -> Vec<String> {
    factors
        .into_iter()
        .map(|factor| factor.key.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Checks the versions read against each other and what `owner` (None: the defaults)
/// already has, and stores the new ones unless ALL_OR_NOTHING meets a bad line. Answers the
/// stored versions and the outcome so far.
async fn store_read(
    conn: &mut AsyncPgConnection,
    owner: Option<Uuid>,
    read: ReadFactors,
    mode: ImportMode,
    now: DateTime<Utc>,
) -> AppResult<(Vec<FactorRow>, FactorImport)> {
    let mut errors = read.errors;
    let mut checked = Vec::with_capacity(read.drafts.len());
    for (line, draft) in read.drafts {
        match draft.check() {
            Ok(factor) => checked.push((line, factor.into_row(owner, now))),
            Err(fields) => errors.extend(fields.into_iter().map(|field| LineError {
                line,
                field: Some(field.path),
                message: field.message,
            })),
        }
    }
    let keys = keys_of(checked.iter().map(|(_, factor)| factor));
    let known = match owner {
        Some(company_id) => store::versions_of(conn, company_id, &keys).await?,
        None => store::owned_versions(conn, None, &keys).await?,
    };
    let mut outcome = FactorImport::default();
    let mut new: Vec<(usize, FactorRow)> = Vec::new();
    for (line, factor) in checked {
        let refuse = |field: &str, message: String| LineError {
            line,
            field: Some(field.to_owned()),
            message,
        };
        let same_version =
            |other: &FactorRow| other.key == factor.key && other.valid_from == factor.valid_from;
        if let Some((first, _)) = new.iter().find(|(_, other)| same_version(other)) {
            errors.push(refuse(
                "validFrom",
                format!("repeats line {first}'s version of {} (same start)", factor.key),
            ));
        } else if let Some(stored) = known
            .iter()
            .find(|other| other.company_id == owner && same_version(other))
        {
            if stored.value == factor.value
                && stored.unit == factor.unit
                && stored.valid_to == factor.valid_to
            {
                outcome.unchanged += 1;
            } else {
                errors.push(refuse(
                    "value",
                    format!("{} (it holds {})", already_versioned(&factor), stored.value),
                ));
            }
        } else if let Some(other) = known
            .iter()
            .chain(new.iter().map(|(_, other)| other))
            .find(|other| other.key == factor.key && !units_match(&other.unit, &factor.unit))
        {
            errors.push(refuse("unit", unit_refusal(other)));
        } else {
            new.push((line, factor));
        }
    }
    outcome.rejected = errors
        .iter()
        .map(|error| (error.line, error.field.as_deref() == Some("mapping")))
        .collect::<BTreeSet<_>>()
        .len();
    errors.sort_by_key(|error| error.line);
    errors.truncate(MAX_REPORTED_ERRORS);
    outcome.errors = errors;
    if outcome.rejected > 0 && mode == ImportMode::AllOrNothing {
        return Ok((Vec::new(), outcome));
    }
    let new: Vec<FactorRow> = new.into_iter().map(|(_, factor)| factor).collect();
    outcome.added = store::insert_all(conn, &new).await?;
    if outcome.added < new.len() {
        return Err(AppError::conflict(
            "versions of these keys were added meanwhile; import the file again",
        ));
    }
    Ok((new, outcome))
}
