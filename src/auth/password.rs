//! Password policy (length and a common-password list; no composition rules) and argon2id
//! hashing, run on the blocking pool so a hash never stalls the async workers.

use std::collections::HashSet;
use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::{AppError, AppResult};

/// Shortest accepted password, in characters.
pub const MIN_LENGTH: usize = 10;
/// Longest accepted password, in characters; longer is refused, never truncated.
pub const MAX_LENGTH: usize = 1024;

const COMMON_PASSWORDS: &str = include_str!("../../data/common-passwords.txt");

/// A password that passed the strength policy, ready to be hashed.
pub struct NewPassword(String);

/// Hashes and checks passwords with one set of argon2id parameters.
#[derive(Clone)]
pub struct Passwords {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    common: HashSet<&'static str>,
    /// Verified against when an account does not exist, so both cases take the same time.
    dummy_hash: String,
}

impl Passwords {
    /// OWASP's argon2id recommendation: 19 MiB, two passes, one lane.
    pub fn owasp_params() -> Params {
        Params::new(19 * 1024, 2, 1, None).unwrap_or_default()
    }

    /// Builds the hasher with `params`; tests pass a cheaper cost than production.
    pub fn new(params: Params) -> anyhow::Result<Self> {
        let common = COMMON_PASSWORDS
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let dummy_hash = hash_blocking(&params, b"guildhall timing-equaliser")
            .map_err(|err| anyhow::anyhow!("argon2 self-test failed: {err}"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                common,
                dummy_hash,
            }),
        })
    }

    /// Checks a new password against the policy; `path` names the input field in errors.
    pub fn check_new(&self, password: &str, path: &str) -> AppResult<NewPassword> {
        let length = password.chars().count();
        if length < MIN_LENGTH {
            return Err(AppError::invalid(
                path,
                format!("must be at least {MIN_LENGTH} characters"),
            ));
        }
        if length > MAX_LENGTH {
            return Err(AppError::invalid(
                path,
                format!("must be at most {MAX_LENGTH} characters"),
            ));
        }
        if self.inner.common.contains(password.to_lowercase().as_str()) {
            return Err(AppError::invalid(
                path,
                "is one of the most common passwords; choose another",
            ));
        }
        Ok(NewPassword(password.to_owned()))
    }

    /// The argon2id PHC string of a checked password.
    pub async fn hash(&self, password: NewPassword) -> AppResult<String> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || hash_blocking(&inner.params, password.0.as_bytes()))
            .await
            .map_err(AppError::internal)?
            .map_err(|err| AppError::internal(anyhow::anyhow!("argon2: {err}")))
    }

    /// Whether `password` matches `hash`. With no hash (unknown account) it still spends the
    /// time of one verification and answers false.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> AppResult<bool> {
        let inner = Arc::clone(&self.inner);
        let password = password.to_owned();
        let hash = hash.map(str::to_owned);
        tokio::task::spawn_blocking(move || {
            let known = hash.is_some();
            let candidate = hash.unwrap_or_else(|| inner.dummy_hash.clone());
            let parsed = PasswordHash::new(&candidate)
                .map_err(|err| AppError::internal(anyhow::anyhow!("stored hash: {err}")))?;
            let matches = Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            Ok(known && matches)
        })
        .await
        .map_err(AppError::internal)?
    }
}

fn hash_blocking(params: &Params, password: &[u8]) -> Result<String, String> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password)
        .map(|hash| hash.to_string())
        .map_err(|err| err.to_string())
}
