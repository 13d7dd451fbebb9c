//! Schema assembly: each feature contributes its part of Query and Mutation; this module
//! merges them and applies the limits. No web code here — `http` serves the schema.

pub mod connection;
pub mod context;
pub mod document_cache;
pub mod errors;
pub mod guards;
pub mod import_result;
pub mod inline_variables;
pub mod limits;
pub mod live_session;
pub mod pipeline;
pub mod socket_budget;
pub mod uploads;
pub mod validator;

use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::{MergedObject, MergedSubscription, Schema, SchemaBuilder, ValidationMode};
use futures_util::future::BoxFuture;
use tracing::Instrument;

use self::limits::QueryLimits;
use self::validator::{DocumentValidator, ValidateOnly};

use crate::api_keys::graphql::ApiKeysMutation;
use crate::api_keys::loader::ApiKeyLoader;
use crate::app::App;
use crate::audit::graphql::AuditMutation;
use crate::companies::graphql::{CompaniesMutation, CompaniesQuery};
use crate::companies::loader::{CompanyLoader, RoleLoader};
use crate::cycles::graphql::CyclesMutation;
use crate::cycles::loader::CycleLoader;
use crate::events::graphql::EventsMutation;
use crate::events::subscription::EventsSubscription;
use crate::factors::graphql::FactorsMutation;
use crate::invitations::graphql::{InvitationsMutation, InvitationsQuery};
use crate::modules::graphql::ModulesMutation;
use crate::modules::loader::ModuleLoader;
use crate::persisted::graphql::PersistedMutation;
use crate::projects::graphql::{ProjectsMutation, ProjectsQuery};
use crate::projects::loader::ProjectLoader;
use crate::rbac::graphql::{RbacMutation, RbacQuery};
use crate::rbac::loader::RolePermissionsLoader;
use crate::rows::graphql::{RowsMutation, RowsQuery};
use crate::rows::loader::{CalculatorLoader, FirstRowsLoader};
use crate::sessions::graphql::SessionsMutation;
use crate::tables::graphql::{TablesMutation, TablesQuery};
use crate::tables::loader::{FieldsLoader, TableLoader, TablesPageLoader};
use crate::users::graphql::{UsersMutation, UsersQuery};
use crate::users::loader::UserLoader;
use crate::webhooks::graphql::WebhooksMutation;

/// The root query type.
#[derive(MergedObject, Default)]
pub struct Query(
    UsersQuery,
    CompaniesQuery,
    InvitationsQuery,
    RbacQuery,
    ProjectsQuery,
    TablesQuery,
    RowsQuery,
);

/// The root mutation type.
#[derive(MergedObject, Default)]
pub struct Mutation(
    UsersMutation,
    SessionsMutation,
    CompaniesMutation,
    InvitationsMutation,
    RbacMutation,
    ProjectsMutation,
    ModulesMutation,
    CyclesMutation,
    FactorsMutation,
    TablesMutation,
    RowsMutation,
    EventsMutation,
    PersistedMutation,
    ApiKeysMutation,
    AuditMutation,
    WebhooksMutation,
);

/// The root subscription type.
#[derive(MergedSubscription, Default)]
pub struct Subscription(EventsSubscription);

/// Guildhall's executable schema.
pub type GuildhallSchema = Schema<Query, Mutation, Subscription>;

/// The schema's types without any runtime data (what `print-schema` prints).
pub fn schema_builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query::default(), Mutation::default(), Subscription::default())
}

/// The schema as the [`pipeline::Pipeline`] runs it (it takes every operation's steps
/// around execution; no extension is installed). `validation` picks every rule, or only
/// those a known-good document still needs; `validator` checks documents registered in
/// advance.
fn build_schema(
    app: &App,
    validation: ValidationMode,
    validator: &Arc<DocumentValidator>,
) -> GuildhallSchema {
    configured(app)
        .data(Arc::clone(validator))
        .validation_mode(validation)
        .finish()
}

/// The checker of documents registered in advance: the full schema, answering what
/// passes validation without running it.
pub fn document_validator(app: &App, limits: QueryLimits) -> Arc<DocumentValidator> {
    let schema = configured(app).extension(ValidateOnly).finish();
    Arc::new(DocumentValidator::new(schema, limits))
}

/// App data, loaders, limits and introspection settings.
fn configured(app: &App) -> SchemaBuilder<Query, Mutation, Subscription> {
    let config = &app.config;
    // Loaders batch within a request and keep no cache, so sharing them is safe.
    let mut builder = schema_builder()
        .data(app.clone())
        .data(DataLoader::new(UserLoader(app.clone()), spawn_in_span))
        .data(DataLoader::new(ApiKeyLoader(app.clone()), spawn_in_span))
        .data(DataLoader::new(CompanyLoader(app.clone()), spawn_in_span))
        .data(DataLoader::new(RoleLoader(app.clone()), spawn_in_span))
        .data(DataLoader::new(RolePermissionsLoader(app.clone()), spawn_in_span))
        .data(DataLoader::new(FieldsLoader(app.clone()), spawn_in_span))
        .data(DataLoader::new(CalculatorLoader(app.clone()), spawn_in_span))
        .data(DataLoader::new(TableLoader(app.clone()), spawn_in_span))
        .data(DataLoader::new(ModuleLoader(app.clone()), spawn_in_span))
        .data(DataLoader::new(CycleLoader(app.clone()), spawn_in_span))
        .data(DataLoader::new(ProjectLoader(app.clone()), spawn_in_span))
        .data(DataLoader::new(TablesPageLoader(app.clone()), spawn_in_span))
        .data(DataLoader::new(FirstRowsLoader(app.clone()), spawn_in_span))
        .limit_depth(config.max_depth)
        .limit_complexity(config.max_complexity);
    if !config.introspection_enabled() {
        builder = builder.disable_introspection();
    }
    if !config.suggestions_enabled() {
        builder = builder.disable_suggestions();
    }
    builder
}

/// Runs a loader's batch on its own task inside the span of the operation that started it,
/// so what it logs names that operation's request id.
fn spawn_in_span(batch: BoxFuture<'static, ()>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(batch.in_current_span())
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}

/// The argument-less fields of `type_name` whose type is a scalar or an enum, as the served
/// schema declares them: what a fast path that answers a type's fields by itself must
/// cover, no more and no less (the fast paths' tests hold their field lists to this).
#[cfg(test)]
pub(crate) fn leaf_fields(type_name: &str) -> Vec<String> {
    use async_graphql::parser::types::{BaseType, TypeKind, TypeSystemDefinition};

    let document = async_graphql::parser::parse_schema(sdl()).expect("the served schema parses");
    let types: Vec<_> = document
        .definitions
        .iter()
        .filter_map(|definition| match definition {
            TypeSystemDefinition::Type(t) => Some(&t.node),
            _ => None,
        })
        .collect();
    let is_leaf = |name: &str| {
        matches!(name, "String" | "Int" | "Float" | "Boolean" | "ID")
            || types
                .iter()
                .any(|t| t.name.node == name && matches!(t.kind, TypeKind::Scalar | TypeKind::Enum(_)))
    };
    let Some(TypeKind::Object(object)) = types.iter().find(|t| t.name.node == type_name).map(|t| &t.kind)
    else {
        panic!("{type_name} is an object type of the schema");
    };
    let mut fields: Vec<String> = object
        .fields
        .iter()
        .map(|field| &field.node)
        .filter(|field| field.arguments.is_empty())
        .filter(|field| match &field.ty.node.base {
            BaseType::Named(name) => is_leaf(name),
            BaseType::List(_) => false,
        })
        .map(|field| field.name.node.to_string())
        .collect();
    fields.sort();
    fields
}
