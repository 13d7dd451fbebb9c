//! Query size limits, all answered with QUERY_TOO_COMPLEX naming the limit: bracket
//! nesting (checked on the text, before the parser), selections after fragments are
//! expanded, directives per place, aliases, and one secret-checking field per operation
//! (counted here), depth and complexity (computed by async-graphql). Also refuses
//! introspection outright when it is off, rather than answering null.

mod nesting;
mod secrets;
mod selections;

use async_graphql::parser::parse_query;
use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::{Positioned, ServerError, ServerResult};

pub use self::nesting::MAX_NESTING;
pub use self::secrets::{MAX_SECRET_CHECKS, SECRET_CHECKING_FIELDS, secret_checks, secret_checks_run};
use self::selections::Excess;
use super::errors::server_error;
use crate::config::Config;
use crate::error::ErrorCode;

/// Most errors a request refused before execution is answered with: a document's size is
/// bounded, but one mistake repeated could still make the answer many times the request.
pub const MAX_REQUEST_ERRORS: usize = 50;

/// The configured limits.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    /// Aliases in one document (`GRAPHQL_MAX_ALIASES`).
    pub max_aliases: usize,
    /// Selection depth, checked by async-graphql (`GRAPHQL_MAX_DEPTH`).
    pub max_depth: usize,
    /// Cost, computed by async-graphql (`GRAPHQL_MAX_COMPLEXITY`).
    pub max_complexity: usize,
    /// Selections after fragments are expanded (`GRAPHQL_MAX_FIELDS`).
    pub max_fields: usize,
    /// Directives on one place (`GRAPHQL_MAX_DIRECTIVES`).
    pub max_directives: usize,
    /// Whether introspection is answered.
    pub introspection: bool,
}

impl QueryLimits {
    /// The limits the configuration sets.
    pub fn of(config: &Config) -> Self {
        Self {
            max_aliases: config.max_aliases,
            max_depth: config.max_depth,
            max_complexity: config.max_complexity,
            max_fields: config.max_fields,
            max_directives: config.max_directives,
            introspection: config.introspection_enabled(),
        }
    }

    /// Parses `query` if its text and then its document stay within the limits. Every
    /// transport parses through here: the bracket scan must come before the parser.
    pub fn parse(&self, query: &str) -> ServerResult<ExecutableDocument> {
        if query.trim().is_empty() {
            return Err(server_error(ErrorCode::BadUserInput, "the request has no query"));
        }
        if nesting::exceeds(query, MAX_NESTING) {
            return Err(server_error(
                ErrorCode::QueryTooComplex,
                format!("query nests brackets deeper than the limit of {MAX_NESTING} levels"),
            ));
        }
        let document = parse_query(query)?;
        self.check_document(&document)?;
        Ok(document)
    }

    /// Checks a parsed document: what it would make the server do (selections after
    /// fragments are expanded, nesting through fragments, directives), introspection (when
    /// off), the alias count and the secret-checking fields.
    pub fn check_document(&self, document: &ExecutableDocument) -> ServerResult<()> {
        let selections = selections::measure(document, self.max_directives).map_err(|excess| match excess {
            Excess::Nesting => server_error(
                ErrorCode::QueryTooComplex,
                format!("query nests selections (through its fragments) deeper than the limit of {MAX_NESTING} levels"),
            ),
            Excess::Cycle(name) => server_error(
                ErrorCode::BadUserInput,
                format!("fragment {name} spreads itself (directly or through other fragments)"),
            ),
            Excess::Directives { count, at } => {
                let mut error = server_error(
                    ErrorCode::QueryTooComplex,
                    format!("{count} directives in one place; the limit is {}", self.max_directives),
                );
                error.locations = vec![at];
                error
            }
        })?;
        if selections > self.max_fields {
            return Err(server_error(
                ErrorCode::QueryTooComplex,
                format!(
                    "query makes {selections} selections (each fragment counted where it is spread); the limit is {}",
                    self.max_fields
                ),
            ));
        }
        let secrets = secret_checks(document);
        if secrets > MAX_SECRET_CHECKS {
            return Err(too_many_secret_checks(secrets));
        }
        if !self.introspection && uses_introspection(document) {
            return Err(server_error(
                ErrorCode::Forbidden,
                "introspection is disabled on this server",
            ));
        }
        let aliases = count_aliases(document);
        if aliases > self.max_aliases {
            return Err(server_error(
                ErrorCode::QueryTooComplex,
                format!("query uses {aliases} aliases; the limit is {}", self.max_aliases),
            ));
        }
        Ok(())
    }

    /// Restates async-graphql's depth and complexity errors with the code and the limit,
    /// keeping at most [`MAX_REQUEST_ERRORS`] of them.
    pub fn explain(&self, errors: Vec<ServerError>) -> Vec<ServerError> {
        let total = errors.len();
        let mut explained: Vec<ServerError> = errors
            .into_iter()
            .take(MAX_REQUEST_ERRORS)
            .map(|error| match error.message.as_str() {
                "Query is nested too deep." => server_error(
                    ErrorCode::QueryTooComplex,
                    format!("query is nested deeper than the limit of {}", self.max_depth),
                ),
                "Query is too complex." => server_error(
                    ErrorCode::QueryTooComplex,
                    format!("query complexity exceeds the limit of {}", self.max_complexity),
                ),
                _ => error,
            })
            .collect();
        if total > MAX_REQUEST_ERRORS {
            explained.push(server_error(
                ErrorCode::BadUserInput,
                format!("{} more errors not shown", total - MAX_REQUEST_ERRORS),
            ));
        }
        explained
    }
}

/// The refusal of a request that would run several secret-checking fields.
pub fn too_many_secret_checks(count: usize) -> ServerError {
    server_error(
        ErrorCode::BadUserInput,
        format!(
            "the request runs {count} sign-in or secret-checking operations ({}); send at most {MAX_SECRET_CHECKS} per request",
            SECRET_CHECKING_FIELDS.join(", ")
        ),
    )
}

/// Whether an operation selects `__schema` or `__type` at its root (through fragments too).
fn uses_introspection(document: &ExecutableDocument) -> bool {
    document.operations.iter().any(|(_, operation)| {
        let mut found = false;
        each_root_field(document, &operation.node.selection_set.node, &mut |field| {
            found |= matches!(field.node.name.node.as_str(), "__schema" | "__type");
        });
        found
    })
}

/// Calls `visit` with every root field `set` selects, through its inline fragments and
/// fragment spreads. Call only on a document [`QueryLimits::check_document`] has bounded:
/// fragments are expanded here without memory.
pub fn each_root_field<'a>(
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    visit: &mut impl FnMut(&'a Positioned<Field>),
) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => visit(field),
            Selection::InlineFragment(fragment) => {
                each_root_field(document, &fragment.node.selection_set.node, visit)
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    each_root_field(document, &fragment.node.selection_set.node, visit);
                }
            }
        }
    }
}

/// Aliases written in the document's operations and fragments.
fn count_aliases(document: &ExecutableDocument) -> usize {
    let operations: usize = document
        .operations
        .iter()
        .map(|(_, op)| aliases_in(&op.node.selection_set.node))
        .sum();
    let fragments: usize = document
        .fragments
        .values()
        .map(|fragment| aliases_in(&fragment.node.selection_set.node))
        .sum();
    operations + fragments
}

fn aliases_in(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some()) + aliases_in(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => aliases_in(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}
