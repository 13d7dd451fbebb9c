//! Runs the operations that arrive over HTTP. They take the same steps as websocket
//! operations (a fresh authorizer, the query limits, the error finishing) but around
//! execution rather than in an extension, so that resolving a field costs no extension
//! hook (see [`super::build_schema`]).

use std::sync::Arc;

use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse, Request, Response, ServerError, ValidationMode, Value};

use super::document_cache::DocumentCache;
use super::errors::{finish_response, server_error};
use super::limits::{MAX_SECRET_CHECKS, QueryLimits, secret_checks_run, too_many_secret_checks};
use super::uploads;
use super::{GuildhallSchema, build_bare_schema};
use crate::app::App;
use crate::auth::caller::Caller;
use crate::error::ErrorCode;
use crate::rbac::authorizer::Authorizer;

/// The schema as HTTP serves it, with the limits it enforces.
#[derive(Clone)]
pub struct HttpOperations {
    app: App,
    schema: GuildhallSchema,
    /// The same schema, running only the checks that depend on more than the document
    /// (limits, upload placement): for documents that passed full validation before.
    settled_schema: GuildhallSchema,
    limits: QueryLimits,
    /// Documents that parsed and passed the limits.
    documents: Arc<DocumentCache>,
}

impl HttpOperations {
    /// Operations against `app`.
    pub fn new(app: &App) -> Self {
        Self {
            app: app.clone(),
            schema: build_bare_schema(app, ValidationMode::Strict),
            settled_schema: build_bare_schema(app, ValidationMode::Fast),
            limits: QueryLimits::of(&app.config),
            documents: Arc::new(DocumentCache::default()),
        }
    }

    /// Runs one operation for `caller`.
    pub async fn execute(&self, mut request: Request, caller: Caller) -> Response {
        let request_id = caller.request_id.clone();
        let known = match self.documents.document(&request.query, &self.limits) {
            Ok(known) => known,
            Err(error) => {
                let mut response = Response::from_errors(vec![error]);
                finish_response(&mut response, Some(&request_id));
                return response;
            }
        };
        let plain = known.takes_plain(&request.variables);
        let settled = plain && known.is_validated();
        request.set_parsed_query(known.document.clone());
        let schema = if settled {
            &self.settled_schema
        } else {
            &self.schema
        };
        let authorizer = Authorizer::for_caller(self.app.clone(), &caller);
        let mut response = schema.execute(request.data(authorizer).data(caller)).await;
        // Depth and complexity errors come from validation, before any data.
        if response.data == Value::Null {
            response.errors = self.limits.explain(std::mem::take(&mut response.errors));
        } else if plain && !settled {
            known.mark_validated();
        }
        finish_response(&mut response, Some(&request_id));
        response
    }

    /// Refuses a multipart request before its files are received unless every operation in
    /// it that takes a file is one `caller` may run, and at least one does.
    pub async fn authorize_uploads(&self, caller: &Caller, batch: &BatchRequest) -> Result<(), ServerError> {
        let requests = match batch {
            BatchRequest::Single(request) => std::slice::from_ref(request),
            BatchRequest::Batch(requests) => requests.as_slice(),
        };
        let mut uploads = 0;
        for request in requests {
            let known = self.documents.document(&request.query, &self.limits)?;
            uploads += uploads::authorize(&self.app, caller, &known.document, request).await?;
        }
        if uploads == 0 {
            let takers: Vec<&str> = uploads::UPLOAD_FIELDS.iter().map(|(name, _)| *name).collect();
            return Err(server_error(
                ErrorCode::BadUserInput,
                format!(
                    "the request carries files but runs no operation that takes one ({})",
                    takers.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// The type of the operation `request` would run, when its document passes the limits
    /// (GET admits queries only; a document that fails is refused when it is executed).
    pub fn operation_type(&self, request: &Request) -> Option<OperationType> {
        let known = self.documents.document(&request.query, &self.limits).ok()?;
        let name = request.operation_name.as_deref();
        known
            .document
            .operations
            .iter()
            .find(|(op_name, _)| name.is_none() || op_name.map(|n| n.as_str()) == name)
            .map(|(_, op)| op.node.ty)
    }

    /// Runs a batch, one operation after another, each with its own authorizer.
    pub async fn execute_batch(&self, batch: BatchRequest, caller: Caller) -> BatchResponse {
        match batch {
            BatchRequest::Single(request) => BatchResponse::Single(self.execute(request, caller).await),
            BatchRequest::Batch(requests) => {
                let secrets: usize = requests
                    .iter()
                    .filter_map(|request| {
                        let known = self.documents.document(&request.query, &self.limits).ok()?;
                        Some(secret_checks_run(
                            &known.document,
                            request.operation_name.as_deref(),
                        ))
                    })
                    .sum();
                if secrets > MAX_SECRET_CHECKS {
                    // Refused as a whole: running the first and refusing the rest would
                    // still be several guesses in one request.
                    let refused = |_| {
                        let mut response = Response::from_errors(vec![too_many_secret_checks(secrets)]);
                        finish_response(&mut response, Some(&caller.request_id));
                        response
                    };
                    return BatchResponse::Batch(requests.iter().map(refused).collect());
                }
                let mut responses = Vec::with_capacity(requests.len());
                for request in requests {
                    responses.push(self.execute(request, caller.clone()).await);
                }
                BatchResponse::Batch(responses)
            }
        }
    }
}
