//! Persisted documents: GraphQL documents a client sends by their SHA-256 hash instead of
//! in full. Automatic persisted queries follow Apollo's protocol: an unknown hash answers
//! PERSISTED_QUERY_NOT_FOUND, the client sends the text with its hash once, and every
//! instance knows it from then on. Trusted documents are registered by a company in
//! advance, validated then, and run by hash like the others.

pub mod admission;
pub mod automatic;
pub mod graphql;
pub mod manifest;
pub mod model;
pub mod service;
pub mod store;

use sha2::{Digest, Sha256};

/// The name a document goes by when sent by hash: the SHA-256 of its text, in lowercase hex
/// (what Apollo's clients send and what `documentId: "sha256:<hex>"` names).
pub fn document_hash(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}
