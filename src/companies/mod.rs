//! Companies and their members: creation with built-in roles, profile, membership changes
//! with the last-owner rule, ownership transfer, leaving, and deletion.

pub mod access;
pub mod graphql;
pub mod loader;
pub mod model;
pub mod service;
pub mod store;
