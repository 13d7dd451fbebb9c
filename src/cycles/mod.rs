//! Reporting cycles: a project's periods (quarters, years). They never overlap, and a
//! closed cycle's data is read-only.

pub mod graphql;
pub mod loader;
pub mod model;
pub mod service;
pub mod store;
