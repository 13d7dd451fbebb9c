//! Signed links: short claims (who, what, until when) put in a URL and signed with a key
//! derived from the server secret, so a download link needs no stored state and cannot be
//! forged or altered. The key differs from the JWT key, so neither token passes as the other.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Signs and checks link claims.
pub struct LinkSigner {
    /// HMAC keyed once at startup; cloned for each use.
    keyed: HmacSha256,
}

impl LinkSigner {
    /// A signer whose key is derived from the server secret.
    pub fn new(secret: &[u8]) -> anyhow::Result<Self> {
        let mut digest = Sha256::new();
        digest.update(b"guildhall signed links\0");
        digest.update(secret);
        let keyed = <HmacSha256 as Mac>::new_from_slice(&digest.finalize())?;
        Ok(Self { keyed })
    }

    fn mac(&self) -> HmacSha256 {
        self.keyed.clone()
    }

    /// `claims` as URL-safe text: the JSON and its signature.
    pub fn sign<T: Serialize>(&self, claims: &T) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{payload}.{signature}")
    }

    /// The claims of a link this server signed; None for anything else.
    pub fn verify<T: DeserializeOwned>(&self, token: &str) -> Option<T> {
        let (payload, signature) = token.split_once('.')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&signature).ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_untouched_links_of_this_secret_verify() {
        let signer = LinkSigner::new(b"secret").unwrap();
        let link = signer.sign(&("table", 42));
        assert_eq!(
            signer.verify::<(String, i32)>(&link),
            Some(("table".to_owned(), 42))
        );
        let forged = LinkSigner::new(b"other").unwrap().sign(&("table", 42));
        assert_eq!(signer.verify::<(String, i32)>(&forged), None);
        let (payload, signature) = link.split_once('.').unwrap();
        let altered = format!("{}.{signature}", URL_SAFE_NO_PAD.encode(b"[\"table\",43]"));
        assert_ne!(payload, altered.split_once('.').unwrap().0);
        assert_eq!(signer.verify::<(String, i32)>(&altered), None);
    }
}
