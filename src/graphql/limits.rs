//! Query size limits: aliases (counted here), depth and complexity (computed by
//! async-graphql), all answered with QUERY_TOO_COMPLEX naming the limit. Also refuses
//! introspection outright when it is off, rather than answering null.

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult};

use super::errors::server_error;
use crate::config::Config;
use crate::error::ErrorCode;

/// The configured limits.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    pub max_aliases: usize,
    pub max_depth: usize,
    pub max_complexity: usize,
    pub introspection: bool,
}

impl QueryLimits {
    /// The limits the configuration sets.
    pub fn of(config: &Config) -> Self {
        Self {
            max_aliases: config.max_aliases,
            max_depth: config.max_depth,
            max_complexity: config.max_complexity,
            introspection: config.introspection_enabled(),
        }
    }

    /// Checks a parsed document: introspection (when off) and the alias count.
    pub fn check_document(&self, document: &ExecutableDocument) -> ServerResult<()> {
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

    /// Restates async-graphql's depth and complexity errors with the code and the limit.
    pub fn explain(&self, errors: Vec<ServerError>) -> Vec<ServerError> {
        errors
            .into_iter()
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
            .collect()
    }
}

/// Whether an operation selects `__schema` or `__type` at its root.
fn uses_introspection(document: &ExecutableDocument) -> bool {
    document.operations.iter().any(|(_, op)| {
        op.node
            .selection_set
            .node
            .items
            .iter()
            .any(|selection| match &selection.node {
                Selection::Field(field) => matches!(field.node.name.node.as_str(), "__schema" | "__type"),
                Selection::InlineFragment(_) | Selection::FragmentSpread(_) => false,
            })
    })
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
