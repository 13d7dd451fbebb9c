//! GraphQL over websockets (graphql-transport-ws and the legacy graphql-ws), with the
//! access token in the connection_init payload, an Origin allowlist, and a proper close
//! frame when the server shuts down.

use std::net::SocketAddr;
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
use futures_util::{SinkExt, StreamExt, future};
use uuid::Uuid;

use super::HttpState;
use super::client::client_info;
use crate::app::App;
use crate::auth::actor::{Actor, ClientInfo};
use crate::graphql::context::RequestContext;
use crate::graphql::live_session::ConnectionCredentials;
use crate::sessions::service as sessions;

/// Close code for "going away" (RFC 6455).
const GOING_AWAY: u16 = 1001;

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
        .on_upgrade(move |socket| serve_socket(socket, state, protocol, client))
}

async fn serve_socket(socket: WebSocket, state: HttpState, protocol: WebSocketProtocols, client: ClientInfo) {
    let (mut sink, stream) = socket.split();
    let input = stream
        .take_while(|message| future::ready(message.is_ok()))
        .filter_map(|message| {
            future::ready(match message {
                Ok(message @ (Message::Text(_) | Message::Binary(_))) => Some(message.into_data()),
                _ => None,
            })
        });
    let app = state.app.clone();
    let connection_id = Uuid::new_v4().to_string();
    tracing::debug!(connection_id = %connection_id, "websocket opened");
    let messages = GraphqlWebSocket::new(state.schema.clone(), input, protocol)
        .on_connection_init(move |payload| init_connection(app, client, connection_id, payload))
        .keepalive_timeout(Some(Duration::from_secs(60)));
    futures_util::pin_mut!(messages);
    let mut shutdown = state.shutdown.clone();
    loop {
        tokio::select! {
            message = messages.next() => match message {
                Some(WsMessage::Text(text)) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(WsMessage::Close(code, reason)) => {
                    let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                    break;
                }
                None => break,
            },
            _ = shutdown.changed() => {
                let frame = CloseFrame { code: GOING_AWAY, reason: "server shutting down".into() };
                let _ = sink.send(Message::Close(Some(frame))).await;
                break;
            }
        }
    }
}

/// The first GraphQL subprotocol the client offers.
fn negotiate_protocol(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    headers
        .get(SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())?
        .split(',')
        .find_map(|offered| WebSocketProtocols::from_str(offered.trim()).ok())
}

/// Reads the access token from the connection_init payload (`Authorization: "Bearer …"`,
/// `authorization`, or `token`); no token means an anonymous connection.
async fn init_connection(
    app: App,
    client: ClientInfo,
    request_id: String,
    payload: serde_json::Value,
) -> async_graphql::Result<Data> {
    let token = ["Authorization", "authorization", "token", "accessToken"]
        .iter()
        .find_map(|key| payload.get(*key).and_then(|v| v.as_str()))
        .map(|value| value.strip_prefix("Bearer ").unwrap_or(value).trim().to_owned());
    let mut data = Data::default();
    let actor = match token {
        None => Actor::Anonymous,
        Some(access_token) => {
            let user = sessions::authenticate(&app, &access_token).await?;
            data.insert(ConnectionCredentials { access_token });
            Actor::User(user)
        }
    };
    data.insert(RequestContext {
        actor,
        client,
        request_id,
    });
    Ok(data)
}
