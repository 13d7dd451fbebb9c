//! CORS for browser clients: pages from the allowed origins (CORS_ALLOWED_ORIGINS, or
//! WS_ALLOWED_ORIGINS when that is unset) may call the API with bearer tokens; no cookies
//! are involved, so credentials are never allowed.

use std::time::Duration;

use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderName, HeaderValue, Method, request::Parts};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::REQUEST_ID_HEADER;
use crate::config::Config;

/// How long a browser may reuse a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The CORS layer for `config`'s allowed origins.
pub fn layer(config: &Config) -> CorsLayer {
    let config = config.clone();
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _: &Parts| {
            origin
                .to_str()
                .is_ok_and(|origin| config.cors_origin_allowed(origin))
        }))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            AUTHORIZATION,
            CONTENT_TYPE,
            REQUEST_ID_HEADER,
            HeaderName::from_static("apollo-require-preflight"),
            HeaderName::from_static("x-apollo-operation-name"),
        ])
        .expose_headers([REQUEST_ID_HEADER, RETRY_AFTER])
        .max_age(PREFLIGHT_MAX_AGE)
}
