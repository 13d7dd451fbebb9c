//! The audit log: one entry per change anyone made (written by the database with every
//! activity event, in its transaction, with the request's client details) and per sign-in
//! event of a person (written here). Append-only for the application: the database refuses
//! any update or delete except the retention purge and the pseudonymisation of a deleted
//! account.

pub mod export;
pub mod graphql;
pub mod model;
pub mod service;
pub mod store;
