//! Sealed secrets: the few secrets the server must read back (a webhook's signing secret)
//! are stored encrypted with `SECRETS_KEY` (XChaCha20-Poly1305), bound to the row that owns
//! them, so a copy of the database alone yields nothing usable and a sealed value moved to
//! another row does not open.

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

/// The first byte of every sealed value: the format, so a later one can be told apart.
const FORMAT: u8 = 1;
const NONCE_BYTES: usize = 24;

/// The key development servers use when `SECRETS_KEY` is unset: it keeps sealed secrets
/// readable across restarts of a developer's server, and protects nothing (production
/// refuses to start without a real key).
const DEVELOPMENT_KEY: [u8; 32] = *b"guildhall-development-only-key!!";

/// Seals and opens secrets with the server's key.
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl Sealer {
    /// A sealer for `SECRETS_KEY` (base64 of 32 bytes); None: the development key.
    pub fn new(configured: Option<&str>) -> anyhow::Result<Self> {
        let key = match configured.map(str::trim).filter(|key| !key.is_empty()) {
            Some(encoded) => {
                let bytes = STANDARD
                    .decode(encoded)
                    .context("SECRETS_KEY must be base64 (e.g. `openssl rand -base64 32`)")?;
                if bytes.len() != 32 {
                    bail!("SECRETS_KEY must encode exactly 32 bytes (got {})", bytes.len());
                }
                bytes
            }
            None => {
                tracing::warn!(
                    "SECRETS_KEY is not set: webhook signing secrets are sealed with the development key"
                );
                DEVELOPMENT_KEY.to_vec()
            }
        };
        let cipher = XChaCha20Poly1305::new_from_slice(&key).context("SECRETS_KEY")?;
        Ok(Self { cipher })
    }

    /// `secret` encrypted for the row `owner` (format byte, nonce, ciphertext and tag).
    pub fn seal(&self, owner: &[u8], secret: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: owner,
                },
            )
            .map_err(|_| anyhow::anyhow!("a secret could not be sealed"))?;
        let mut out = Vec::with_capacity(1 + NONCE_BYTES + sealed.len());
        out.push(FORMAT);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The secret sealed for `owner`; None when it was sealed with another key, for
    /// another row, or altered.
    pub fn open(&self, owner: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let (&format, rest) = sealed.split_first()?;
        if format != FORMAT || rest.len() < NONCE_BYTES {
            return None;
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().ok()?;
        self.cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: owner,
                },
            )
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_for_its_row_and_key() {
        let sealer = Sealer::new(Some(&STANDARD.encode([7u8; 32]))).unwrap();
        let sealed = sealer.seal(b"row-1", b"whsec_secret").unwrap();
        assert!(!sealed.windows(12).any(|w| w == b"whsec_secret"));
        assert_eq!(
            sealer.open(b"row-1", &sealed).as_deref(),
            Some(&b"whsec_secret"[..])
        );
        assert_eq!(sealer.open(b"row-2", &sealed), None);
        let other = Sealer::new(Some(&STANDARD.encode([8u8; 32]))).unwrap();
        assert_eq!(other.open(b"row-1", &sealed), None);
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(sealer.open(b"row-1", &altered), None);
        assert!(Sealer::new(Some("c2hvcnQ=")).is_err());
    }
}
