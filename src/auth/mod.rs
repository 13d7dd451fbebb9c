//! Credentials: password hashing and policy, opaque one-time tokens, access-token JWTs,
//! and who the caller of a request is.

pub mod caller;
pub mod jwt;
pub mod password;
pub mod sealing;
pub mod signed_link;
pub mod tokens;
