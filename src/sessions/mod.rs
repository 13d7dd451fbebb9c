//! Sign-in sessions: login, refresh-token rotation with reuse detection, logout, listing and
//! revoking sessions, and checking the session behind every access token.

pub mod cache;
pub mod graphql;
pub mod model;
pub mod service;
pub mod store;
pub mod two_factor_recovery;
