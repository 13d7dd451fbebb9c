//! GraphQL over websockets (graphql-transport-ws and the legacy graphql-ws), with the
//! access token in the connection_init payload (a refused one closes with 4403, an expired
//! one with 4401 unless a `ping` carrying a fresh token renewed it, and so does a session
//! found ended at a keep-alive ping), an Origin allowlist, keep-alive pings, and a proper
//! close frame when the server shuts down.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_graphql::Data;
use std::str::FromStr;

use async_graphql::http::{
    ALL_WEBSOCKET_PROTOCOLS, WebSocket as GraphqlWebSocket, WebSocketProtocols, WsMessage,
};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::header::{ORIGIN, SEC_WEBSOCKET_PROTOCOL};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{FutureExt, SinkExt, StreamExt, future};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use uuid::Uuid;

mod following;
mod operations;
mod restate;

use self::following::Following;
use self::operations::{Admission, Operations, SocketEvent, error_message};
use self::restate::RequestErrors;
use super::HttpState;
use super::client::client_info;
use crate::app::App;
use crate::auth::caller::{Caller, ClientInfo, Principal};
use crate::error::ErrorCode;
use crate::events::held::{HeldFeed, HeldSubscriptions, complete_message};
use crate::graphql::live_session::{self, ConnectionCredentials};
use crate::graphql::pipeline::SocketExecutor;
use crate::graphql::socket_budget::SocketSeat;
use crate::sessions::service as sessions;

/// Close code for "going away" (RFC 6455).
const GOING_AWAY: u16 = 1001;
/// graphql-transport-ws: the connection's credentials are no longer valid.
const UNAUTHORIZED: u16 = 4401;
/// graphql-transport-ws: connection_init was refused.
const FORBIDDEN: u16 = 4403;
/// graphql-transport-ws: no connection_init within the allowed time.
const INIT_TIMEOUT: u16 = 4408;
/// graphql-transport-ws: a subscribe reused the id of a running operation.
const SUBSCRIBER_EXISTS: u16 = 4409;
/// The credential is good but spent its request budget (an API key): come back later.
const TOO_MANY_REQUESTS: u16 = 4429;

/// GET /graphql/ws.
pub async fn upgrade(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(protocol) = negotiate_protocol(&headers) else {
        return (
            StatusCode::BAD_REQUEST,
            "Sec-WebSocket-Protocol must offer graphql-transport-ws or graphql-ws",
        )
            .into_response();
    };
    let origin = headers.get(ORIGIN).and_then(|v| v.to_str().ok());
    if !state.app.config.websocket_origin_allowed(origin) {
        tracing::warn!(origin = origin.unwrap_or("-"), "websocket origin refused");
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let client = client_info(&headers, Some(peer), state.app.config.trust_proxy_headers);
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(state.app.config.max_body_bytes)
        .read_buffer_size(state.app.config.ws_read_buffer)
        .write_buffer_size(state.app.config.ws_write_buffer)
        .on_upgrade(move |socket| {
            // Split before the socket task starts: an async fn keeps its arguments for its
            // whole life, and the halves are small handles to the shared socket.
            let (sink, stream) = socket.split();
            serve_socket(sink, stream, state, protocol, client)
        })
}

/// One open socket, counted (in the server's count and the `guildhall_websockets_open`
/// gauge) for as long as it lives.
struct OpenSocket(watch::Sender<usize>);

impl OpenSocket {
    fn counted(open: watch::Sender<usize>) -> Self {
        open.send_modify(|count| *count += 1);
        metrics::gauge!("guildhall_websockets_open").increment(1.0);
        Self(open)
    }
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        self.0.send_modify(|count| *count = count.saturating_sub(1));
        metrics::gauge!("guildhall_websockets_open").decrement(1.0);
    }
}

/// What the connection's authentication decided, shared between the protocol handler and
/// the socket loop.
#[derive(Default)]
struct Credentials {
    /// connection_init arrived (it may still be being checked).
    initialised: AtomicBool,
    /// connection_init was refused (a bad token, or too many sockets for the account).
    refused: AtomicBool,
    /// The socket signed in with an API key (it closes 4403 once the key no longer acts).
    by_key: AtomicBool,
    /// connection_init came with a key past its request budget (closed with 4429).
    rate_limited: AtomicBool,
    /// The account's seat among its open sockets (`WS_MAX_SOCKETS_PER_USER`), held for
    /// the socket's life.
    seat: Mutex<Option<SocketSeat>>,
    /// Who signed the socket in, and until when.
    holder: Mutex<Option<Holder>>,
    /// The token operations are re-checked with (shared with the connection's data).
    token: Mutex<Option<Arc<ConnectionCredentials>>>,
    /// The newest token a client sent in a `ping` to renew its sign-in, until the socket
    /// loop (woken by `renewal_sent`) checks it.
    renewal: Mutex<Option<String>>,
    renewal_sent: Notify,
}

/// The session a socket signed in with.
#[derive(Debug, Clone, Copy)]
struct Holder {
    session_id: Uuid,
    /// When its access token expires (unix seconds).
    expires_at: i64,
}

impl Credentials {
    fn holder(&self) -> Option<Holder> {
        *self.holder.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_holder(&self, holder: Holder) {
        *self.holder.lock().unwrap_or_else(PoisonError::into_inner) = Some(holder);
    }

    fn send_renewal(&self, token: String) {
        *self.renewal.lock().unwrap_or_else(PoisonError::into_inner) = Some(token);
        self.renewal_sent.notify_one();
    }

    fn take_renewal(&self) -> Option<String> {
        self.renewal.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// A token a client sent in a `ping` payload to stay signed in past its first token's expiry.
fn renewal_token(message: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(message).ok()?;
    if !text.contains("\"ping\"") {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    (value.get("type")?.as_str()? == "ping")
        .then(|| token_of(value.get("payload")?))
        .flatten()
}

/// The socket's life: its setup, then its loop in a future that keeps only what the loop
/// uses (an async fn would keep its arguments and their copies for the socket's life).
fn serve_socket(
    mut sink: SplitSink<WebSocket, Message>,
    stream: SplitStream<WebSocket>,
    state: HttpState,
    protocol: WebSocketProtocols,
    client: ClientInfo,
) -> impl Future<Output = ()> + Send {
    let open = OpenSocket::counted(state.open_sockets.clone());
    let credentials = Arc::new(Credentials::default());
    let renewals = Arc::clone(&credentials);
    let operations = Arc::new(Operations::new(state.app.config.ws_max_subscriptions));
    let admissions = Arc::clone(&operations);
    let duplicates_close = protocol == WebSocketProtocols::GraphQLWS;
    // graphql-transport-ws sockets hold plain activity subscriptions themselves.
    let held = duplicates_close.then(|| Arc::new(HeldSubscriptions::default()));
    let starting = held.clone();
    let input = stream
        .take_while(|message| future::ready(message.is_ok()))
        .filter_map(move |message| {
            future::ready(match message {
                Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                    let data = message.into_data();
                    if let Some(token) = renewal_token(&data) {
                        renewals.send_renewal(token);
                    }
                    match admissions.admit(&data, duplicates_close) {
                        Admission::Pass => Some(data),
                        Admission::Start(id, serial) => {
                            if let Some(held) = &starting {
                                held.starting(id, serial);
                            }
                            Some(data)
                        }
                        Admission::Dropped => None,
                    }
                }
                _ => None,
            })
        });
    let app = state.app.clone();
    let connection_id = Uuid::new_v4().to_string();
    tracing::debug!(connection_id = %connection_id, "websocket opened");
    let init_credentials = Arc::clone(&credentials);
    let executor = SocketExecutor {
        pipeline: state.pipeline.clone(),
        held: held.clone(),
    };
    // Boxed: the loop's future would otherwise hold it twice (as built and as pinned).
    let mut messages = Box::pin(
        GraphqlWebSocket::new(executor, input, protocol)
            .on_connection_init(move |payload| {
                init_connection(app, client, connection_id, payload, init_credentials)
            })
            // No idle timeout: a subscriber may send nothing for hours (graphql-ws clients do not
            // ping by default); the server's own pings keep the connection and find dead peers.
            .keepalive_timeout(None),
    );
    let mut shutdown = state.shutdown.clone();
    let mut following = Following::new(held);
    async move {
        // Counted until the loop ends.
        let _open = open;
        let ping_every = Duration::from_secs(state.app.config.ws_ping_secs.max(1));
        let mut next_ping = Instant::now() + ping_every;
        let init_by = Instant::now() + Duration::from_secs(state.app.config.ws_init_timeout_secs);
        let mut errored = RequestErrors::default();
        // The waits below outlive each turn of the loop: a socket woken for every event would
        // otherwise enter and leave the timer wheel and the notifiers' lists each time.
        let timer = tokio::time::sleep_until(init_by.min(next_ping));
        let noticed = operations.noticed.notified();
        let renewal_sent = credentials.renewal_sent.notified();
        let shutting_down = shutdown.changed();
        tokio::pin!(timer, noticed, renewal_sent, shutting_down);
        loop {
            // One timer serves the next keep-alive ping, the token's expiry and, until
            // connection_init arrives, its deadline.
            let expires_at = credentials.holder().map(|holder| {
                let left = holder.expires_at - state.app.clock.now().timestamp();
                Instant::now() + Duration::from_secs(u64::try_from(left).unwrap_or(0))
            });
            let awaiting_init = !credentials.initialised.load(Ordering::Relaxed);
            let mut wake = expires_at.map_or(next_ping, |at| at.min(next_ping));
            if awaiting_init {
                wake = wake.min(init_by);
            }
            // The expiry is known to the second: a wake that moved less is left as it is.
            if timer.is_elapsed() || timer.deadline().max(wake) - timer.deadline().min(wake) > TIMER_SLACK {
                timer.as_mut().reset(wake);
            }
            tokio::select! {
                message = messages.next() => match message {
                    // Boxed: a batch's state stays out of every idle socket's own size.
                    Some(WsMessage::Text(text)) => match Box::pin(write_ready(&mut sink, text, &mut messages, protocol, &mut errored, &operations, &mut following)).await {
                        AfterBatch::Continue => {}
                        AfterBatch::Close(code, reason) => {
                            Box::pin(close(&mut sink, protocol_close_code(&credentials, code), &reason)).await;
                            break;
                        }
                        AfterBatch::Stop => break,
                    },
                    Some(WsMessage::Close(code, reason)) => {
                        Box::pin(close(&mut sink, protocol_close_code(&credentials, code), &reason)).await;
                        break;
                    }
                    None => break,
                },
                () = &mut timer => {
                    if awaiting_init && init_by <= Instant::now() {
                        Box::pin(close(&mut sink, INIT_TIMEOUT, "Connection initialisation timeout")).await;
                        break;
                    }
                    if expires_at.is_some_and(|at| at <= Instant::now()) {
                        let reason = "the access token expired; reconnect with a fresh one";
                        Box::pin(close(&mut sink, UNAUTHORIZED, reason)).await;
                        break;
                    }
                    next_ping = Instant::now() + ping_every;
                    // Boxed: a step of its own, kept out of every idle socket's own size.
                    if !Box::pin(session_still_live(&state.app, &credentials)).await {
                        if credentials.by_key.load(Ordering::Relaxed) {
                            let reason = "the API key was revoked or expired";
                            Box::pin(close(&mut sink, FORBIDDEN, reason)).await;
                        } else {
                            Box::pin(close(&mut sink, UNAUTHORIZED, "the session has ended; sign in again")).await;
                        }
                        break;
                    }
                    if sink.send(Message::Ping(Default::default())).await.is_err() {
                        break;
                    }
                }
                (feed, message) = following.next() => {
                    // Boxed: a batch's state stays out of every idle socket's own size.
                    if let AfterBatch::Stop = Box::pin(write_held(&mut sink, (feed, message), &mut errored, &operations, &mut following)).await {
                        break;
                    }
                }
                () = &mut noticed => {
                    noticed.set(operations.noticed.notified());
                    // Boxed: a rare step, kept out of every idle socket's own size.
                    if let AfterBatch::Close(code, reason) = Box::pin(answer_events(&mut sink, &operations, &mut following)).await {
                        Box::pin(close(&mut sink, code, &reason)).await;
                        break;
                    }
                }
                () = &mut renewal_sent => {
                    renewal_sent.set(credentials.renewal_sent.notified());
                    if let Some(token) = credentials.take_renewal() {
                        // Boxed: a rare step, kept out of every idle socket's own size.
                        Box::pin(renew(&state.app, &credentials, &token)).await;
                    }
                }
                _ = &mut shutting_down => {
                    Box::pin(close(&mut sink, GOING_AWAY, "server shutting down; reconnect and resume from your last cursor")).await;
                    break;
                }
            }
        }
        // The closing handshake: the peer answers a close frame with its own. Reading until it
        // does (briefly) lets the connection end cleanly; dropping it with unread data (a pong
        // in flight) would reset it, and the peer could lose the close frame and its code.
        // Boxed: a last step, kept out of every idle socket's own size.
        let grace = tokio::time::timeout(CLOSE_GRACE, async { while messages.next().await.is_some() {} });
        let _ = Box::pin(grace).await;
    }
}

/// How far the socket's timer may be from its exact wake before it is moved.
const TIMER_SLACK: Duration = Duration::from_millis(20);

/// How long a closing socket waits for the peer's close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Most messages written in one go before the socket is flushed.
const WRITE_BATCH: usize = 64;

/// What follows a batch of writes.
enum AfterBatch {
    /// Wait for more.
    Continue,
    /// The protocol handler asked to close the socket.
    Close(u16, String),
    /// The socket is gone, or the operations ended.
    Stop,
}

/// Writes `first` and whatever further messages are ready at once (up to [`WRITE_BATCH`]),
/// then flushes once: a subscriber that is behind gets its backlog in a few writes rather
/// than one per event.
async fn write_ready<M>(
    sink: &mut SplitSink<WebSocket, Message>,
    first: String,
    messages: &mut M,
    protocol: WebSocketProtocols,
    errored: &mut RequestErrors,
    operations: &Operations,
    following: &mut Following,
) -> AfterBatch
where
    M: futures_util::Stream<Item = WsMessage> + Unpin,
{
    let mut next = Some(first);
    let mut written = 0;
    let mut after = AfterBatch::Continue;
    while let Some(text) = next.take() {
        // The end of an operation whose resolver handed its subscription to the socket:
        // the socket follows it from here, and it is not over.
        let text = if following.takes_over(&text) {
            None
        } else if protocol == WebSocketProtocols::GraphQLWS {
            errored.restate(text)
        } else {
            Some(text)
        };
        if let Some(text) = text
            && send(sink, text, operations).await.is_err()
        {
            return AfterBatch::Stop;
        }
        written += 1;
        if written == WRITE_BATCH {
            break;
        }
        match messages.next().now_or_never() {
            Some(Some(WsMessage::Text(text))) => next = Some(text),
            Some(Some(WsMessage::Close(code, reason))) => after = AfterBatch::Close(code, reason),
            Some(None) => after = AfterBatch::Stop,
            None => {}
        }
    }
    if sink.flush().await.is_err() {
        return AfterBatch::Stop;
    }
    after
}

/// Feeds one message to the socket (flushed by the caller), noting the operation it ends.
async fn send(
    sink: &mut SplitSink<WebSocket, Message>,
    text: String,
    operations: &Operations,
) -> Result<(), ()> {
    operations.sent(&text);
    sink.feed(Message::Text(text.into())).await.map_err(|_| ())
}

/// Writes a held subscription's message and whatever it and the socket's other held
/// subscriptions have ready after it (up to [`WRITE_BATCH`] in all), then flushes once:
/// an event every subscription on the socket shares goes out in one write. Each is
/// followed again unless it has ended.
async fn write_held(
    sink: &mut SplitSink<WebSocket, Message>,
    first: (Box<HeldFeed>, Option<String>),
    errored: &mut RequestErrors,
    operations: &Operations,
    following: &mut Following,
) -> AfterBatch {
    let mut written = 0;
    let mut ready = Some(first);
    while let Some((mut feed, mut message)) = ready.take() {
        while let Some(text) = message.take() {
            if let Some(text) = errored.restate(text)
                && send(sink, text, operations).await.is_err()
            {
                return AfterBatch::Stop;
            }
            written += 1;
            if written == WRITE_BATCH {
                following.follow(feed);
                break;
            }
            match following.follow_ready(feed) {
                Some((same, next)) => {
                    feed = same;
                    message = next;
                }
                None => break,
            }
        }
        if written < WRITE_BATCH {
            ready = following.next().now_or_never();
        }
    }
    if sink.flush().await.is_err() {
        return AfterBatch::Stop;
    }
    AfterBatch::Continue
}

/// Answers the operations refused for the socket's budget with an `error` each; a reused
/// operation id asks for the socket to close (4409); a held subscription the client
/// completed ends.
async fn answer_events(
    sink: &mut SplitSink<WebSocket, Message>,
    operations: &Operations,
    following: &mut Following,
) -> AfterBatch {
    for event in operations.take_events() {
        match event {
            SocketEvent::Refused(id) => {
                let message = format!(
                    "this websocket already runs {} operations, the limit (WS_MAX_SUBSCRIPTIONS); complete one first",
                    operations.max()
                );
                let errors = serde_json::json!([
                    { "message": message, "extensions": { "code": ErrorCode::QueryTooComplex.as_str() } }
                ]);
                if sink
                    .feed(Message::Text(error_message(&id, &errors).into()))
                    .await
                    .is_err()
                {
                    return AfterBatch::Stop;
                }
            }
            SocketEvent::Duplicate(id) => {
                return AfterBatch::Close(SUBSCRIBER_EXISTS, format!("Subscriber for {id} already exists"));
            }
            SocketEvent::Completed(serial) => {
                // Answered as async-graphql answers a completed operation, without noting
                // it as ended: its place and id were freed as the client's `complete` was
                // read, and may already belong to a new operation.
                if let Some(id) = following.completed(serial)
                    && sink
                        .feed(Message::Text(complete_message(&id).into()))
                        .await
                        .is_err()
                {
                    return AfterBatch::Stop;
                }
            }
        }
    }
    if sink.flush().await.is_err() {
        return AfterBatch::Stop;
    }
    AfterBatch::Continue
}

/// Sends a close frame (the caller then stops serving the socket).
async fn close(sink: &mut SplitSink<WebSocket, Message>, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
}

/// The close code for a close the protocol handler asked for: 4403 when connection_init
/// was refused, 4429 when its key had spent its request budget.
fn protocol_close_code(credentials: &Credentials, code: u16) -> u16 {
    if credentials.refused.load(Ordering::Relaxed) {
        FORBIDDEN
    } else if credentials.rate_limited.load(Ordering::Relaxed) {
        TOO_MANY_REQUESTS
    } else {
        code
    }
}

/// Whether the socket's sign-in still stands, checked at every ping: its session may have
/// ended since (logout, a password reset, revocation), which otherwise only the next
/// operation would notice while running subscriptions went on. Anonymous sockets have
/// none to lose, and a failure to check (the database away) closes nothing.
async fn session_still_live(app: &App, credentials: &Credentials) -> bool {
    let connection = credentials
        .token
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    match connection {
        None => true,
        Some(connection) => match connection.still_live(app).await {
            Ok(()) => true,
            Err(err) => err.code != ErrorCode::Unauthenticated,
        },
    }
}

/// Extends the socket's sign-in with a fresh token of the same session (a refreshed one);
/// anything else is ignored (the old expiry still applies): a token of another session
/// would leave the socket's context naming the first.
async fn renew(app: &App, credentials: &Credentials, token: &str) {
    let Some(holder) = credentials.holder() else {
        return;
    };
    let now = app.clock.now();
    if let (Ok(user), Ok(claims)) = (
        sessions::authenticate(app, token).await,
        app.jwt.verify(token, now),
    ) && user.session_id == holder.session_id
    {
        credentials.set_holder(Holder {
            expires_at: claims.exp,
            ..holder
        });
        if let Some(connection) = credentials
            .token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            connection.renew(token.to_owned());
        }
    }
}

/// The token in a payload: `Authorization: "Bearer …"`, `authorization`, `token` or
/// `accessToken`.
fn token_of(payload: &serde_json::Value) -> Option<String> {
    ["Authorization", "authorization", "token", "accessToken"]
        .iter()
        .find_map(|key| payload.get(*key).and_then(|v| v.as_str()))
        .map(|value| value.strip_prefix("Bearer ").unwrap_or(value).trim().to_owned())
}

/// The first GraphQL subprotocol the client offers.
fn negotiate_protocol(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    headers
        .get(SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())?
        .split(',')
        .find_map(|offered| WebSocketProtocols::from_str(offered.trim()).ok())
}

/// Reads the access token from the connection_init payload; no token means an anonymous
/// connection, a bad one refuses the connection (closed with 4403).
async fn init_connection(
    app: App,
    client: ClientInfo,
    request_id: String,
    payload: serde_json::Value,
    credentials: Arc<Credentials>,
) -> async_graphql::Result<Data> {
    credentials.initialised.store(true, Ordering::Relaxed);
    let mut data = Data::default();
    let principal = match token_of(&payload) {
        None => Principal::Anonymous,
        Some(access_token) => {
            let principal = match live_session::authenticate(&app, &access_token).await {
                Ok(principal) => principal,
                Err(err) => {
                    let refusal = if err.code == ErrorCode::RateLimited {
                        &credentials.rate_limited
                    } else {
                        &credentials.refused
                    };
                    refusal.store(true, Ordering::Relaxed);
                    return Err(err.into());
                }
            };
            // A person's socket lives until their access token expires (a renewal in a ping
            // extends it); a key's until it is revoked or expires (seen at a ping). Sockets
            // are counted per person or per key.
            let (holder, seat_holder) = match &principal {
                Principal::ApiKey(key) => {
                    credentials.by_key.store(true, Ordering::Relaxed);
                    (None, key.key_id)
                }
                Principal::User(user) => match app.jwt.verify(&access_token, app.clock.now()) {
                    Ok(claims) => {
                        let holder = Holder {
                            session_id: user.session_id,
                            expires_at: claims.exp,
                        };
                        (Some(holder), user.user_id)
                    }
                    Err(err) => {
                        credentials.refused.store(true, Ordering::Relaxed);
                        return Err(err.into());
                    }
                },
                Principal::Anonymous => return Err(async_graphql::Error::new("no credential")),
            };
            let max_sockets = app.config.ws_max_sockets_per_user;
            let Some(seat) = app.sockets.open(seat_holder, max_sockets) else {
                metrics::counter!("guildhall_rate_limit_refusals_total", "limit" => "ws_sockets_per_user")
                    .increment(1);
                credentials.refused.store(true, Ordering::Relaxed);
                return Err(async_graphql::Error::new(format!(
                    "this account already holds {max_sockets} open websockets, the limit (WS_MAX_SOCKETS_PER_USER)"
                )));
            };
            *credentials.seat.lock().unwrap_or_else(PoisonError::into_inner) = Some(seat);
            if let Some(holder) = holder {
                credentials.set_holder(holder);
            }
            let connection = Arc::new(ConnectionCredentials::new(access_token));
            *credentials.token.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&connection));
            data.insert(connection);
            principal
        }
    };
    data.insert(Caller {
        principal,
        client,
        request_id,
    });
    Ok(data)
}
