//! Rows of data tables: values checked against the table's fields, unique values claimed
//! atomically, filtered and ordered lists, and CSV in and out.

pub mod activity;
pub mod edges;
pub mod export;
pub mod formulas;
pub mod graphql;
pub mod import;
pub mod indexes;
pub mod loader;
pub mod model;
pub mod query;
pub mod recalculate;
pub mod revalidate;
pub mod service;
pub mod store;
pub mod values;
