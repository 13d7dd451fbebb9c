//! Webhooks: a company's endpoints told of its events, signed the Standard Webhooks way,
//! from an outbox written with each event and sent by workers on every instance.

pub mod endpoint;
pub mod graphql;
pub mod model;
pub mod payload;
pub mod service;
pub mod signature;
pub mod store;
pub mod subscription;
pub mod worker;
