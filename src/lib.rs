//! Guildhall: a multi-tenant GraphQL platform server.
//!
//! Layers: `http` (axum: GraphQL over HTTP and websockets) → `graphql` (schema assembly,
//! the operation pipeline, limits) → each feature's GraphQL tier → its rules (services) →
//! its data (store, SQL) → `db`. Features and the direction they import one another in
//! are listed in the README ("Feature dependencies").
// The merged root types nest deeply; an optimised build needs more room to lay them out.
#![recursion_limit = "256"]

pub mod api_keys;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod clock;
pub mod companies;
pub mod config;
pub mod cycles;
pub mod db;
pub mod error;
pub mod events;
pub mod factors;
pub mod graphql;
pub mod http;
pub mod input;
pub mod invitations;
pub mod mail;
pub mod modules;
pub mod pagination;
pub mod persisted;
pub mod projects;
pub mod rate_limit;
pub mod rbac;
pub mod rows;
pub mod server;
pub mod sessions;
pub mod spreadsheet;
pub mod tables;
pub mod telemetry;
pub mod users;
pub mod webhooks;
