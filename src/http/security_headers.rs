//! Headers every answer carries so browsers handle it strictly: no MIME sniffing, no
//! framing, no referrer, HSTS when the server is published over https, and a content
//! security policy: nothing at all for API answers, and for the built-in pages and the
//! playground exactly their own inline scripts and styles (by hash) and what they load.

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

/// What an answer that is not a page may do in a browser: nothing.
const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// HSTS for a year, subdomains included.
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Adds the headers to every answer; `https` says whether the server is published over
/// https (PUBLIC_URL), which HSTS needs. A page's own policy is kept.
pub async fn secure(State(https): State<bool>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers
        .entry(CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(API_POLICY));
    if https {
        headers.insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    response
}

/// The policy of a built-in page: its inline `<script>` and `<style>` blocks by hash,
/// `connect` for what its scripts call, `loads` for where it fetches scripts, styles,
/// fonts and images from (the playground's CDN), nothing else. `scripted_styles`: the
/// page's scripts add style blocks of their own (the playground's editor), so inline
/// styles are allowed rather than hashed.
pub fn page_policy(html: &str, connect: &str, loads: &str, scripted_styles: bool) -> String {
    let scripts = sources(inline_hashes(html, "script"), loads);
    let styles = if scripted_styles {
        sources(vec!["'unsafe-inline'".to_owned()], loads)
    } else {
        sources(inline_hashes(html, "style"), loads)
    };
    let images = sources(vec!["'self'".to_owned(), "data:".to_owned()], loads);
    let fonts = sources(vec!["data:".to_owned()], loads);
    format!(
        "default-src 'none'; script-src {scripts}; style-src {styles}; \
         img-src {images}; font-src {fonts}; connect-src {connect}; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
}

/// A source list: `listed` and `loads` (each source once), or `'none'` when both are empty (a list that
/// names `'none'` beside other sources is malformed).
fn sources(mut listed: Vec<String>, loads: &str) -> String {
    for source in loads.split_whitespace() {
        if !listed.iter().any(|known| known == source) {
            listed.push(source.to_owned());
        }
    }
    if listed.is_empty() {
        "'none'".to_owned()
    } else {
        listed.join(" ")
    }
}

/// `'sha256-…'` of each inline `<tag>` block's text (blocks with a `src` load a file).
fn inline_hashes(html: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut hashes = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(tag_end) = after.find('>') else {
            break;
        };
        let attributes = &after[..tag_end];
        let body = &after[tag_end + 1..];
        let Some(body_end) = body.find(&close) else {
            break;
        };
        if !attributes.contains("src=") {
            let digest = Sha256::digest(&body.as_bytes()[..body_end]);
            hashes.push(format!("'sha256-{}'", STANDARD.encode(digest)));
        }
        rest = &body[body_end + close.len()..];
    }
    hashes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_policy_names_its_inline_blocks_by_hash_and_skips_loaded_ones() {
        let html =
            "<script src=\"https://cdn.example/a.js\"></script><script>go()</script><style>p{}</style>";
        let policy = page_policy(html, "'self'", "", false);
        let go = STANDARD.encode(Sha256::digest(b"go()"));
        let style = STANDARD.encode(Sha256::digest(b"p{}"));
        assert!(policy.contains(&format!("script-src 'sha256-{go}';")), "{policy}");
        assert!(
            policy.contains(&format!("style-src 'sha256-{style}';")),
            "{policy}"
        );
        assert!(policy.contains("default-src 'none'"), "{policy}");
        assert_eq!(
            sources(inline_hashes("<p>no scripts</p>", "script"), ""),
            "'none'"
        );
        assert_eq!(sources(Vec::new(), "'self'"), "'self'");
    }
}
