//! Opaque secrets handed to users (email links, refresh tokens): 256 random bits, shown
//! once, stored only as their SHA-256 so a database leak yields nothing usable.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A freshly generated secret and the hash to store in its place.
pub struct OpaqueToken {
    /// URL-safe text given to the user.
    pub secret: String,
    /// SHA-256 of `secret`, the only form kept in the database.
    pub hash: Vec<u8>,
}

impl OpaqueToken {
    /// Generates a new random token.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let secret = URL_SAFE_NO_PAD.encode(bytes);
        let hash = hash_token(&secret);
        Self { secret, hash }
    }
}

/// The stored form of a token the user presents.
pub fn hash_token(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.trim().as_bytes()).to_vec()
}
