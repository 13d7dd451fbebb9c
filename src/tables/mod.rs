//! Data tables: user-defined, typed columns (fields) in a project, with a history of every
//! schema change. Rows arrive in a later increment.

pub mod fields;
pub mod graphql;
pub mod homes;
pub mod loader;
pub mod model;
pub mod service;
pub mod store;
