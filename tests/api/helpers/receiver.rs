//! A webhook receiver: a real HTTP server that checks every delivery's signature the way
//! the Standard Webhooks spec describes (independently of the server's own code), keeps
//! what arrived, and answers as the test scripts it — failing on purpose, hanging past the
//! sender's timeout, asking for a later retry, or saying the endpoint is gone.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::task::JoinHandle;

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 204 No Content.
    Accept,
    /// This status, no body.
    Status(u16),
    /// This status with `Retry-After: seconds`.
    RetryAfter(u16, u64),
    /// No answer for this long (past the sender's timeout), then 200.
    Hang(Duration),
}

/// One delivery as it arrived.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub timestamp: i64,
    /// The signature checked out against the secret the test gave.
    pub verified: bool,
    pub body: Value,
    pub user_agent: String,
}

#[derive(Default)]
struct Inbox {
    secret: Option<String>,
    script: VecDeque<Reply>,
    deliveries: Vec<Delivery>,
}

/// A running receiver on 127.0.0.1.
pub struct Receiver {
    pub addr: SocketAddr,
    inbox: Arc<Mutex<Inbox>>,
    server: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Starts a receiver on a free port.
    pub async fn start() -> Self {
        let mut receiver = Self {
            addr: "127.0.0.1:0".parse().expect("addr"),
            inbox: Arc::default(),
            server: None,
        };
        receiver.listen().await;
        receiver
    }

    async fn listen(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("bind receiver");
        self.addr = listener.local_addr().expect("receiver addr");
        let router = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(Arc::clone(&self.inbox));
        self.server = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        }));
    }

    /// The endpoint URL to give createWebhook.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The signing secret deliveries are checked with.
    pub fn trust(&self, secret: &str) {
        self.inbox.lock().expect("inbox").secret = Some(secret.to_owned());
    }

    /// Answers the next requests in this order (then accepts everything).
    pub fn script(&self, replies: Vec<Reply>) {
        self.inbox.lock().expect("inbox").script.extend(replies);
    }

    /// Everything received so far, in arrival order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inbox.lock().expect("inbox").deliveries.clone()
    }

    /// Waits (at most 30 s) until `count` requests have arrived.
    pub async fn wait_for(&self, count: usize) -> Vec<Delivery> {
        for _ in 0..300 {
            let deliveries = self.deliveries();
            if deliveries.len() >= count {
                return deliveries;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("expected {count} deliveries, got {:?}", self.deliveries());
    }

    /// Stops listening: new connections are refused (answers close each connection, so
    /// none stays open to reach the stopped receiver).
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&mut self) {
        self.listen().await;
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

async fn receive(State(inbox): State<Arc<Mutex<Inbox>>>, headers: HeaderMap, body: Bytes) -> Response {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (id, timestamp, signatures) = (
        text("webhook-id"),
        text("webhook-timestamp"),
        text("webhook-signature"),
    );
    let reply = {
        let mut inbox = inbox.lock().expect("inbox");
        let verified = inbox
            .secret
            .as_deref()
            .is_some_and(|secret| verify(secret, &id, &timestamp, &body, &signatures));
        inbox.deliveries.push(Delivery {
            id,
            timestamp: timestamp.parse().unwrap_or_default(),
            verified,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            user_agent: text("user-agent"),
        });
        inbox.script.pop_front().unwrap_or(Reply::Accept)
    };
    let mut response = match reply {
        Reply::Accept => StatusCode::NO_CONTENT.into_response(),
        Reply::Status(code) => StatusCode::from_u16(code).expect("status").into_response(),
        Reply::RetryAfter(code, seconds) => {
            let mut response = StatusCode::from_u16(code).expect("status").into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            response
        }
        Reply::Hang(duration) => {
            tokio::time::sleep(duration).await;
            StatusCode::OK.into_response()
        }
    };
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The spec's check: HMAC-SHA256 keyed with the base64-decoded secret (after `whsec_`)
/// over `{id}.{timestamp}.{body}`, base64, matching one of the space-separated `v1,` values.
fn verify(secret: &str, id: &str, timestamp: &str, body: &[u8], signatures: &str) -> bool {
    let Some(key) = secret
        .strip_prefix("whsec_")
        .and_then(|key| STANDARD.decode(key).ok())
    else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("hmac key");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    signatures.split(' ').any(|signature| signature == expected)
}
