//! Emission factors: the shipped default set and each company's own versions, each valid
//! for a period. Formulas multiply activity data by the version in effect on a row's date.

pub mod graphql;
pub mod import;
pub mod layouts;
pub mod model;
pub mod service;
pub mod store;
