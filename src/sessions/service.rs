//! Session rules: who may sign in, how refresh tokens rotate, and which sessions are live.

use chrono::{DateTime, Duration, Utc};
use diesel_async::AsyncPgConnection;
use futures_util::FutureExt;
use serde_json::json;
use uuid::Uuid;

use super::model::{NewSession, SessionRow};
use super::store;
use super::two_factor_recovery;
use crate::app::App;
use crate::audit::service::{self as audit, SecurityEvent};
use crate::auth::caller::{Caller, ClientInfo, SignedInUser};
use crate::auth::password;
use crate::auth::tokens::{OpaqueToken, hash_token};
use crate::db::scope::Scope;
use crate::db::tx::{self, Touches, Work};
use crate::error::{AppError, AppResult};
use crate::rate_limit::{self, Hit, Limit};
use crate::users::email;
use crate::users::model::UserRow;
use crate::users::service::two_factor;
use crate::users::store as user_store;

/// Failed sign-ins to one account from one client address. The tight limit: a guesser at
/// one address is held back long before anyone else is affected (a success clears it).
pub const LOGIN_FAILURES_PER_ACCOUNT_AND_IP: Limit = Limit::per_15_minutes("login_failure_account_ip", 10);
/// Failed sign-ins to one account from every address together: slows a guesser spread
/// over many addresses. It does not hold back the owner at an address the account signed
/// in from before ([`KNOWN_ADDRESS_DAYS`]), so strangers cannot lock the owner out.
pub const LOGIN_FAILURES_PER_ACCOUNT: Limit = Limit::per_15_minutes("login_failure_account", 100);
/// Failed sign-ins from one client address to any account (one place trying many).
pub const LOGIN_FAILURES_PER_IP: Limit = Limit::per_15_minutes("login_failure_ip", 100);
/// How long an address the account signed in from counts as its owner's.
pub const KNOWN_ADDRESS_DAYS: i64 = 90;

const MAX_CLIENT_TEXT: usize = 512;

/// What a client presents to sign in.
pub struct Credentials {
    pub email: String,
    pub password: String,
    /// The second factor, for an account with two-factor sign-in on.
    pub totp_code: Option<String>,
}

/// Tokens for a client that signed in or refreshed.
pub struct SignIn {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    pub user: UserRow,
}

/// Who passed the password check of a sign-in attempt, with the attempt's hits (which a
/// completed sign-in takes back).
pub struct PasswordChecked {
    hits: AttemptHits,
    pub user: UserRow,
    /// The address as typed, for the audit of a later failure.
    attempted: String,
}

/// The first half of a sign-in: the attempt counts toward the throttles, then the password
/// is checked. Unknown address and wrong password answer alike (and are audited).
pub async fn check_password(
    app: &App,
    email: &str,
    password: &str,
    client: &ClientInfo,
) -> AppResult<PasswordChecked> {
    let email = email.trim().to_lowercase();
    let attempted = email.clone();
    // Longer credentials than any account can hold match none: refused without a lookup.
    if email.len() > email::MAX_LENGTH || password.chars().count() > password::MAX_LENGTH {
        return Err(AppError::unauthenticated("invalid email or password"));
    }
    // Every attempt counts before the password is checked, so parallel guesses cannot
    // slip past the limits; a successful sign-in takes its hits back. No connection is
    // held while the password is checked.
    let (hits, user) = tx::transaction(app, Scope::Nobody, Touches::ROWS, |Work { conn, now, .. }| {
        async move {
            let hits = count_attempt(conn, &email, client, now).await?;
            Ok((hits, user_store::find_by_email(conn, &email).await?))
        }
        .boxed()
    })
    .await?;
    let stored_hash = user.as_ref().and_then(|u| u.password_hash.as_deref());
    let valid = app.passwords.verify(password, stored_hash).await?;
    let account = user.as_ref().map(|user| user.id);
    let Some(user) = user.filter(|_| valid) else {
        audit::record_security_alone(app, sign_in_failed(account, &attempted, "password", client)).await?;
        return Err(AppError::unauthenticated("invalid email or password"));
    };
    Ok(PasswordChecked {
        hits,
        user,
        attempted,
    })
}

/// The audit entry of a failed sign-in (recorded in a transaction of its own, as the
/// attempt was counted).
fn sign_in_failed<'a>(
    account: Option<Uuid>,
    attempted: &str,
    reason: &'static str,
    client: &'a ClientInfo,
) -> SecurityEvent<'a> {
    SecurityEvent {
        user_id: account,
        action: "session.sign_in_failed",
        target: ("user", account),
        details: Some(json!({ "email": attempted, "reason": reason })),
        client,
        request_id: None,
    }
}

/// Signs in with email and password, and the second factor when the account has one on.
pub async fn login(app: &App, credentials: Credentials, client: &ClientInfo) -> AppResult<SignIn> {
    let PasswordChecked {
        hits,
        user,
        attempted,
    } = check_password(app, &credentials.email, &credentials.password, client).await?;
    // The second factor: the attempt's hits stay counted until it is given right.
    let second_factor = if user.totp_enabled {
        let Some(code) = credentials.totp_code.as_deref() else {
            return Err(AppError::unauthenticated(
                "enter the code from your authenticator app, or a recovery code",
            )
            .with_reason("TOTP_REQUIRED"));
        };
        let user_id = user.id;
        let checked = tx::transaction(app, Scope::Nobody, Touches::ROWS, |Work { conn, now, .. }| {
            two_factor::check_second_factor(app, conn, user_id, code, now).boxed()
        })
        .await?;
        let Some(second_factor) = checked else {
            let failed = sign_in_failed(Some(user_id), &attempted, "second_factor", client);
            audit::record_security_alone(app, failed).await?;
            return Err(
                AppError::unauthenticated("invalid or already used two-factor code")
                    .with_reason("TOTP_INVALID"),
            );
        };
        Some(second_factor)
    } else {
        None
    };
    let (user, session_id, refresh_token, now) =
        tx::transaction(app, Scope::Nobody, Touches::ROWS, |Work { conn, now, .. }| {
            async move {
                rate_limit::clear(conn, LOGIN_FAILURES_PER_ACCOUNT_AND_IP, &hits.pair_key).await?;
                for hit in hits.taken_back() {
                    rate_limit::forget(conn, hit).await?;
                }
                let user = user_store::touch_last_login(conn, user.id, now).await?;
                let (session_id, refresh_token) = open_session(app, conn, user.id, client, now).await?;
                let signed_in = SecurityEvent {
                    user_id: Some(user.id),
                    action: "session.signed_in",
                    target: ("session", Some(session_id)),
                    details: second_factor.map(|factor| json!({ "secondFactor": factor.as_str() })),
                    client,
                    request_id: None,
                };
                audit::record_security(conn, now, signed_in).await?;
                if second_factor.is_some() {
                    two_factor_recovery::call_off(conn, user.id, client, now).await?;
                }
                Ok((user, session_id, refresh_token, now))
            }
            .boxed()
        })
        .await?;
    sign_in(app, user, session_id, refresh_token, now)
}

/// The hits one sign-in attempt recorded.
struct AttemptHits {
    /// The (account, address) key, cleared by a success.
    pair_key: String,
    account: Option<Hit>,
    ip: Option<Hit>,
}

impl AttemptHits {
    /// The hits a success takes back (the pair's are cleared whole).
    fn taken_back(&self) -> impl Iterator<Item = Hit> {
        self.account.into_iter().chain(self.ip)
    }
}

/// Counts a sign-in attempt against the three limits, or answers RATE_LIMITED. When the
/// account-wide limit is full, an address the account signed in from before still gets
/// its attempt (held only by the tight per-address limit).
async fn count_attempt(
    conn: &mut AsyncPgConnection,
    email: &str,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> AppResult<AttemptHits> {
    let address = client.ip.as_deref().map(rate_limit::address_key);
    let pair_key = format!(
        "{email}{}{}",
        rate_limit::KEY_SEPARATOR,
        address.as_deref().unwrap_or("-")
    );
    rate_limit::hit(conn, LOGIN_FAILURES_PER_ACCOUNT_AND_IP, &pair_key, now).await?;
    let ip_hit = match &address {
        Some(address) => Some(rate_limit::hit(conn, LOGIN_FAILURES_PER_IP, address, now).await?),
        None => None,
    };
    let account = match rate_limit::hit(conn, LOGIN_FAILURES_PER_ACCOUNT, email, now).await {
        Ok(hit) => Some(hit),
        Err(limited) => {
            let since = now - Duration::days(KNOWN_ADDRESS_DAYS);
            let known = match &client.ip {
                Some(ip) => store::signed_in_from(conn, email, ip, since).await?,
                None => false,
            };
            if !known {
                return Err(limited);
            }
            None
        }
    };
    Ok(AttemptHits {
        pair_key,
        account,
        ip: ip_hit,
    })
}

/// Opens a session for `user_id` in the caller's transaction; returns its id and first
/// refresh token.
pub async fn open_session(
    app: &App,
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> AppResult<(Uuid, String)> {
    let session_id = Uuid::new_v4();
    let user_agent = client
        .user_agent
        .as_deref()
        .map(|ua| truncate(ua, MAX_CLIENT_TEXT));
    let ip = client.ip.as_deref().map(|ip| truncate(ip, MAX_CLIENT_TEXT));
    store::insert_session(
        conn,
        &NewSession {
            id: session_id,
            user_id,
            created_at: now,
            last_used_at: Some(now),
            expires_at: now + session_ttl(app),
            user_agent,
            ip,
        },
    )
    .await?;
    let refresh = OpaqueToken::generate();
    store::insert_refresh_token(conn, &refresh.hash, session_id, now).await?;
    Ok((session_id, refresh.secret))
}

/// Builds the client's tokens for a session.
pub fn sign_in(
    app: &App,
    user: UserRow,
    session_id: Uuid,
    refresh_token: String,
    now: DateTime<Utc>,
) -> AppResult<SignIn> {
    Ok(SignIn {
        access_token: app.jwt.issue(user.id, session_id, now)?,
        refresh_token,
        expires_in: app.jwt.ttl_secs(),
        user,
    })
}

enum RefreshOutcome {
    Rotated(Box<UserRow>, Uuid, String),
    /// A used token came back: the session (of this user) was revoked.
    Reused(Uuid),
    Invalid,
}

/// Exchanges a refresh token for new tokens. The old one dies; presenting a dead one again
/// means it was stolen or replayed, so its whole session is revoked.
pub async fn refresh(app: &App, refresh_token: &str) -> AppResult<SignIn> {
    let hash = hash_token(refresh_token);
    let now = app.clock.now();
    let outcome = tx::transaction(app, Scope::Nobody, Touches::ROWS, |Work { conn, .. }| {
        async move {
            let Some(token) = store::find_refresh_token(conn, &hash).await? else {
                return Ok(RefreshOutcome::Invalid);
            };
            let Some(session) = store::find_for_update(conn, token.session_id).await? else {
                return Ok(RefreshOutcome::Invalid);
            };
            if token.used_at.is_some() {
                store::revoke(conn, session.user_id, session.id, "refresh token reuse", now).await?;
                let reused = SecurityEvent {
                    user_id: Some(session.user_id),
                    action: "session.refresh_token_reused",
                    target: ("session", Some(session.id)),
                    details: None,
                    client: &ClientInfo::default(),
                    request_id: None,
                };
                audit::record_security(conn, now, reused).await?;
                return Ok(RefreshOutcome::Reused(session.user_id));
            }
            if session.revoked_at.is_some() || session.expires_at <= now {
                return Ok(RefreshOutcome::Invalid);
            }
            let Some(user) = user_store::find_by_id(conn, session.user_id).await? else {
                return Ok(RefreshOutcome::Invalid);
            };
            store::mark_refresh_token_used(conn, &hash, now).await?;
            let next = OpaqueToken::generate();
            store::insert_refresh_token(conn, &next.hash, session.id, now).await?;
            store::extend(conn, session.id, now + session_ttl(app), now).await?;
            Ok(RefreshOutcome::Rotated(Box::new(user), session.id, next.secret))
        }
        .boxed()
    })
    .await?;
    match outcome {
        RefreshOutcome::Rotated(user, session_id, secret) => sign_in(app, *user, session_id, secret, now),
        RefreshOutcome::Reused(user_id) => {
            app.sessions.forget_user(user_id);
            tracing::warn!("refresh token presented twice; session revoked");
            Err(AppError::unauthenticated(
                "refresh token was already used; the session has been signed out",
            ))
        }
        RefreshOutcome::Invalid => Err(AppError::unauthenticated("invalid or expired refresh token")),
    }
}

/// Ends the caller's current session.
pub async fn logout(app: &App, caller: &Caller) -> AppResult<()> {
    let actor = caller.signed_in()?;
    end_session(app, caller, actor.user_id, actor.session_id, "logout").await?;
    Ok(())
}

/// Ends one of the caller's sessions (another device, say).
pub async fn revoke_session(app: &App, caller: &Caller, session_id: Uuid) -> AppResult<()> {
    let actor = caller.verified()?;
    if end_session(app, caller, actor.user_id, session_id, "revoked by user").await? {
        Ok(())
    } else {
        Err(AppError::not_found("session"))
    }
}

/// Revokes one of the user's sessions and records it; false when it was not theirs or
/// already ended.
async fn end_session(
    app: &App,
    caller: &Caller,
    user_id: Uuid,
    session_id: Uuid,
    reason: &'static str,
) -> AppResult<bool> {
    let revoked = tx::transaction(app, Scope::Nobody, Touches::ROWS, |Work { conn, now, .. }| {
        async move {
            let revoked = store::revoke(conn, user_id, session_id, reason, now).await?;
            if revoked {
                let ended = SecurityEvent {
                    user_id: Some(user_id),
                    action: "session.revoked",
                    target: ("session", Some(session_id)),
                    details: Some(json!({ "reason": reason })),
                    client: &caller.client,
                    request_id: Some(&caller.request_id),
                };
                audit::record_security(conn, now, ended).await?;
            }
            Ok(revoked)
        }
        .boxed()
    })
    .await?;
    app.sessions.forget_user(user_id);
    Ok(revoked)
}

/// The caller's live sessions.
pub async fn list_sessions(app: &App, caller: &Caller) -> AppResult<Vec<SessionRow>> {
    let actor = caller.signed_in()?;
    tx::read(app, Scope::Nobody, async |conn| {
        Ok(store::list_live_for_user(conn, actor.user_id, app.clock.now()).await?)
    })
    .await
}

/// The signed-in user behind an access token, checked against its live session: a token
/// seen valid a moment ago is trusted for up to `SESSION_CACHE_SECS`, and this instance's
/// own sign-outs and revocations forget it at once.
pub async fn authenticate(app: &App, access_token: &str) -> AppResult<SignedInUser> {
    let now = app.clock.now();
    if let Some(user) = app.sessions.get(access_token, now) {
        return Ok(user);
    }
    let claims = app.jwt.verify(access_token, now)?;
    let ticket = app.sessions.ticket();
    tx::read(app, Scope::Nobody, async |conn| {
        let Some((session, email_verified)) = store::find_live(conn, claims.sid, now).await? else {
            return Err(AppError::unauthenticated("the session has ended; sign in again"));
        };
        if session.user_id != claims.sub {
            return Err(AppError::unauthenticated("invalid or expired access token"));
        }
        if session
            .last_used_at
            .is_none_or(|at| now - at > Duration::minutes(1))
        {
            store::touch(conn, session.id, now).await?;
        }
        let user = SignedInUser {
            user_id: session.user_id,
            session_id: session.id,
            email_verified,
        };
        let token_ends = DateTime::from_timestamp(claims.usable_until(), 0).unwrap_or(now);
        app.sessions
            .put(ticket, access_token, &user, session.expires_at.min(token_ends));
        Ok(user)
    })
    .await
}

fn session_ttl(app: &App) -> Duration {
    Duration::days(i64::try_from(app.config.session_ttl_days).unwrap_or(30))
}

fn truncate(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((index, _)) => &text[..index],
        None => text,
    }
}
