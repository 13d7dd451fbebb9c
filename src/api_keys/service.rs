//! API key rules: who may make and revoke keys (api_key:manage, never beyond their own
//! rights, never Owner), and how a presented secret becomes a caller: checked for shape
//! and checksum before any read, found by its public id, live, within its request budget.

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;

use super::memory::KnownKey;
use super::model::{ApiKeyRow, NewApiKey};
use super::secret;
use super::store;
use crate::app::App;
use crate::auth::caller::{Caller, KeyHolder};
use crate::companies::access;
use crate::companies::model::BuiltIn;
use crate::companies::store as company_store;
use crate::db::scope::{Crossing, Scope};
use crate::db::tx::{self, Change, Touches};
use crate::error::{AppError, AppResult};
use crate::events::verb::Verb;
use crate::events::write::{self, Activity};
use crate::rbac::catalog::{Action, Resource};
use crate::rbac::standing::role_permissions;

/// Longest key name.
pub const MAX_NAME_CHARS: usize = 100;

/// What `createApiKey` asks for.
pub struct KeyRequest {
    pub company_id: Uuid,
    pub name: String,
    pub role_id: Uuid,
    pub expires_at: Option<DateTime<Utc>>,
    pub persisted_only: bool,
}

/// A key just made, with its secret (shown this once).
pub struct CreatedKey {
    pub key: ApiKeyRow,
    pub secret: String,
}

/// Makes a key acting in the company with one of its roles. Only a person holding
/// api_key:manage and every permission of that role may; the role is never Owner.
pub async fn create(app: &App, caller: &Caller, request: KeyRequest) -> AppResult<CreatedKey> {
    let creator = caller.verified()?.user_id;
    let name = request.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(AppError::invalid(
            "name",
            format!("a key's name has 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    let made = secret::generate();
    tx::write(
        app,
        caller,
        Touches::ROWS,
        |Change { conn, actor, now, .. }| {
            async move {
                if request.expires_at.is_some_and(|at| at <= now) {
                    return Err(AppError::invalid("expiresAt", "the expiry must be in the future"));
                }
                company_store::lock_company(conn, request.company_id).await?;
                let member = access::member(conn, request.company_id, actor).await?;
                member.require(Resource::ApiKey, Action::Manage)?;
                let role = company_store::find_role(conn, request.company_id, request.role_id)
                    .await?
                    .ok_or_else(|| AppError::invalid("roleId", "no such role in this company"))?;
                if role.built_in() == Some(BuiltIn::Owner) {
                    return Err(AppError::invalid(
                        "roleId",
                        "a key cannot act as Owner: owner-only acts stay with people",
                    ));
                }
                member.require_can_grant(&role, role_permissions(conn, &role).await?)?;
                let limit = app.config.api_keys_per_company;
                if store::count_live(conn, request.company_id, now).await? >= i64::from(limit) {
                    return Err(AppError::conflict(format!(
                        "a company has at most {limit} live API keys (API_KEYS_PER_COMPANY); revoke one first"
                    )));
                }
                let key = store::insert(
                    conn,
                    &NewApiKey {
                        id: Uuid::now_v7(),
                        company_id: request.company_id,
                        role_id: role.id,
                        name: &name,
                        public_id: &made.public_id,
                        secret_hash: &made.hash,
                        last_four: &made.last_four,
                        persisted_only: request.persisted_only,
                        created_by: Some(creator),
                        created_at: now,
                        expires_at: request.expires_at,
                    },
                )
                .await?;
                let activity = Activity::new(
                    key.company_id,
                    Some(actor),
                    Verb::ApiKeyCreated,
                    ("api_key", key.id),
                    format!("API key {} created with the role {}", key.name, role.name),
                )
                .data(json!({
                    "name": key.name,
                    "role": role.name,
                    "persistedOnly": key.persisted_only,
                    "expiresAt": key.expires_at,
                }));
                write::record(conn, now, activity).await?;
                Ok(CreatedKey {
                    key,
                    secret: made.secret,
                })
            }
            .boxed()
        },
    )
    .await
}

/// Revokes a key (api_key:manage in its company; revoking a revoked key changes nothing).
/// Every instance refuses it from its next request.
pub async fn revoke(app: &App, caller: &Caller, key_id: Uuid) -> AppResult<ApiKeyRow> {
    caller.verified()?;
    tx::write(
        app,
        caller,
        Touches::STANDING,
        |Change { conn, actor, now, .. }| {
            async move {
                let company_id = store::company_of(conn, key_id)
                    .await?
                    .ok_or_else(|| AppError::not_found("API key"))?;
                let member = access::member(conn, company_id, actor)
                    .await
                    .map_err(|_| AppError::not_found("API key"))?;
                member.require(Resource::ApiKey, Action::Manage)?;
                let key = store::find_in_company(conn, company_id, key_id, true)
                    .await?
                    .ok_or_else(|| AppError::not_found("API key"))?;
                if key.revoked_at.is_some() {
                    return Ok(key);
                }
                let key = store::revoke(conn, key.id, now).await?;
                let activity = Activity::new(
                    company_id,
                    Some(actor),
                    Verb::ApiKeyRevoked,
                    ("api_key", key.id),
                    format!("API key {} revoked", key.name),
                )
                .data(json!({ "name": key.name }));
                write::record(conn, now, activity).await?;
                Ok(key)
            }
            .boxed()
        },
    )
    .await
}

/// The company's keys, newest first (api_key:manage).
pub async fn list(app: &App, caller: &Caller, company_id: Uuid) -> AppResult<Vec<ApiKeyRow>> {
    let actor = caller.acting()?;
    tx::read(app, actor.scope(), async |conn| {
        access::member(conn, company_id, actor)
            .await?
            .require(Resource::ApiKey, Action::Manage)?;
        Ok(store::list(conn, company_id).await?)
    })
    .await
}

/// The caller a presented secret stands for, counted as one request: UNAUTHENTICATED for
/// a malformed, unknown, revoked or expired key (saying which), RATE_LIMITED past the
/// key's budget.
pub async fn authenticate(app: &App, presented: &str) -> AppResult<KeyHolder> {
    let holder = find_live(app, presented).await?;
    app.api_keys
        .spend(holder.key_id)
        .map_err(AppError::rate_limited)?;
    Ok(holder)
}

/// The live key a presented secret stands for, without counting a request (a websocket's
/// keep-alive check); its last use is written at most once a minute.
pub async fn find_live(app: &App, presented: &str) -> AppResult<KeyHolder> {
    let parsed = secret::parse(presented.trim())
        .ok_or_else(|| AppError::unauthenticated("malformed API key (check that it was copied whole)"))?;
    let now = app.clock.now();
    let known = match remembered(app, parsed.public_id) {
        Some(known) => known,
        None => {
            let ticket = app.api_keys.ticket();
            tx::read(app, Scope::Crossing(Crossing::Authentication), async |conn| {
                let (key, secret_hash) = store::find_by_public_id(conn, parsed.public_id)
                    .await?
                    .ok_or_else(unknown_key)?;
                let known = Arc::new(KnownKey::new(key, secret_hash));
                if app.hub.is_listening() {
                    app.api_keys.put(ticket, parsed.public_id, known.clone());
                }
                Ok(known)
            })
            .await?
        }
    };
    if known.secret_hash != parsed.hash {
        return Err(unknown_key());
    }
    let key = &known.key;
    if key.revoked_at.is_some() {
        return Err(AppError::unauthenticated("this API key was revoked"));
    }
    if let Some(expired) = key.expires_at.filter(|at| *at <= now) {
        return Err(AppError::unauthenticated(format!(
            "this API key expired at {}",
            expired.to_rfc3339()
        )));
    }
    if known.claim_touch(now) {
        tx::read(app, Scope::Company(key.company_id), async |conn| {
            store::touch(conn, key.id, now).await?;
            Ok(())
        })
        .await?;
    }
    Ok(KeyHolder {
        key_id: key.id,
        company_id: key.company_id,
        persisted_only: key.persisted_only,
    })
}

fn remembered(app: &App, public_id: &str) -> Option<Arc<KnownKey>> {
    if app.hub.is_listening() {
        app.api_keys.get(public_id)
    } else {
        None
    }
}

fn unknown_key() -> AppError {
    AppError::unauthenticated("invalid API key")
}
