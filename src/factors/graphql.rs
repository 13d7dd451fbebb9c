//! GraphQL for emission factors: the type, and adding and deleting a company's versions
//! (`Company.emissionFactors` lists them).

use async_graphql::{Context, ID, InputObject, Object, Result};

use super::model::FactorRow;
use super::service::{self, FactorDraft};
use crate::graphql::context::{app, caller, parse_id};

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
        let draft = FactorDraft {
            company_id: parse_id(&input.company_id, "company")?,
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
            service::create(app(ctx), caller(ctx), draft).await?,
        ))
    }

    /// Deletes a company's factor version (factor:manage); the defaults are read-only.
    async fn delete_emission_factor(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        service::delete(app(ctx), caller(ctx), parse_id(&id, "emission factor")?).await?;
        Ok(true)
    }
}
