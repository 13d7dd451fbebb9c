//! API keys: an integration's credential. A key acts in one company with one of its roles,
//! so its rights are that role's and change with it; it is no person, so acts that belong
//! to people stay with them. Its secret is shown once and stored only as a hash.

pub mod graphql;
pub mod loader;
pub mod memory;
pub mod model;
pub mod secret;
pub mod service;
pub mod store;
