//! Roles and permissions: the catalog, custom roles, and the authorizer every service and
//! field guard asks.

pub mod authorizer;
pub mod catalog;
pub mod graphql;
pub mod loader;
pub mod service;
pub mod standing;
pub mod store;
