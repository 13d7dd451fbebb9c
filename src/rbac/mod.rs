//! The permission model: the catalog, standing (what a member may do where) and the
//! authorizer every service and field guard asks. Managing custom roles is a company rule
//! (`crate::companies::service::roles`).

pub mod authorizer;
pub mod catalog;
pub mod graphql;
pub mod loader;
pub mod standing;
pub mod store;
