//! Modules: the sections of a project (the carbon product's scopes 1-3), kept in a dense,
//! user-defined order.

pub mod graphql;
pub mod loader;
pub mod model;
pub mod service;
pub mod store;
