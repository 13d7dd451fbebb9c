//! Invitations: an emailed link that lets someone join a company with a given role, by
//! signing in or registering; and bulk invitations from a CSV file.

pub mod graphql;
pub mod import;
pub mod model;
pub mod service;
pub mod store;
