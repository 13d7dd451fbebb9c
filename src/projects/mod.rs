//! Projects: a company's units of work, and project-scoped role grants (a company Viewer can
//! be an Editor inside one project).

pub mod access;
pub mod graphql;
pub mod loader;
pub mod model;
pub mod service;
pub mod store;
