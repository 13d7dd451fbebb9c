//! Data tables: user-defined, typed columns (fields) in a project, with a history of every
//! schema change, and the rule for restricted fields (rows live in `crate::rows`).

pub mod fields;
pub mod formula;
pub mod graphql;
pub mod homes;
pub mod loader;
pub mod model;
pub mod restricted;
pub mod service;
pub mod store;
