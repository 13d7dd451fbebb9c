//! Which registered documents a persisted-only caller may run: a document registered for
//! a company they act in, or globally. A yes is remembered briefly per (caller, hash), so
//! a busy integration does not ask the database on every request; it is forgotten with
//! everyone's standing (a membership, key or registration removed anywhere is announced).
//! A no is never remembered: a document registered a moment later runs at once.

use std::time::Duration;

use super::store;
use crate::app::App;
use crate::auth::caller::Actor;
use crate::cache::FreshCache;
use crate::db::scope::Scope;
use crate::db::tx;
use crate::error::AppResult;

/// Hashes found registered for a caller (None: anonymous).
pub struct Admissions(FreshCache<(Option<Actor>, String), ()>);

impl Admissions {
    /// A memory keeping each yes for `ttl` (zero: ask every time).
    pub fn new(ttl: Duration) -> Self {
        Self(FreshCache::new(ttl))
    }

    /// Forgets every yes (a membership, key or registration changed somewhere).
    pub fn forget_all(&self) {
        self.0.forget_all();
    }
}

/// Whether the document with this SHA-256 is registered for a company `actor` acts in, or
/// globally.
pub async fn is_admitted(app: &App, actor: Option<Actor>, sha256: &str) -> AppResult<bool> {
    let key = (actor, sha256.to_owned());
    let trusted = app.hub.is_listening();
    if trusted && app.admissions.0.get(&key).is_some() {
        return Ok(true);
    }
    let ticket = app.admissions.0.ticket();
    tx::read(app, actor.map_or(Scope::Nobody, Actor::scope), async |conn| {
        let registered = store::is_registered_for(conn, sha256, actor).await?;
        if registered && trusted && app.hub.is_listening() {
            app.admissions.0.put(ticket, key, ());
        }
        Ok(registered)
    })
    .await
}
