//! Automatic persisted queries, as Apollo's clients speak them: a request carrying
//! `extensions.persistedQuery: { version: 1, sha256Hash }` and no query runs the document
//! kept under that hash, or answers PERSISTED_QUERY_NOT_FOUND; one carrying both has its
//! hash checked against its text (a mismatch runs nothing) and the text kept in
//! PostgreSQL, for every instance. The store is bounded (`PERSISTED_QUERIES_MAX`, least
//! recently used evicted) and only documents that parse within the limits are kept.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::{Request, Value};
use sha2::{Digest, Sha256};

use super::store;
use crate::app::App;
use crate::error::{AppError, AppResult};

/// Texts remembered in this instance's memory at most; when full it starts over.
const MAX_REMEMBERED: usize = 1_024;
/// Documents an instance keeps between two evictions of the least recently used.
const KEPT_PER_EVICTION: usize = 100;

/// The extension's key in a request.
const EXTENSION: &str = "persistedQuery";

/// Documents known by hash: remembered in memory in front of the shared store.
pub struct AutomaticDocuments {
    /// Texts by hash (a hash names one text forever, so nothing here goes stale).
    known: Mutex<HashMap<String, Arc<str>>>,
    /// Documents this instance kept since it last evicted.
    kept_since_eviction: AtomicUsize,
    /// `PERSISTED_QUERIES_MAX`.
    max_kept: i64,
}

impl AutomaticDocuments {
    /// Documents for `app`, bounded by its `PERSISTED_QUERIES_MAX`.
    pub fn new(app: &App) -> Self {
        Self {
            known: Mutex::new(HashMap::new()),
            kept_since_eviction: AtomicUsize::new(0),
            max_kept: i64::from(app.config.persisted_queries_max),
        }
    }

    /// Gives a request sent by hash its document, or keeps the document sent with its
    /// hash; leaves other requests alone. `parses` says whether a text is a document
    /// within the limits (only those are kept). The extension is taken out of the request,
    /// so resolving it twice changes nothing.
    pub async fn resolve(
        &self,
        app: &App,
        request: &mut Request,
        parses: impl FnOnce(&str) -> bool,
    ) -> AppResult<()> {
        let Some(extension) = request.extensions.remove(EXTENSION) else {
            return Ok(());
        };
        let hash = requested_hash(&extension)?;
        if request.query.trim().is_empty() {
            request.query = self.document(app, &hash).await?.to_string();
            return Ok(());
        }
        if format!("{:x}", Sha256::digest(request.query.as_bytes())) != hash {
            return Err(AppError::invalid(
                "extensions.persistedQuery.sha256Hash",
                "the hash is not the SHA-256 of the query; nothing ran",
            ));
        }
        if !self.remembered(&hash) && parses(&request.query) {
            self.keep(app, hash, &request.query).await?;
        }
        Ok(())
    }

    /// The document kept under `hash`, from memory or the shared store.
    async fn document(&self, app: &App, hash: &str) -> AppResult<Arc<str>> {
        if let Some(body) = self.lock().get(hash) {
            return Ok(Arc::clone(body));
        }
        let mut conn = app.pool.get().await?;
        let body: Arc<str> = store::use_body(&mut conn, hash, app.clock.now())
            .await?
            .ok_or_else(AppError::persisted_query_not_found)?
            .into();
        self.remember(hash.to_owned(), Arc::clone(&body));
        Ok(body)
    }

    /// Keeps a document in the shared store and remembers it; every so many, evicts the
    /// least recently used beyond the bound.
    async fn keep(&self, app: &App, hash: String, body: &str) -> AppResult<()> {
        let mut conn = app.pool.get().await?;
        store::keep(&mut conn, &hash, body, app.clock.now()).await?;
        self.remember(hash, body.into());
        if self.kept_since_eviction.fetch_add(1, Ordering::Relaxed) + 1 >= KEPT_PER_EVICTION {
            self.kept_since_eviction.store(0, Ordering::Relaxed);
            store::evict_beyond(&mut conn, self.max_kept).await?;
        }
        Ok(())
    }

    fn remembered(&self, hash: &str) -> bool {
        self.lock().contains_key(hash)
    }

    fn remember(&self, hash: String, body: Arc<str>) {
        let mut known = self.lock();
        if known.len() >= MAX_REMEMBERED {
            known.clear();
        }
        known.insert(hash, body);
    }

    // Every operation leaves the map whole, so a panic elsewhere cannot leave it torn.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<str>>> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The hash the extension names, in lowercase hex; BAD_USER_INPUT unless it is version 1
/// with 64 hex digits.
fn requested_hash(extension: &Value) -> AppResult<String> {
    let invalid = || {
        AppError::invalid(
            "extensions.persistedQuery",
            "give version 1 and sha256Hash, the SHA-256 of the query in 64 hex digits",
        )
    };
    let Value::Object(fields) = extension else {
        return Err(invalid());
    };
    let version_one = matches!(fields.get("version"), Some(Value::Number(n)) if n.as_u64() == Some(1));
    let Some(Value::String(hash)) = fields.get("sha256Hash") else {
        return Err(invalid());
    };
    if !version_one || hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    Ok(hash.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extension(json: serde_json::Value) -> Value {
        Value::from_json(json).expect("a value")
    }

    #[test]
    fn only_version_one_with_a_full_hex_hash_is_asked_for() {
        let hash = "ECF4EDB46DB40B5132295C0291D62FB65D6759A9EEDFA4D5D612DD5EC54A6B38";
        let asked = requested_hash(&extension(
            serde_json::json!({ "version": 1, "sha256Hash": hash }),
        ));
        assert_eq!(asked.ok().as_deref(), Some(hash.to_ascii_lowercase().as_str()));
        for refused in [
            serde_json::json!({ "version": 2, "sha256Hash": hash }),
            serde_json::json!({ "sha256Hash": hash }),
            serde_json::json!({ "version": 1, "sha256Hash": &hash[1..] }),
            serde_json::json!({ "version": 1, "sha256Hash": format!("{}g", &hash[1..]) }),
            serde_json::json!({ "version": 1 }),
            serde_json::json!("sha256"),
        ] {
            assert!(requested_hash(&extension(refused.clone())).is_err(), "{refused}");
        }
    }
}
