//! Parsed documents by query text: clients send the same few queries over and over, and
//! parsing one costs more than copying its parsed form. Bounded in entries and in the size
//! of the texts it keeps; when full it starts over.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::parser::types::ExecutableDocument;

/// Queries longer than this are parsed every time.
const MAX_QUERY_BYTES: usize = 4096;
/// Documents kept at most.
const MAX_ENTRIES: usize = 512;

/// The cache (shared by every request of a server).
#[derive(Default)]
pub struct DocumentCache {
    documents: Mutex<HashMap<String, Arc<ExecutableDocument>>>,
}

impl DocumentCache {
    /// The document parsed earlier from `query`, if any.
    pub fn get(&self, query: &str) -> Option<Arc<ExecutableDocument>> {
        self.lock().get(query).cloned()
    }

    /// Keeps `document`, parsed from `query`, unless the query is too long to keep.
    pub fn put(&self, query: &str, document: ExecutableDocument) {
        if query.len() > MAX_QUERY_BYTES {
            return;
        }
        let mut documents = self.lock();
        if documents.len() >= MAX_ENTRIES {
            documents.clear();
        }
        documents.insert(query.to_owned(), Arc::new(document));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<ExecutableDocument>>> {
        self.documents.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

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
}
