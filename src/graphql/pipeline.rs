//! The one operation pipeline: every operation, over HTTP or a websocket, takes these steps
//! in [`Pipeline::begin`] and [`Pipeline::finish`].
//!
//! Before it runs:
//! 0. a document sent by hash is looked up, and one sent with its hash is checked and
//!    kept once it passes validation ([`Pipeline::resolve_persisted`], see [`crate::persisted`]);
//! 1. its document, from the shared cache or parsed within the limits (see
//!    [`super::limits`]);
//! 2. the session re-check: a websocket's sign-in is older than its operations, so logout,
//!    revocation or a password reset must stop them (HTTP callers were just authenticated);
//! 3. a websocket subscription of a document that passed validation gets its plain
//!    variables written in (see [`super::inline_variables`]);
//! 4. a fresh [`Authorizer`] for the caller;
//! 5. the schema: one that skips the rules a known-good document cannot fail when the
//!    values are plain, the full one otherwise.
//!
//! After: limit errors are restated with their limit, a document that passed full
//! validation is marked so, and every error is finished (contract code, request id). The
//! whole operation, its loaders included, runs in a tracing span naming the request id.
//!
//! No extension is installed: async-graphql passes every resolved field through each one,
//! so a 1,000-row answer or a subscription's every event would pay for it.

use std::any::TypeId;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_graphql::parser::types::OperationType;
use async_graphql::{
    BatchRequest, BatchResponse, Data, Executor, Pos, Request, Response, ServerError, ValidationMode, Value,
    Variables,
};
use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream};
use futures_util::{FutureExt, Stream, StreamExt};
use tracing::{Instrument, Span};

use super::document_cache::{DocumentCache, KnownDocument};
use super::errors::{finish_response, server_error};
use super::inline_variables::inline_subscription_variables;
use super::limits::{MAX_SECRET_CHECKS, QueryLimits, secret_checks_run, too_many_secret_checks};
use super::live_session::ConnectionCredentials;
use super::{GuildhallSchema, uploads};
use crate::app::App;
use crate::auth::caller::{ANONYMOUS, Caller};
use crate::error::{AppError, ErrorCode};
use crate::events::held::HeldSubscriptions;
use crate::persisted::automatic::{AutomaticDocuments, Learned};
use crate::persisted::{admission, document_hash};
use crate::rbac::authorizer::Authorizer;

/// Every operation's steps, shared by both transports (cheap to clone).
#[derive(Clone)]
pub struct Pipeline(Arc<State>);

struct State {
    app: App,
    limits: QueryLimits,
    /// Full validation.
    schema: GuildhallSchema,
    /// Only the checks that depend on more than the document (limits, upload placement):
    /// for documents that passed full validation before, with plain values.
    settled_schema: GuildhallSchema,
    /// Documents that parsed and passed the limits (both transports share them).
    documents: DocumentCache,
    /// Documents clients send by hash.
    automatic: Arc<AutomaticDocuments>,
}

/// An operation ready to run, from [`Pipeline::begin`].
struct Begun {
    request: Request,
    schema: GuildhallSchema,
    /// The kept document, to be marked validated if this run fully validates it.
    known: Option<Arc<KnownDocument>>,
    /// A document sent with its hash, to keep if it passes validation.
    learned: Option<Learned>,
    request_id: String,
    span: Span,
}

impl Pipeline {
    /// The pipeline of `app`'s schema.
    pub fn new(app: &App) -> Self {
        let limits = QueryLimits::of(&app.config);
        let validator = super::document_validator(app, limits);
        Self(Arc::new(State {
            app: app.clone(),
            limits,
            schema: super::build_schema(app, ValidationMode::Strict, &validator),
            settled_schema: super::build_schema(app, ValidationMode::Fast, &validator),
            documents: DocumentCache::default(),
            automatic: Arc::new(AutomaticDocuments::new(app)),
        }))
    }

    /// Step 0, before anything reads the request's query: a request sent by hash gets its
    /// document (or PERSISTED_QUERY_NOT_FOUND); one sent with its hash has the hash checked,
    /// and, when `may_learn`, its document is kept once it passes validation (never from
    /// GET, which any page can make a browser send). Resolving a request twice changes
    /// nothing.
    pub async fn resolve_persisted(&self, request: &mut Request, may_learn: bool) -> Result<(), ServerError> {
        self.0
            .automatic
            .resolve(&self.0.app, request, may_learn)
            .await
            .map_err(without_location)
    }

    /// Whether `caller` may run only registered documents: a key made `persistedOnly`, or
    /// anyone under `PERSISTED_ONLY`.
    fn trusted_only(&self, caller: &Caller) -> bool {
        self.0.app.config.persisted_only || caller.key().is_some_and(|key| key.persisted_only)
    }

    /// Step 0 too, after the document is resolved: a caller who may run only registered
    /// documents gets PERSISTED_QUERY_NOT_ALLOWED for any other (by hash or in full, its
    /// SHA-256 must be registered for a company they act in, or globally); nothing runs.
    pub async fn admit(&self, request: &Request, caller: &Caller) -> Result<(), ServerError> {
        if !self.trusted_only(caller) {
            return Ok(());
        }
        let hash = document_hash(&request.query);
        match admission::is_admitted(&self.0.app, caller.actor(), &hash).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(without_location(AppError::persisted_query_not_allowed())),
            Err(err) => Err(without_location(err)),
        }
    }

    /// [`Self::admit`] for every request of a (POST) batch; the first refusal.
    pub async fn admit_batch(&self, batch: &BatchRequest, caller: &Caller) -> Result<(), ServerError> {
        match batch {
            BatchRequest::Single(request) => self.admit(request, caller).await,
            BatchRequest::Batch(requests) => {
                for request in requests {
                    self.admit(request, caller).await?;
                }
                Ok(())
            }
        }
    }

    /// [`Self::resolve_persisted`] for every request of a (POST) batch; the first refusal.
    pub async fn resolve_persisted_batch(&self, batch: &mut BatchRequest) -> Result<(), ServerError> {
        match batch {
            BatchRequest::Single(request) => self.resolve_persisted(request, true).await,
            BatchRequest::Batch(requests) => {
                for request in requests {
                    self.resolve_persisted(request, true).await?;
                }
                Ok(())
            }
        }
    }

    /// Keeps a document sent with its hash, now that it passed validation.
    fn learn(&self, learned: Option<Learned>) {
        if let Some(learned) = learned {
            self.0.automatic.learn(&self.0.app, learned);
        }
    }

    /// Runs one operation for `caller`.
    pub async fn execute(&self, mut request: Request, caller: Caller) -> Response {
        if let Err(error) = self.resolve_persisted(&mut request, true).await {
            return refusal(error, &caller.request_id);
        }
        if let Err(error) = self.admit(&request, &caller).await {
            return refusal(error, &caller.request_id);
        }
        let begun = match self.begin(request, &caller, None) {
            Ok(begun) => begun,
            Err(error) => return refusal(error, &caller.request_id),
        };
        let span = begun.span.clone();
        async move {
            let response = begun.schema.execute(begun.request.data(caller)).await;
            let (response, passed) = finish(
                response,
                begun.known.as_deref(),
                &begun.request_id,
                &self.0.limits,
            );
            if passed {
                self.learn(begun.learned);
            }
            response
        }
        .instrument(span)
        .await
    }

    /// Runs a batch, one operation after another, each with its own authorizer; a batch
    /// running several secret-checking fields is refused whole.
    pub async fn execute_batch(&self, batch: BatchRequest, caller: Caller) -> BatchResponse {
        match batch {
            BatchRequest::Single(request) => BatchResponse::Single(self.execute(request, caller).await),
            BatchRequest::Batch(mut requests) => {
                let mut unresolved = Vec::with_capacity(requests.len());
                for request in &mut requests {
                    unresolved.push(self.resolve_persisted(request, true).await.err());
                }
                let secrets: usize = requests
                    .iter()
                    .filter_map(|request| {
                        let known = self.document(&request.query).ok()?;
                        Some(secret_checks_run(
                            &known.document,
                            request.operation_name.as_deref(),
                        ))
                    })
                    .sum();
                if secrets > MAX_SECRET_CHECKS {
                    // Refused as a whole: running the first and refusing the rest would
                    // still be several guesses in one request.
                    let refused = |_| refusal(too_many_secret_checks(secrets), &caller.request_id);
                    return BatchResponse::Batch(requests.iter().map(refused).collect());
                }
                let mut responses = Vec::with_capacity(requests.len());
                for (request, unresolved) in requests.into_iter().zip(unresolved) {
                    responses.push(match unresolved {
                        Some(error) => refusal(error, &caller.request_id),
                        None => self.execute(request, caller.clone()).await,
                    });
                }
                BatchResponse::Batch(responses)
            }
        }
    }

    /// Runs one websocket operation (a subscription's every event, or a query's answer)
    /// for the connection whose data is `session`.
    pub fn execute_stream(&self, request: Request, session: Arc<Data>) -> BoxStream<'static, Response> {
        let caller = connection_data::<Caller>(&session)
            .cloned()
            .unwrap_or_else(|| ANONYMOUS.clone());
        if !request.extensions.contains_key("persistedQuery") && !self.trusted_only(&caller) {
            return self.execute_resolved_stream(request, session);
        }
        // Boxed, so the stream keeps a pointer, not the whole future, once it has resolved.
        let pipeline = self.clone();
        let resolving: BoxFuture<'static, BoxStream<'static, Response>> = async move {
            let mut request = request;
            let admitted = match pipeline.resolve_persisted(&mut request, true).await {
                Ok(()) => pipeline.admit(&request, &caller).await,
                Err(error) => Err(error),
            };
            match admitted {
                Ok(()) => pipeline.execute_resolved_stream(request, session),
                Err(error) => stream::once(async move { refusal(error, &caller.request_id) }).boxed(),
            }
        }
        .boxed();
        resolving.flatten_stream().boxed()
    }

    /// [`Self::execute_stream`] for a request whose document is in its query.
    fn execute_resolved_stream(&self, request: Request, session: Arc<Data>) -> BoxStream<'static, Response> {
        let caller = connection_data::<Caller>(&session)
            .cloned()
            .unwrap_or_else(|| ANONYMOUS.clone());
        let credentials = connection_data::<Arc<ConnectionCredentials>>(&session).cloned();
        let mut begun = match self.begin(request, &caller, Some(&session)) {
            Ok(begun) => begun,
            Err(error) => {
                let response = refusal(error, &caller.request_id);
                return stream::once(async move { response }).boxed();
            }
        };
        let app = self.0.app.clone();
        let limits = self.0.limits;
        let learning = begun
            .learned
            .take()
            .map(|learned| Box::new((self.clone(), learned)));
        let span = begun.span.clone();
        // Boxed: the stream outlives the setup, and would otherwise keep room for the whole
        // setup future (the session re-check's included) for the subscription's life.
        let started: BoxFuture<'static, BoxStream<'static, Response>> = async move {
            if let Some(credentials) = credentials
                && let Err(err) = credentials.recheck(&app).await
            {
                return stream::once(async move {
                    refusal(server_error(err.code, err.message), &begun.request_id)
                })
                .boxed();
            }
            let responses = begun
                .schema
                .execute_stream_with_session_data(begun.request, session);
            FirstPollMarks {
                responses,
                known: begun.known,
                learning,
                limits,
                request_id: begun.request_id,
            }
            .boxed()
        }
        .instrument(span.clone())
        .boxed();
        InSpan {
            span,
            responses: started.flatten_stream().boxed(),
        }
        .boxed()
    }

    /// The steps before an operation runs (see the module's head), or why it is refused.
    /// `session` is a websocket connection's data.
    fn begin(
        &self,
        mut request: Request,
        caller: &Caller,
        session: Option<&Data>,
    ) -> Result<Begun, ServerError> {
        let request_id = caller.request_id.clone();
        let operation = request.operation_name.as_deref().unwrap_or("anonymous");
        let span = tracing::info_span!("graphql", request_id = %request_id, operation = %operation);
        let known = self.document(&request.query)?;
        let plain = known.takes_plain(&request.variables);
        let inlined = match session {
            Some(_) if known.is_validated() && !request.variables.is_empty() => {
                inline_subscription_variables(&known.document, &request.variables)
            }
            _ => None,
        };
        let (schema, known) = match inlined {
            // A written-in copy is validated in full again; it is not the kept document.
            Some(document) => {
                request.variables = Variables::default();
                request.set_parsed_query(document);
                (&self.0.schema, None)
            }
            None if plain && known.is_validated() => {
                request.set_parsed_query(known.document.clone());
                (&self.0.settled_schema, None)
            }
            None => {
                request.set_parsed_query(known.document.clone());
                (&self.0.schema, Some(known))
            }
        };
        let learned = connection_data::<Learned>(&request.data).cloned();
        let request = request.data(Authorizer::for_caller(self.0.app.clone(), caller));
        Ok(Begun {
            request,
            schema: schema.clone(),
            known,
            learned,
            request_id,
            span,
        })
    }

    /// The document of `query`, from the cache or parsed within the limits.
    fn document(&self, query: &str) -> Result<Arc<KnownDocument>, ServerError> {
        self.0.documents.document(query, &self.0.limits)
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
            let known = self.document(&request.query)?;
            uploads += uploads::authorize(&self.0.app, caller, &known.document, request).await?;
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
        let known = self.document(&request.query).ok()?;
        let name = request.operation_name.as_deref();
        known
            .document
            .operations
            .iter()
            .find(|(op_name, _)| name.is_none() || op_name.map(|n| n.as_str()) == name)
            .map(|(_, op)| op.node.ty)
    }
}

/// A value a websocket's connection_init put in its connection data.
fn connection_data<T: 'static>(session: &Data) -> Option<&T> {
    session.get(&TypeId::of::<T>())?.downcast_ref::<T>()
}

/// The steps after an operation ran: a request that failed before any data (validation,
/// depth, complexity) has its limit errors restated; one that passed marks its document
/// validated; every error is finished. Answers the response and whether it passed.
fn finish(
    mut response: Response,
    known: Option<&KnownDocument>,
    request_id: &str,
    limits: &QueryLimits,
) -> (Response, bool) {
    let refused = response.data == Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    if refused {
        response.errors = limits.explain(std::mem::take(&mut response.errors));
    } else if let Some(known) = known {
        known.mark_validated();
    }
    finish_response(&mut response, Some(request_id));
    (response, !refused)
}

/// The answer to an operation refused before it ran.
fn refusal(error: ServerError, request_id: &str) -> Response {
    let mut response = Response::from_errors(vec![error]);
    finish_response(&mut response, Some(request_id));
    response
}

/// A websocket operation's answers, finished; its document is marked validated as soon
/// as validation is known to have passed: at the first answer that is not a refusal, or
/// the first time the stream waits (validation runs before anything can wait).
struct FirstPollMarks {
    responses: BoxStream<'static, Response>,
    known: Option<Arc<KnownDocument>>,
    /// A document sent with its hash, kept once validation has passed (boxed: rare, and
    /// the stream lives as long as its subscription).
    learning: Option<Box<(Pipeline, Learned)>>,
    limits: QueryLimits,
    request_id: String,
}

impl Stream for FirstPollMarks {
    type Item = Response;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Response>> {
        let polled = self.responses.poll_next_unpin(cx);
        let known = self.known.take();
        let learning = self.learning.take();
        let passed = |learning: Option<Box<(Pipeline, Learned)>>| {
            if let Some(learning) = learning {
                let (pipeline, learned) = *learning;
                pipeline.learn(Some(learned));
            }
        };
        match polled {
            Poll::Pending => {
                if let Some(known) = known {
                    known.mark_validated();
                }
                passed(learning);
                Poll::Pending
            }
            Poll::Ready(Some(response)) => {
                let (response, validated) =
                    finish(response, known.as_deref(), &self.request_id, &self.limits);
                if validated {
                    passed(learning);
                }
                Poll::Ready(Some(response))
            }
            // Ended at once without an answer: it passed validation (a subscription its
            // socket now holds itself).
            Poll::Ready(None) => {
                if let Some(known) = known {
                    known.mark_validated();
                }
                passed(learning);
                Poll::Ready(None)
            }
        }
    }
}

/// A stream polled inside its operation's span.
struct InSpan {
    span: Span,
    responses: BoxStream<'static, Response>,
}

impl Stream for InSpan {
    type Item = Response;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Response>> {
        let this = &mut *self;
        let _entered = this.span.enter();
        this.responses.poll_next_unpin(cx)
    }
}

/// The pipeline as async-graphql's websocket handler drives it, for one socket.
#[derive(Clone)]
pub struct SocketExecutor {
    pub pipeline: Pipeline,
    /// Where the socket takes the subscriptions it holds itself, when it can.
    pub held: Option<Arc<HeldSubscriptions>>,
}

impl Executor for SocketExecutor {
    async fn execute(&self, request: Request) -> Response {
        self.pipeline.execute(request, ANONYMOUS.clone()).await
    }

    fn execute_stream(&self, request: Request, session: Option<Arc<Data>>) -> BoxStream<'static, Response> {
        let request = match self.held.as_ref().and_then(HeldSubscriptions::take_starting) {
            Some(holding) => request.data(holding),
            None => request,
        };
        self.pipeline.execute_stream(request, session.unwrap_or_default())
    }
}

/// A refusal before execution as a GraphQL error, without a location (it is about the
/// request, not a place in its document).
fn without_location(err: AppError) -> ServerError {
    let mut error = async_graphql::Error::from(err).into_server_error(Pos::default());
    error.locations.clear();
    error
}
