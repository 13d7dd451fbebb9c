//! The one extension every websocket operation runs through: the session re-check and the
//! per-operation authorizer before it, the query limits (and the parsed-document cache)
//! while it is parsed and validated, and the error finishing on its response. One
//! extension rather than four, because async-graphql wraps every resolved field in each
//! extension's resolve hook (HTTP takes the same steps without it: [`super::operations`]).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextRequest, NextSubscribe, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, Response, ServerError, ServerResult, ValidationResult, Variables};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::document_cache::{DocumentCache, KnownDocument};
use super::errors::{finish_response, request_id};
use super::inline_variables::inline_subscription_variables;
use super::limits::QueryLimits;
use super::live_session;
use crate::rbac::authorizer;

/// The request pipeline, configured with the query limits.
pub struct Pipeline {
    limits: QueryLimits,
    /// Documents that parsed and passed the limits. A subscription keeps its document for
    /// its whole life, and a copy of a cached one is also the smallest: exactly sized lists,
    /// names shared.
    documents: Arc<DocumentCache>,
    /// This request's document with its variables written in, from `prepare_request` to
    /// `parse_query` (see [`inline_subscription_variables`]); boxed, as every running
    /// subscription keeps its extensions.
    inlined: Mutex<Option<Box<ExecutableDocument>>>,
    /// This request's kept document, marked validated once its validation passes.
    parsed: Mutex<Option<Arc<KnownDocument>>>,
}

impl Pipeline {
    /// A pipeline enforcing `limits`, with an empty document cache.
    pub fn new(limits: QueryLimits) -> Self {
        Self::sharing(limits, Arc::new(DocumentCache::default()))
    }

    fn sharing(limits: QueryLimits, documents: Arc<DocumentCache>) -> Self {
        Self {
            limits,
            documents,
            inlined: Mutex::new(None),
            parsed: Mutex::new(None),
        }
    }
}

impl ExtensionFactory for Pipeline {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Pipeline::sharing(self.limits, Arc::clone(&self.documents)))
    }
}

/// Locks a slot of one request's state (a panic elsewhere leaves it usable).
fn slot<T>(slot: &Mutex<T>) -> MutexGuard<'_, T> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

#[async_graphql::async_trait::async_trait]
impl Extension for Pipeline {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        finish_response(&mut response, None);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let request_id = request_id(ctx);
        next.run(ctx, stream)
            .map(move |mut response| {
                finish_response(&mut response, request_id.as_deref());
                response
            })
            .boxed()
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        live_session::recheck(ctx).await?;
        authorizer::attach(ctx, &mut request);
        if !request.variables.is_empty()
            && let Some(known) = self.documents.get(&request.query)
            && known.is_validated()
            && let Some(document) = inline_subscription_variables(&known.document, &request.variables)
        {
            request.variables = Variables::default();
            *slot(&self.inlined) = Some(Box::new(document));
        }
        next.run(ctx, request).await
    }

    /// Parses through the shared document cache instead of `next` (no other extension
    /// parses), or takes the document `prepare_request` wrote the variables into.
    async fn parse_query(
        &self,
        _ctx: &ExtensionContext<'_>,
        query: &str,
        _variables: &Variables,
        _next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if let Some(document) = slot(&self.inlined).take() {
            return Ok(*document);
        }
        let known = self.documents.document(query, &self.limits)?;
        let document = known.document.clone();
        *slot(&self.parsed) = Some(known);
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let validated = next
            .run(ctx)
            .await
            .map_err(|errors| self.limits.explain(errors))?;
        if let Some(known) = slot(&self.parsed).take() {
            known.mark_validated();
        }
        Ok(validated)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        finish_response(&mut response, request_id(ctx).as_deref());
        response
    }
}
