//! Checks documents against the served schema without running them: a company's trusted
//! documents are parsed within the limits and validated once, when they are registered.
//! async-graphql validates inside its own execution, so the checking schema carries an
//! extension that answers every operation that passed validation without running it.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{Request, Response, Value};

use super::GuildhallSchema;
use super::document_cache::only_operation;
use super::limits::QueryLimits;
use crate::error::FieldError;
use crate::persisted::document_hash;
use crate::persisted::service::CheckedDocument;

/// The checker, shared through the schema's data.
pub struct DocumentValidator {
    schema: GuildhallSchema,
    limits: QueryLimits,
}

impl DocumentValidator {
    /// A checker for `schema` (which must carry [`ValidateOnly`]) and `limits`.
    pub fn new(schema: GuildhallSchema, limits: QueryLimits) -> Self {
        Self { schema, limits }
    }

    /// The document, checked: it parses within the limits, holds exactly one operation,
    /// and passes every validation rule; else why not.
    pub async fn check(&self, text: &str) -> Result<CheckedDocument, String> {
        let document = self.limits.parse(text).map_err(|err| err.message)?;
        let Some(operation) = only_operation(&document) else {
            return Err("a registered document holds exactly one operation".to_owned());
        };
        let operation_type = match operation.node.ty {
            OperationType::Query => "query",
            OperationType::Mutation => "mutation",
            OperationType::Subscription => "subscription",
        };
        let name = match &document.operations {
            DocumentOperations::Single(_) => None,
            DocumentOperations::Multiple(operations) => operations.keys().next().map(ToString::to_string),
        };
        let mut request = Request::new(text);
        request.set_parsed_query(document);
        let response = self.schema.execute(request).await;
        if let Some(error) = response.errors.first() {
            return Err(error.message.clone());
        }
        Ok(CheckedDocument {
            body: text.to_owned(),
            sha256: document_hash(text),
            name,
            operation_type,
        })
    }
}

impl DocumentValidator {
    /// Checks every `(place, text)`; all of them checked, or every failure by its place.
    pub async fn check_all(
        &self,
        texts: Vec<(String, String)>,
    ) -> Result<Vec<CheckedDocument>, Vec<FieldError>> {
        let mut checked = Vec::with_capacity(texts.len());
        let mut failures = Vec::new();
        for (path, text) in texts {
            match self.check(&text).await {
                Ok(document) => checked.push(document),
                Err(message) => failures.push(FieldError { path, message }),
            }
        }
        if failures.is_empty() {
            Ok(checked)
        } else {
            Err(failures)
        }
    }
}

/// Answers every operation that passed validation without running it.
pub struct ValidateOnly;

impl ExtensionFactory for ValidateOnly {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ValidateOnly)
    }
}

#[async_trait::async_trait]
impl Extension for ValidateOnly {
    async fn execute(
        &self,
        _ctx: &ExtensionContext<'_>,
        _operation_name: Option<&str>,
        _next: NextExecute<'_>,
    ) -> Response {
        Response::new(Value::Null)
    }
}
