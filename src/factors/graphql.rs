//! GraphQL for emission factors: the type, and adding and deleting a company's versions
//! (`Company.emissionFactors` lists them).

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject, Upload};

use super::import::{self, FactorFiles};
use super::model::FactorRow;
use super::service::{self, FactorDraft};
use crate::graphql::context::{app, caller, parse_id};
use crate::graphql::import_result::RowError;
use crate::rows::graphql::ImportMode;

/// One version of an emission factor: how much is emitted per unit of activity, from when
/// to when, and on whose authority. Values are exact decimals, sent as strings.
pub struct EmissionFactor(pub FactorRow);

#[Object]
impl EmissionFactor {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// What formulas name it by: `factor("diesel_litre")`.
    async fn key(&self) -> &str {
        &self.0.key
    }

    async fn label(&self) -> &str {
        &self.0.label
    }

    /// The emission per one `unit` of activity, exact, as published.
    async fn value(&self) -> String {
        self.0.value.to_plain_string()
    }

    /// The unit of activity the value is per (litre, kWh, km…).
    async fn unit(&self) -> &str {
        &self.0.unit
    }

    /// The publication, with how far the value has been checked against it.
    async fn source(&self) -> &str {
        &self.0.source
    }

    async fn source_year(&self) -> Option<i32> {
        self.0.source_year
    }

    async fn licence(&self) -> Option<&str> {
        self.0.licence.as_deref()
    }

    /// What the value counts, e.g. "kg CO2e per litre, AR5 GWP100".
    async fn basis(&self) -> Option<&str> {
        self.0.basis.as_deref()
    }

    /// First day in effect (ISO date; null: since always).
    async fn valid_from(&self) -> Option<String> {
        self.0.valid_from.map(|day| day.to_string())
    }

    /// Last day in effect (ISO date; null: open-ended).
    async fn valid_to(&self) -> Option<String> {
        self.0.valid_to.map(|day| day.to_string())
    }

    /// Whether it belongs to the default set shipped with the server (read-only).
    async fn built_in(&self) -> bool {
        self.0.company_id.is_none()
    }
}

/// A new version of a company's factor.
#[derive(InputObject)]
struct EmissionFactorInput {
    company_id: ID,
    /// Lower-case: a letter, then letters, digits, `_` or `.`.
    key: String,
    label: String,
    /// An exact decimal, as a string.
    value: String,
    unit: String,
    source: String,
    source_year: Option<i32>,
    licence: Option<String>,
    basis: Option<String>,
    /// ISO date; null: since always.
    valid_from: Option<String>,
    /// ISO date; null: open-ended.
    valid_to: Option<String>,
}

/// What a factor import stored and refused.
#[derive(SimpleObject)]
struct EmissionFactorImport {
    /// New versions stored.
    added: i32,
    /// Versions the company already had exactly (a file may be imported again).
    unchanged: i32,
    /// Lines refused, of the file or (errors with field "mapping") of the mapping.
    rejected: i32,
    /// Stored rows whose formulas read an imported key: recomputed in the background
    /// (`DataTable.recalculation` shows how far).
    rows_to_recalculate: i32,
    /// The refused lines (the first 1,000): line, field and reason.
    errors: Vec<RowError>,
}

/// Emission factor mutations.
#[derive(Default)]
pub struct FactorsMutation;

#[Object]
impl FactorsMutation {
    /// Adds a version of a factor to a company (factor:manage). A version never changes: a
    /// new value is a new version with a later `validFrom`; on a date, the company's version
    /// of a key wins over the default's.
    async fn create_emission_factor(
        &self,
        ctx: &Context<'_>,
        input: EmissionFactorInput,
    ) -> Result<EmissionFactor> {
        let company_id = parse_id(&input.company_id, "company")?;
        let draft = FactorDraft {
            key: input.key,
            label: input.label,
            value: input.value,
            unit: input.unit,
            source: input.source,
            source_year: input.source_year,
            licence: input.licence,
            basis: input.basis,
            valid_from: input.valid_from,
            valid_to: input.valid_to,
        };
        Ok(EmissionFactor(
            service::create(app(ctx), caller(ctx), company_id, draft).await?,
        ))
    }

    /// Imports factor versions into a company from a CSV upload (factor:manage): either the
    /// shipped defaults' layout (`key,label,value,unit,basis,source,source_year,licence,
    /// valid_from,valid_to,provenance`) or the DESNZ flat file (`ID, Scope, Level 1–4,
    /// Column Text, UOM, GHG/Unit, GHG Conversion Factor <year>`) with a `mapping` CSV whose
    /// `key` column names the key each selected line becomes (selecting by any of ID, Scope,
    /// Level 1–4, Column Text, UOM, GHG/Unit; an optional `label`). DESNZ lines are valid for
    /// the file's year unless `validFrom`/`validTo` say otherwise. A version the company
    /// already has exactly is left as it is; one that differs is refused.
    #[expect(
        clippy::too_many_arguments,
        reason = "a GraphQL field takes its arguments one by one"
    )]
    async fn import_emission_factors(
        &self,
        ctx: &Context<'_>,
        company_id: ID,
        csv: Upload,
        mapping: Option<Upload>,
        valid_from: Option<String>,
        valid_to: Option<String>,
        mode: Option<ImportMode>,
    ) -> Result<EmissionFactorImport> {
        let company_id = parse_id(&company_id, "company")?;
        let files = FactorFiles {
            file: csv.value(ctx)?.content,
            mapping: mapping
                .map(|upload| upload.value(ctx))
                .transpose()?
                .map(|value| value.content),
            valid_from,
            valid_to,
        };
        let mode = mode.unwrap_or(ImportMode::AllOrNothing).into();
        let outcome = import::import(app(ctx), caller(ctx), company_id, files, mode).await?;
        let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        Ok(EmissionFactorImport {
            added: count(outcome.added),
            unchanged: count(outcome.unchanged),
            rejected: count(outcome.rejected),
            rows_to_recalculate: i32::try_from(outcome.rows_to_recalculate).unwrap_or(i32::MAX),
            errors: outcome.errors.into_iter().map(RowError::from).collect(),
        })
    }

    /// Deletes a company's factor version (factor:manage); the defaults are read-only.
    async fn delete_emission_factor(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        service::delete(app(ctx), caller(ctx), parse_id(&id, "emission factor")?).await?;
        Ok(true)
    }
}
