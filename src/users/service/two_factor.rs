//! Two-factor sign-in: TOTP (RFC 6238: 6 digits, 30 s steps, one step of skew either way;
//! totp-rs does the arithmetic) and ten single-use recovery codes. The secret is sealed
//! with SECRETS_KEY and bound to its account; a code is accepted once, and never one older
//! than the last accepted; recovery codes are stored hashed and shown once.

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use futures_util::FutureExt;
use rand::RngCore;
use totp_rs::{Builder, Totp};
use uuid::Uuid;

use super::{confirm_password, current_user, load_user, store};
use crate::app::App;
use crate::audit::service::{self as audit, SecurityEvent};
use crate::auth::caller::Caller;
use crate::auth::tokens::hash_token;
use crate::db::scope::Scope;
use crate::db::tx::{self, Change, Touches};
use crate::error::{AppError, AppResult};
use crate::mail::{Letter, MailKind};
use crate::sessions::store as session_store;
use crate::users::model::{TokenPurpose, UserRow};

/// Recovery codes issued at once.
const RECOVERY_CODES: usize = 10;
/// Characters of a recovery code (base32: 5 bits each), shown in two groups of five.
const RECOVERY_CODE_CHARS: usize = 10;
/// Bytes of a TOTP secret (160 bits, as RFC 4226 recommends).
const SECRET_BYTES: usize = 20;
/// Longest code looked at (anything longer is no code).
const MAX_CODE_CHARS: usize = 32;

/// How a sign-in's second factor was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    Totp,
    RecoveryCode,
}

impl SecondFactor {
    /// The name the audit log records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
        }
    }
}

fn authenticator(secret: Vec<u8>, issuer: &str, account: &str) -> AppResult<Totp> {
    Builder::new()
        .with_secret(secret)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_issuer(Some(issuer))
        .with_account_name(account)
        .build()
        .map_err(|err| AppError::internal(anyhow::anyhow!("TOTP: {err:?}")))
}

/// The step `code` is valid for at `now` (±1 step), if any.
fn matching_step(secret: Vec<u8>, code: &str, now: DateTime<Utc>) -> AppResult<Option<i64>> {
    let totp = authenticator(secret, "-", "-")?;
    let seconds = u64::try_from(now.timestamp()).unwrap_or_default();
    Ok(totp
        .check(code, seconds)
        .and_then(|step| i64::try_from(step).ok()))
}

fn open_secret(app: &App, user_id: Uuid, sealed: &[u8]) -> AppResult<Vec<u8>> {
    app.sealer.open(user_id.as_bytes(), sealed).ok_or_else(|| {
        AppError::internal(anyhow::anyhow!(
            "the TOTP secret of {user_id} does not open with this server's SECRETS_KEY"
        ))
    })
}

/// Starts turning two-factor sign-in on (the password again): a new secret waits for its
/// first code; answers the otpauth:// URI an authenticator app reads.
pub async fn setup(app: &App, caller: &Caller, password: &str) -> AppResult<String> {
    let user = confirmed_user(app, caller, password).await?;
    if user.totp_enabled {
        return Err(AppError::conflict(
            "two-factor sign-in is already on; turn it off first to move it to a new device",
        ));
    }
    let mut secret = vec![0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut secret);
    let account = user.email.clone().unwrap_or_else(|| user.id.to_string());
    let uri = authenticator(secret.clone(), &app.config.product_name, &account)?
        .to_url()
        .map_err(|err| AppError::internal(anyhow::anyhow!("TOTP URI: {err:?}")))?;
    let sealed = app
        .sealer
        .seal(user.id.as_bytes(), &secret)
        .map_err(AppError::internal)?;
    tx::read(app, Scope::Nobody, async |conn| {
        store::set_pending_totp(conn, user.id, &sealed, app.clock.now()).await?;
        Ok(uri)
    })
    .await
}

/// Turns two-factor sign-in on with the first code of the secret [`setup`] made; signs out
/// every other session and answers ten recovery codes, shown this once.
pub async fn confirm(app: &App, caller: &Caller, code: &str) -> AppResult<Vec<String>> {
    let actor = caller.verified()?;
    let (user_id, session_id) = (actor.user_id, actor.session_id);
    let codes = tx::write(
        app,
        caller,
        Touches::STANDING_AND_MAIL,
        |Change { conn, now, .. }| {
            async move {
                let user = load_user(conn, actor).await?;
                let (_, pending, _) = store::totp_state(conn, user.id).await?;
                let Some(pending) = pending.filter(|_| !user.totp_enabled) else {
                    return Err(AppError::conflict("call setupTotp first"));
                };
                let secret = open_secret(app, user.id, &pending)?;
                let step = match code.len() {
                    0..=MAX_CODE_CHARS => matching_step(secret, code.trim(), now)?,
                    _ => None,
                };
                let Some(step) = step else {
                    return Err(AppError::invalid(
                        "code",
                        "is not the code your authenticator shows now",
                    ));
                };
                if !store::enable_totp(conn, user.id, &pending, step, now).await? {
                    return Err(AppError::conflict("call setupTotp first"));
                }
                let codes = new_recovery_codes(conn, user.id, now).await?;
                session_store::revoke_all_for_user(
                    conn,
                    user.id,
                    Some(session_id),
                    "two-factor sign-in turned on",
                    now,
                )
                .await?;
                changed(app, conn, caller, &user, "totp.enabled", now).await?;
                Ok(codes)
            }
            .boxed()
        },
    )
    .await?;
    app.sessions.forget_user(user_id);
    Ok(codes)
}

/// Replaces the recovery codes (the password again); the old ones stop working.
pub async fn regenerate_recovery_codes(app: &App, caller: &Caller, password: &str) -> AppResult<Vec<String>> {
    let user = confirmed_user(app, caller, password).await?;
    if !user.totp_enabled {
        return Err(AppError::conflict("two-factor sign-in is not on"));
    }
    tx::write(app, caller, Touches::MAIL, |Change { conn, now, .. }| {
        async move {
            let codes = new_recovery_codes(conn, user.id, now).await?;
            changed(app, conn, caller, &user, "totp.recovery_codes_replaced", now).await?;
            Ok(codes)
        }
        .boxed()
    })
    .await
}

/// Turns two-factor sign-in off (the password again) and forgets its secret and codes.
pub async fn disable(app: &App, caller: &Caller, password: &str) -> AppResult<()> {
    let user = confirmed_user(app, caller, password).await?;
    if !user.totp_enabled {
        return Err(AppError::conflict("two-factor sign-in is not on"));
    }
    tx::write(
        app,
        caller,
        Touches::STANDING_AND_MAIL,
        |Change { conn, now, .. }| {
            async move {
                store::disable_totp(conn, user.id, now).await?;
                changed(app, conn, caller, &user, "totp.disabled", now).await
            }
            .boxed()
        },
    )
    .await
}

async fn confirmed_user(app: &App, caller: &Caller, password: &str) -> AppResult<UserRow> {
    let user = current_user(app, caller.verified()?).await?;
    confirm_password(app, &user, password, "password").await?;
    Ok(user)
}

/// Checks a sign-in's second factor: a current TOTP code not used before, or an unused
/// recovery code (used up by this). None when neither matches.
pub async fn check_second_factor(
    app: &App,
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    code: &str,
    now: DateTime<Utc>,
) -> AppResult<Option<SecondFactor>> {
    if code.len() > MAX_CODE_CHARS {
        return Ok(None);
    }
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        let (secret, _, _) = store::totp_state(conn, user_id).await?;
        let Some(secret) = secret else {
            return Ok(None);
        };
        let secret = open_secret(app, user_id, &secret)?;
        let Some(step) = matching_step(secret, &code, now)? else {
            return Ok(None);
        };
        let accepted = store::accept_totp_step(conn, user_id, step).await?;
        return Ok(accepted.then_some(SecondFactor::Totp));
    }
    let normalised = normalise_recovery_code(&code);
    if normalised.len() != RECOVERY_CODE_CHARS {
        return Ok(None);
    }
    let used = store::use_recovery_code(conn, user_id, &hash_token(&normalised), now).await?;
    Ok(used.then_some(SecondFactor::RecoveryCode))
}

/// A recovery code as stored: lower case, without the dash or spaces people type.
fn normalise_recovery_code(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Issues new recovery codes (replacing the old) and answers them as shown: `abcde-fghij`.
async fn new_recovery_codes(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> AppResult<Vec<String>> {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let codes: Vec<String> = {
        let mut rng = rand::rng();
        (0..RECOVERY_CODES)
            .map(|_| {
                let chars: String = (0..RECOVERY_CODE_CHARS)
                    .map(|_| char::from(ALPHABET[(rng.next_u32() % 32) as usize]))
                    .collect();
                format!("{}-{}", &chars[..5], &chars[5..])
            })
            .collect()
    };
    let hashes: Vec<Vec<u8>> = codes
        .iter()
        .map(|code| hash_token(&normalise_recovery_code(code)))
        .collect();
    store::replace_recovery_codes(conn, user_id, &hashes, now).await?;
    Ok(codes)
}

/// Records a change to the second factor in the audit log and tells the account's address.
async fn changed(
    app: &App,
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    user: &UserRow,
    action: &'static str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let event = SecurityEvent {
        user_id: Some(user.id),
        action,
        target: ("user", Some(user.id)),
        details: None,
        client: &caller.client,
        request_id: Some(&caller.request_id),
    };
    audit::record_security(conn, now, event).await?;
    // Whoever changes the second factor holds the account: a recovery under way is moot.
    store::invalidate_open_tokens(conn, user.id, TokenPurpose::RecoverTwoFactor, now).await?;
    let Some(email) = user.email.as_deref() else {
        return Ok(());
    };
    let what = match action {
        "totp.enabled" => "turned on",
        "totp.disabled" => "turned off",
        _ => "given new recovery codes",
    };
    let letter = Letter::new(
        MailKind::TwoFactorChanged,
        email,
        &user.name,
        app.mailer.page("reset-password"),
    )
    .with("change", what);
    app.mailer.queue(conn, letter, now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, appendix B (SHA-1, the 20-byte ASCII secret), with the 6 digits an
    /// authenticator shows: the last six of each published 8-digit value.
    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        let secret = b"12345678901234567890".to_vec();
        let at = |seconds: i64| DateTime::from_timestamp(seconds, 0).unwrap();
        for (seconds, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            let step = matching_step(secret.clone(), code, at(seconds)).unwrap();
            assert_eq!(step, Some(seconds / 30), "at {seconds}");
        }
        // One step either way is accepted, two are not.
        assert_eq!(matching_step(secret.clone(), "287082", at(89)).unwrap(), Some(1));
        assert_eq!(matching_step(secret, "287082", at(120)).unwrap(), None);
    }

    #[test]
    fn recovery_codes_read_back_however_they_are_typed() {
        assert_eq!(normalise_recovery_code(" AbCdE-fghij "), "abcdefghij");
    }
}
