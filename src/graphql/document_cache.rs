//! Parsed documents by query text: clients send the same few queries over and over, and
//! parsing one costs more than copying its parsed form. Bounded in entries and in the size
//! of the texts it keeps; when full it starts over.
//!
//! A document also remembers whether it passed full validation. Every rule but one judges
//! the document alone, and that one (argument values) only adds the variables' values; so
//! a later request whose values are plainly of their declared built-in scalar types cannot
//! fail a rule the first one passed, and may skip straight to the cheap checks
//! ([`KnownDocument::takes_plain`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::parser::types::{BaseType, DocumentOperations, ExecutableDocument, OperationDefinition};
use async_graphql::{Positioned, ServerResult, Value, Variables};

use super::limits::QueryLimits;

/// Queries longer than this are parsed every time.
const MAX_QUERY_BYTES: usize = 4096;
/// Documents kept at most.
const MAX_ENTRIES: usize = 512;

/// A parsed document and what earlier requests proved about it.
pub struct KnownDocument {
    pub document: ExecutableDocument,
    /// A request passed full validation: the rules that judge the document alone (every
    /// rule but the one about values) hold for it, whatever values later requests bring.
    validated: AtomicBool,
}

impl KnownDocument {
    /// Whether `variables` are plain for this document: then one request that passed full
    /// validation speaks for every later one with plain values.
    pub fn takes_plain(&self, variables: &Variables) -> bool {
        plain_values(&self.document, variables)
    }

    /// Whether a request passed full validation.
    pub fn is_validated(&self) -> bool {
        self.validated.load(Ordering::Relaxed)
    }

    /// Records that a request passed full validation.
    pub fn mark_validated(&self) {
        self.validated.store(true, Ordering::Relaxed);
    }
}

/// The document's one operation (named or not); None when it holds several.
pub fn only_operation(document: &ExecutableDocument) -> Option<&Positioned<OperationDefinition>> {
    match &document.operations {
        DocumentOperations::Single(operation) => Some(operation),
        DocumentOperations::Multiple(operations) if operations.len() == 1 => operations.values().next(),
        DocumentOperations::Multiple(_) => None,
    }
}

/// The operation a request runs: the named one, or the only one.
pub fn running_operation<'a>(
    document: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<&'a Positioned<OperationDefinition>> {
    match (&document.operations, name) {
        (DocumentOperations::Single(operation), _) => Some(operation),
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next()
        }
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// Whether the document has one operation (named or not), every variable it declares is a
/// built-in scalar (not a list), and every value given is of that scalar's own JSON kind
/// (no nulls): then no value can fail the argument rule, whatever position the variable is
/// used in (the position itself is checked by the rules that judge the document alone).
fn plain_values(document: &ExecutableDocument, variables: &Variables) -> bool {
    let Some(operation) = only_operation(document) else {
        return false;
    };
    operation.node.variable_definitions.iter().all(|definition| {
        let BaseType::Named(type_name) = &definition.node.var_type.node.base else {
            return false;
        };
        let Some(value) = variables.get(&definition.node.name.node) else {
            return BUILT_IN_SCALARS.contains(&type_name.as_str());
        };
        of_its_own_kind(type_name, value)
    })
}

/// Whether `value` is of the built-in scalar `type_name`'s own JSON kind (an Int within
/// 32 bits); false for null and for any other type.
pub fn of_its_own_kind(type_name: &str, value: &Value) -> bool {
    match (type_name, value) {
        ("ID" | "String", Value::String(_))
        | ("Boolean", Value::Boolean(_))
        | ("Float", Value::Number(_)) => true,
        ("Int", Value::Number(n)) => n.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        _ => false,
    }
}

/// The scalars whose values [`plain_values`] knows.
const BUILT_IN_SCALARS: [&str; 5] = ["ID", "String", "Int", "Float", "Boolean"];

/// The cache (shared by every request of a server).
#[derive(Default)]
pub struct DocumentCache {
    documents: Mutex<HashMap<String, Arc<KnownDocument>>>,
}

impl DocumentCache {
    /// The document parsed earlier from `query`, if any.
    pub fn get(&self, query: &str) -> Option<Arc<KnownDocument>> {
        self.lock().get(query).cloned()
    }

    /// The document of `query`: the one kept, or a fresh parse that passes `limits` (kept
    /// then). Errors are the parser's, or the limit the document breaks.
    pub fn document(&self, query: &str, limits: &QueryLimits) -> ServerResult<Arc<KnownDocument>> {
        if let Some(known) = self.get(query) {
            return Ok(known);
        }
        Ok(self.put(query, limits.parse(query)?))
    }

    /// Keeps `document`, parsed from `query`, unless the query is too long to keep.
    fn put(&self, query: &str, document: ExecutableDocument) -> Arc<KnownDocument> {
        let known = Arc::new(KnownDocument {
            document,
            validated: AtomicBool::new(false),
        });
        if query.len() <= MAX_QUERY_BYTES {
            let mut documents = self.lock();
            if documents.len() >= MAX_ENTRIES {
                documents.clear();
            }
            documents.insert(query.to_owned(), Arc::clone(&known));
        }
        known
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<KnownDocument>>> {
        self.documents.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    fn variables(json: serde_json::Value) -> Variables {
        Variables::from_json(json)
    }

    #[test]
    fn keeps_short_queries_and_stays_bounded() {
        let cache = DocumentCache::default();
        let query = "{ me { user { id } } }";
        cache.put(query, parse_query(query).expect("parses"));
        assert!(cache.get(query).is_some());
        let long = format!("{{ me {{ user {{ id }} }} }} #{}", "x".repeat(MAX_QUERY_BYTES));
        cache.put(&long, parse_query(&long).expect("parses"));
        assert!(cache.get(&long).is_none(), "long queries are not kept");
        for n in 0..MAX_ENTRIES + 1 {
            let query = format!("{{ me {{ user {{ id }} }} }} #{n}");
            cache.put(&query, parse_query(&query).expect("parses"));
        }
        assert!(cache.lock().len() <= MAX_ENTRIES);
    }

    #[test]
    fn only_values_of_the_declared_built_in_scalar_are_plain() {
        let query =
            "query($id: ID!, $n: Int, $s: String, $b: Boolean, $f: Float) { dataRow(id: $id) { id } }";
        let known = DocumentCache::default().put(query, parse_query(query).expect("parses"));
        assert!(!known.is_validated(), "nothing is validated at first");
        let plain = variables(serde_json::json!({ "id": "x", "n": 3, "s": "s", "b": true, "f": 1.5 }));
        assert!(known.takes_plain(&plain));
        assert!(
            known.takes_plain(&variables(serde_json::json!({}))),
            "missing values are judged later"
        );
        for odd in [
            serde_json::json!({ "id": null }),
            serde_json::json!({ "id": 5 }),
            serde_json::json!({ "id": { "a": 1 } }),
            serde_json::json!({ "id": "x", "n": 3_000_000_000_i64 }),
            serde_json::json!({ "id": "x", "n": 1.5 }),
            serde_json::json!({ "id": "x", "s": ["a"] }),
            serde_json::json!({ "id": "x", "b": "true" }),
            serde_json::json!({ "id": "x", "f": "1.5" }),
        ] {
            assert!(!known.takes_plain(&variables(odd.clone())), "{odd} is not plain");
        }
        let named = "query Row($id: ID!) { dataRow(id: $id) { id } }";
        let known = DocumentCache::default().put(named, parse_query(named).expect("parses"));
        assert!(
            known.takes_plain(&variables(serde_json::json!({ "id": "x" }))),
            "a named operation"
        );
    }

    #[test]
    fn lists_inputs_and_several_operations_never_take_plain_values() {
        for query in [
            "query($ids: [ID!]) { me { user { id } } }",
            "query($i: CreateCompanyInput) { me { user { id } } }",
            "query A { me { user { id } } } query B { me { user { id } } }",
        ] {
            let known = DocumentCache::default().put(query, parse_query(query).expect("parses"));
            assert!(!known.takes_plain(&variables(serde_json::json!({}))), "{query}");
        }
    }
}
