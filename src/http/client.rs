//! What a request says about its caller: address, user agent, request id, credentials.

use std::net::SocketAddr;

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, USER_AGENT};

use super::REQUEST_ID_HEADER;
use crate::auth::caller::ClientInfo;

/// The client's address and user agent. With a trusted proxy in front, the address is the
/// last one that proxy appended to X-Forwarded-For (earlier entries are the client's own
/// claims and can be forged).
pub fn client_info(headers: &HeaderMap, peer: Option<SocketAddr>, trust_proxy: bool) -> ClientInfo {
    let forwarded = trust_proxy
        .then(|| header(headers, "x-forwarded-for"))
        .flatten()
        .and_then(|value| value.rsplit(',').next().map(|ip| ip.trim().to_owned()))
        .filter(|ip| !ip.is_empty());
    ClientInfo {
        ip: forwarded.or_else(|| peer.map(|addr| addr.ip().to_string())),
        user_agent: header(headers, USER_AGENT.as_str()).map(str::to_owned),
    }
}

/// The request id set by the request-id middleware.
pub fn request_id(headers: &HeaderMap) -> String {
    header(headers, REQUEST_ID_HEADER.as_str())
        .unwrap_or("-")
        .to_owned()
}

/// The bearer token of the Authorization header, if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = header(headers, AUTHORIZATION.as_str())?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}
