//! The API key secret: `gh_`, a 12-character public id that finds the key, 43 random
//! characters (256 bits) and a 6-character checksum, all base62. The checksum (CRC32 of
//! what precedes it) lets secret scanners and this server refuse a mistyped or made-up key
//! without reading the database; only the secret's SHA-256 is stored.

use rand::Rng;
use rand::distr::Alphanumeric;

use crate::auth::tokens::hash_token;

/// What every key starts with, so people and secret scanners recognise one.
pub const PREFIX: &str = "gh_";
const PUBLIC_ID_CHARS: usize = 12;
/// 43 base62 characters hold 256.03 bits.
const RANDOM_CHARS: usize = 43;
const CHECKSUM_CHARS: usize = 6;
/// The length of every key.
pub const LENGTH: usize = PREFIX.len() + PUBLIC_ID_CHARS + RANDOM_CHARS + CHECKSUM_CHARS;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A newly made key: the secret shown once and what is stored in its place.
pub struct NewSecret {
    pub secret: String,
    pub public_id: String,
    /// SHA-256 of the whole secret.
    pub hash: Vec<u8>,
    /// The secret's last four characters, to recognise it by (`gh_…3f9a`).
    pub last_four: String,
}

/// A presented secret whose shape and checksum are right.
#[derive(Debug, PartialEq, Eq)]
pub struct ParsedSecret<'a> {
    pub public_id: &'a str,
    pub hash: Vec<u8>,
}

/// Makes a new random secret.
pub fn generate() -> NewSecret {
    let mut rng = rand::rng();
    let body: String = (&mut rng)
        .sample_iter(Alphanumeric)
        .take(PUBLIC_ID_CHARS + RANDOM_CHARS)
        .map(char::from)
        .collect();
    let unchecked = format!("{PREFIX}{body}");
    let secret = format!("{unchecked}{}", checksum(&unchecked));
    NewSecret {
        public_id: body[..PUBLIC_ID_CHARS].to_owned(),
        hash: hash_token(&secret),
        last_four: secret[LENGTH - 4..].to_owned(),
        secret,
    }
}

/// Whether a bearer token is meant as an API key (rather than an access token).
pub fn looks_like_key(token: &str) -> bool {
    token.starts_with(PREFIX)
}

/// The public id and hash of a well-formed secret; None for anything else (wrong length,
/// a character outside base62, a checksum that does not match).
pub fn parse(secret: &str) -> Option<ParsedSecret<'_>> {
    if secret.len() != LENGTH || !secret.starts_with(PREFIX) {
        return None;
    }
    let body = &secret[PREFIX.len()..];
    if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let (unchecked, sum) = secret.split_at(LENGTH - CHECKSUM_CHARS);
    if checksum(unchecked) != sum {
        return None;
    }
    Some(ParsedSecret {
        public_id: &body[..PUBLIC_ID_CHARS],
        hash: hash_token(secret),
    })
}

/// How a key is shown once made: the prefix and its last four characters.
pub fn display(last_four: &str) -> String {
    format!("{PREFIX}…{last_four}")
}

/// CRC32 of `text` in six base62 digits (62^6 > 2^32), most significant first.
fn checksum(text: &str) -> String {
    let mut value = u64::from(crc32fast::hash(text.as_bytes()));
    let mut digits = [b'0'; CHECKSUM_CHARS];
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[usize::try_from(value % 62).unwrap_or(0)];
        value /= 62;
    }
    digits.iter().map(|&b| char::from(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_parses_back_to_its_public_id_and_hash() {
        let made = generate();
        assert_eq!(made.secret.len(), LENGTH);
        assert!(made.secret.starts_with("gh_"));
        let parsed = parse(&made.secret).expect("a fresh secret parses");
        assert_eq!(parsed.public_id, made.public_id);
        assert_eq!(parsed.hash, made.hash);
        assert!(made.secret.ends_with(&made.last_four));
        assert_ne!(generate().secret, made.secret);
    }

    #[test]
    fn a_typo_or_a_made_up_key_fails_the_checksum() {
        let made = generate();
        let mut typo = made.secret.clone().into_bytes();
        typo[20] = if typo[20] == b'a' { b'b' } else { b'a' };
        assert_eq!(parse(std::str::from_utf8(&typo).unwrap()), None);
        assert_eq!(parse(&made.secret[..LENGTH - 1]), None);
        assert_eq!(parse(&format!("{}!", &made.secret[..LENGTH - 1])), None);
        assert_eq!(parse(&format!("gh_{}", "A".repeat(LENGTH - 3))), None);
        assert_eq!(parse("gh_é"), None);
    }

    #[test]
    fn the_checksum_is_fixed_width_base62() {
        assert_eq!(checksum("").len(), CHECKSUM_CHARS);
        assert_eq!(checksum(""), "000000");
        // CRC32("123456789") = 0xCBF43926 = 3421780262 = (3, 45, 35, 27, 22, 14) in base 62.
        assert_eq!(checksum("123456789"), "3jZRME");
    }
}
