//! Activity events, notifications and live row changes: written by mutations in their own
//! transactions, read as feeds, and pushed to subscribers on every server instance.

pub mod access;
pub mod cursor;
pub mod graphql;
pub mod held;
pub mod hub;
pub mod listener;
pub mod live;
pub mod model;
pub mod service;
pub mod shared_answer;
pub mod store;
pub mod subscription;
pub mod verb;
pub mod write;
