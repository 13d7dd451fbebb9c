//! Accounts: registration and email verification, password reset and change, profile,
//! preferences, email change and account deletion.

pub mod data_export;
pub mod email;
pub mod graphql;
pub mod loader;
pub mod model;
pub mod service;
pub mod store;
