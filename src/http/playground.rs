//! The GraphiQL playground on `GET /graphql`: its page and every file the page loads
//! (GraphiQL and React, pinned in `playground/package-lock.json`, installed from npm by
//! the build script and embedded in the binary), all served by this server. It works on a
//! machine without internet access, runs exactly the versions the lock file names, and
//! needs no other origin in its content security policy.

use std::sync::LazyLock;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::response::{Html, IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::HttpState;
use super::security_headers::page_policy;

/// Where the playground's files are served; their names carry a hash of their content.
const ASSET_PATH: &str = "/playground";

/// A file of a package the build script installed for the playground.
macro_rules! installed {
    ($path:literal) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/playground/node_modules/", $path))
    };
}

/// One file the page loads.
struct Asset {
    /// What the page template calls it, e.g. `{graphiql.js}`.
    placeholder: &'static str,
    /// Its name under [`ASSET_PATH`]: the placeholder's stem, a content hash, the suffix.
    name: String,
    content_type: &'static str,
    body: &'static [u8],
}

impl Asset {
    fn new(placeholder: &'static str, content_type: &'static str, body: &'static [u8]) -> Self {
        let (stem, suffix) = placeholder.rsplit_once('.').unwrap_or((placeholder, ""));
        let digest = Sha256::digest(body);
        let hash: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        Self {
            placeholder,
            name: format!("{stem}.{hash}.{suffix}"),
            content_type,
            body,
        }
    }
}

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

static ASSETS: LazyLock<[Asset; 5]> = LazyLock::new(|| {
    [
        Asset::new(
            "react.js",
            JAVASCRIPT,
            installed!("react/umd/react.production.min.js"),
        ),
        Asset::new(
            "react-dom.js",
            JAVASCRIPT,
            installed!("react-dom/umd/react-dom.production.min.js"),
        ),
        Asset::new("graphiql.js", JAVASCRIPT, installed!("graphiql/graphiql.min.js")),
        Asset::new("graphiql.css", CSS, installed!("graphiql/graphiql.min.css")),
        Asset::new("playground.js", JAVASCRIPT, include_bytes!("pages/playground.js")),
    ]
});

/// The page, its files' placeholders replaced by their paths, and its security policy:
/// scripts, styles and fonts from this server only, queries and subscriptions to it.
/// GraphiQL's editor adds style blocks of its own, so inline styles are allowed.
static PAGE: LazyLock<(String, String)> = LazyLock::new(|| {
    let html = ASSETS
        .iter()
        .fold(include_str!("pages/playground.html").to_owned(), |html, asset| {
            html.replace(
                &format!("{{{}}}", asset.placeholder),
                &format!("{ASSET_PATH}/{}", asset.name),
            )
        });
    let policy = page_policy(&html, "'self' ws: wss:", "'self'", true);
    (html, policy)
});

/// The playground's page, for `GET /graphql` from a browser.
pub fn page() -> Response {
    (
        [(CONTENT_SECURITY_POLICY, PAGE.1.as_str())],
        Html(PAGE.0.as_str()),
    )
        .into_response()
}

/// `GET /playground/{name}`: one of the page's files. Names carry their content's hash,
/// so browsers may keep them for good. Off with the playground.
pub async fn asset(State(state): State<HttpState>, Path(name): Path<String>) -> Response {
    let asset = ASSETS.iter().find(|asset| asset.name == name);
    match asset {
        Some(asset) if state.app.config.playground_enabled() => (
            [
                (CONTENT_TYPE, asset.content_type),
                (CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            asset.body,
        )
            .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_every_file_from_this_server_by_its_hashed_name() {
        let (html, policy) = &*PAGE;
        for asset in ASSETS.iter() {
            assert!(!html.contains(&format!("{{{}}}", asset.placeholder)));
            assert!(
                html.contains(&format!("\"{ASSET_PATH}/{}\"", asset.name)),
                "{} is not on the page",
                asset.name
            );
            assert!(!asset.body.is_empty());
        }
        assert!(!html.contains("https://"), "{html}");
        assert!(!policy.contains("https://"), "{policy}");
    }
}
