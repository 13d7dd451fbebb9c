//! Automatic persisted queries, as Apollo's clients speak them: a request carrying
//! `extensions.persistedQuery: { version: 1, sha256Hash }` and no query runs the document
//! kept under that hash, or answers PERSISTED_QUERY_NOT_FOUND; one carrying both has its
//! hash checked against its text (a mismatch runs nothing), and once the document has
//! passed validation it is kept in PostgreSQL, for every instance.
//!
//! Bounded: a document of more than [`MAX_KEPT_BYTES`] is run but not kept, the store holds
//! about `PERSISTED_QUERIES_MAX` documents (the least recently used are evicted), and this
//! instance's memory in front of it at most [`MAX_REMEMBERED_BYTES`] of text.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_graphql::{Request, Value};
use chrono::{DateTime, TimeDelta, Utc};

use super::store;
use crate::app::App;
use crate::db::scope::{Crossing, Scope};
use crate::db::tx;
use crate::error::{AppError, AppResult};

/// Longest document kept; a longer one runs when sent in full, every time.
pub const MAX_KEPT_BYTES: usize = 64 * 1024;
/// Text remembered in this instance's memory at most; when full it starts over.
const MAX_REMEMBERED_BYTES: usize = 8 * 1024 * 1024;
/// How often a document used from memory is marked used in the store, so the store's
/// least recently used are the ones evicted.
const TOUCH_EVERY: TimeDelta = TimeDelta::minutes(1);

/// The extension's key in a request.
const EXTENSION: &str = "persistedQuery";

/// A document sent in full with its verified hash, kept once it passes validation (the
/// pipeline carries it in the request's server-side data, out of clients' reach).
#[derive(Debug, Clone)]
pub struct Learned {
    hash: String,
    body: Arc<str>,
}

/// Documents known by hash: remembered in memory in front of the shared store.
pub struct AutomaticDocuments {
    memory: Mutex<Memory>,
    /// Documents this instance kept since it last evicted.
    kept_since_eviction: AtomicU32,
    /// `PERSISTED_QUERIES_MAX`.
    max_kept: u32,
}

/// Texts by hash (a hash names one text forever, so nothing here goes stale), with when
/// each was last marked used in the store.
#[derive(Default)]
struct Memory {
    texts: HashMap<String, (Arc<str>, DateTime<Utc>)>,
    bytes: usize,
}

impl AutomaticDocuments {
    /// Documents for `app`, bounded by its `PERSISTED_QUERIES_MAX`.
    pub fn new(app: &App) -> Self {
        Self {
            memory: Mutex::new(Memory::default()),
            kept_since_eviction: AtomicU32::new(0),
            max_kept: app.config.persisted_queries_max.max(1),
        }
    }

    /// Gives a request sent by hash its document, or checks the hash of a document sent
    /// with one and, when `may_learn`, puts the document to learn in the request's data
    /// (see [`Self::learn`]); leaves other requests alone. The extension is taken out of
    /// the request, so resolving it twice changes nothing.
    pub async fn resolve(&self, app: &App, request: &mut Request, may_learn: bool) -> AppResult<()> {
        let Some(extension) = request.extensions.remove(EXTENSION) else {
            return Ok(());
        };
        let hash = requested_hash(&extension)?;
        if request.query.trim().is_empty() {
            let document = self.document(app, &hash).await;
            let result = if document.is_ok() { "hit" } else { "miss" };
            metrics::counter!("guildhall_persisted_documents_total", "result" => result).increment(1);
            request.query = document?.to_string();
            return Ok(());
        }
        if super::document_hash(&request.query) != hash {
            return Err(AppError::invalid(
                "extensions.persistedQuery.sha256Hash",
                "the hash is not the SHA-256 of the query; nothing ran",
            ));
        }
        if may_learn && request.query.len() <= MAX_KEPT_BYTES {
            let body = request.query.as_str().into();
            request.data.insert(Learned { hash, body });
        }
        Ok(())
    }

    /// Keeps a document that passed validation: this instance knows it at once, the store
    /// soon after (written in the background; a failure is logged, and the client sends
    /// it in full again). A document this instance marked used within the last minute is
    /// in the store already.
    pub fn learn(self: &Arc<Self>, app: &App, learned: Learned) {
        let now = app.clock.now();
        {
            let mut memory = self.lock();
            if memory
                .touched(&learned.hash)
                .is_some_and(|at| now - at < TOUCH_EVERY)
            {
                return;
            }
            memory.remember(learned.hash.clone(), Arc::clone(&learned.body), now);
        }
        let documents = Arc::clone(self);
        let app = app.clone();
        tokio::spawn(async move {
            if let Err(err) = documents.keep(&app, learned, now).await {
                tracing::warn!(error = ?err.source, "cannot keep a persisted query");
            }
        });
    }

    /// The document kept under `hash`, from memory, the shared store, or the documents
    /// companies registered.
    async fn document(&self, app: &App, hash: &str) -> AppResult<Arc<str>> {
        let now = app.clock.now();
        let remembered = self.lock().texts.get(hash).cloned();
        if let Some((body, touched)) = remembered {
            if now - touched >= TOUCH_EVERY {
                self.lock().remember(hash.to_owned(), Arc::clone(&body), now);
                let app = app.clone();
                let hash = hash.to_owned();
                tokio::spawn(async move {
                    if let Err(err) = touch(&app, &hash, now).await {
                        tracing::warn!(error = ?err.source, "cannot mark a persisted query used");
                    }
                });
            }
            return Ok(body);
        }
        tx::read(app, Scope::Crossing(Crossing::PersistedDocuments), async |conn| {
            let body = match store::use_body(conn, hash, now).await? {
                Some(body) => body,
                None => store::use_registered_body(conn, hash, now)
                    .await?
                    .ok_or_else(AppError::persisted_query_not_found)?,
            };
            let body: Arc<str> = body.into();
            self.lock().remember(hash.to_owned(), Arc::clone(&body), now);
            Ok(body)
        })
        .await
    }

    /// Keeps a document in the shared store; every so many, evicts the least recently used
    /// beyond the bound.
    async fn keep(&self, app: &App, learned: Learned, now: DateTime<Utc>) -> AppResult<()> {
        tx::read(app, Scope::Nobody, async |conn| {
            store::keep(conn, &learned.hash, &learned.body, now).await?;
            let every = (self.max_kept / 10).clamp(1, 100);
            if self.kept_since_eviction.fetch_add(1, Ordering::Relaxed) + 1 >= every {
                self.kept_since_eviction.store(0, Ordering::Relaxed);
                store::evict_beyond(conn, i64::from(self.max_kept)).await?;
            }
            Ok(())
        })
        .await
    }

    // Every operation leaves the memory whole, so a panic elsewhere cannot leave it torn.
    fn lock(&self) -> MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Marks a document used in the store.
async fn touch(app: &App, hash: &str, now: DateTime<Utc>) -> AppResult<()> {
    tx::read(app, Scope::Nobody, async |conn| {
        store::use_body(conn, hash, now).await?;
        Ok(())
    })
    .await
}

impl Memory {
    fn touched(&self, hash: &str) -> Option<DateTime<Utc>> {
        self.texts.get(hash).map(|(_, touched)| *touched)
    }

    fn remember(&mut self, hash: String, body: Arc<str>, touched: DateTime<Utc>) {
        let replaced = self.texts.get(&hash).map_or(0, |(text, _)| text.len());
        if self.bytes - replaced + body.len() > MAX_REMEMBERED_BYTES {
            self.texts.clear();
            self.bytes = 0;
        }
        self.bytes += body.len();
        if let Some((replaced, _)) = self.texts.insert(hash, (body, touched)) {
            self.bytes -= replaced.len();
        }
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

    #[test]
    fn memory_is_bounded_by_the_bytes_it_holds() {
        let now = Utc::now();
        let mut memory = Memory::default();
        let text: Arc<str> = "x".repeat(MAX_REMEMBERED_BYTES / 4).into();
        for n in 0..4 {
            memory.remember(format!("{n}"), Arc::clone(&text), now);
        }
        assert_eq!(memory.texts.len(), 4);
        memory.remember("0".to_owned(), Arc::clone(&text), now);
        assert_eq!(
            (memory.texts.len(), memory.bytes),
            (4, MAX_REMEMBERED_BYTES),
            "a replaced text is not counted twice"
        );
        memory.remember("4".to_owned(), text, now);
        assert_eq!(memory.texts.len(), 1, "full: starts over");
        assert_eq!(memory.bytes, MAX_REMEMBERED_BYTES / 4);
    }
}
