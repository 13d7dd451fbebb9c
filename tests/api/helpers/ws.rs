//! A graphql-transport-ws client for subscription tests.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

/// A websocket to the test server, before any protocol message.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a websocket to `addr` offering `protocol`, sending nothing yet.
pub async fn raw_socket(addr: SocketAddr, protocol: &str) -> Socket {
    let mut request = format!("ws://{addr}/graphql/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", protocol.parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// One websocket connection speaking graphql-transport-ws.
pub struct WsClient {
    socket: Socket,
}

/// What the server sent next.
#[derive(Debug)]
pub enum Received {
    Message(Value),
    Closed(Option<CloseFrame>),
}

impl WsClient {
    /// Opens a socket to `addr` and sends connection_init with `token`; does not wait for
    /// the answer.
    pub async fn open(addr: SocketAddr, token: &str) -> Self {
        Self::open_with(addr, token, "graphql-transport-ws").await
    }

    /// Opens a socket speaking `protocol` and sends connection_init with `token`.
    pub async fn open_with(addr: SocketAddr, token: &str, protocol: &str) -> Self {
        let mut client = Self {
            socket: raw_socket(addr, protocol).await,
        };
        client
            .send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }))
            .await;
        client
    }

    /// Opens a socket without credentials and waits for connection_ack.
    pub async fn connect_anonymous(addr: SocketAddr) -> Self {
        let mut client = Self {
            socket: raw_socket(addr, "graphql-transport-ws").await,
        };
        client.send(json!({ "type": "connection_init" })).await;
        match client.receive().await {
            Received::Message(ack) => assert_eq!(ack["type"], "connection_ack", "{ack}"),
            Received::Closed(frame) => panic!("closed instead of ack: {frame:?}"),
        }
        client
    }

    /// Opens a socket and waits for connection_ack.
    pub async fn connect(addr: SocketAddr, token: &str) -> Self {
        let mut client = Self::open(addr, token).await;
        match client.receive().await {
            Received::Message(ack) => assert_eq!(ack["type"], "connection_ack", "{ack}"),
            Received::Closed(frame) => panic!("closed instead of ack: {frame:?}"),
        }
        client
    }

    /// Sends one protocol message.
    pub async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
    }

    /// Starts operation `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(
            json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } }),
        )
        .await;
    }

    /// The next protocol message or the close frame (pongs skipped), within 10 s.
    pub async fn receive(&mut self) -> Received {
        match self.receive_raw().await {
            Ok(text) => Received::Message(serde_json::from_str(&text).unwrap()),
            Err(frame) => Received::Closed(frame),
        }
    }

    /// The next protocol message as the server wrote it (pings, pongs and keep-alives
    /// skipped), within 10 s.
    pub async fn receive_text(&mut self) -> String {
        self.receive_raw()
            .await
            .unwrap_or_else(|frame| panic!("closed: {frame:?}"))
    }

    /// The next protocol message's text, or the close frame (None: the socket ended).
    async fn receive_raw(&mut self) -> Result<String, Option<CloseFrame>> {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), self.socket.next())
                .await
                .expect("a websocket message in time");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    if !["pong", "ping", "ka"].contains(&value["type"].as_str().unwrap_or_default()) {
                        return Ok(text.to_string());
                    }
                }
                Some(Ok(Message::Close(frame))) => return Err(frame),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Err(None),
            }
        }
    }

    /// The payload of the next `next` message (panics on anything else).
    pub async fn next_payload(&mut self) -> Value {
        match self.receive().await {
            Received::Message(message) if message["type"] == "next" => message["payload"].clone(),
            other => panic!("expected a next message, got {other:?}"),
        }
    }

    /// Asserts nothing arrives for `millis`.
    pub async fn expect_quiet(&mut self, millis: u64) {
        let waited = tokio::time::timeout(Duration::from_millis(millis), self.socket.next()).await;
        assert!(waited.is_err(), "unexpected message: {waited:?}");
    }

    /// Waits (at most 10 s) for a websocket ping from the server.
    pub async fn wait_for_ping(&mut self) {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), self.socket.next())
                .await
                .expect("a ping in time");
            if let Some(Ok(Message::Ping(_))) = frame {
                return;
            }
        }
    }

    /// Closes the socket from the client side.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}
