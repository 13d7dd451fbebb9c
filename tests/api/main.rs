//! Integration tests: one binary, so the crate links once. Each test gets its own database
//! (cloned from a migrated template), its own SMTP sink and, where it needs one, a real
//! HTTP server on 127.0.0.1:0.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod helpers;

mod account_profile;
mod activity;
mod api_keys;
mod audit;
mod browser;
mod clients;
mod companies;
mod csv;
mod data_rights;
mod factors;
mod formulas;
mod hostile;
mod instances;
mod invitations;
mod isolation;
mod layout;
mod limits;
mod live;
mod mail_outbox;
mod modules_cycles;
mod operations;
mod passwords;
mod persisted;
mod projects;
mod rbac;
mod registration;
mod row_security;
mod rows;
mod schema;
mod sessions;
mod socket_limits;
mod standing;
mod startup;
mod tables;
mod transport;
mod trusted_documents;
mod two_factor;
mod uploads;
mod webhooks;
