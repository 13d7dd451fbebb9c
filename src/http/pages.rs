//! Small built-in pages that complete the mail flows before any product frontend exists.
//! Each is plain HTML with a few lines of script calling the GraphQL API.

use std::sync::LazyLock;

use axum::http::header::CONTENT_SECURITY_POLICY;
use axum::response::Html;
use regex::Regex;

use super::security_headers::page_policy;

const VERIFY_EMAIL: &str = include_str!("pages/verify-email.html");
const RESET_PASSWORD: &str = include_str!("pages/reset-password.html");
const ACCEPT_INVITATION: &str = include_str!("pages/accept-invitation.html");
const RECOVER_TWO_FACTOR: &str = include_str!("pages/recover-two-factor.html");

/// A page with the security policy that allows exactly its own scripts and styles.
type Page = ([(axum::http::HeaderName, &'static str); 1], Html<&'static str>);

fn page(html: &'static str, policy: &'static LazyLock<String>) -> Page {
    ([(CONTENT_SECURITY_POLICY, policy.as_str())], Html(html))
}

static VERIFY_EMAIL_POLICY: LazyLock<String> =
    LazyLock::new(|| page_policy(VERIFY_EMAIL, "'self'", "", false));
static RESET_PASSWORD_POLICY: LazyLock<String> =
    LazyLock::new(|| page_policy(RESET_PASSWORD, "'self'", "", false));
static ACCEPT_INVITATION_POLICY: LazyLock<String> =
    LazyLock::new(|| page_policy(ACCEPT_INVITATION, "'self'", "", false));
static RECOVER_TWO_FACTOR_POLICY: LazyLock<String> =
    LazyLock::new(|| page_policy(RECOVER_TWO_FACTOR, "'self'", "", false));

/// GET /verify-email?token=…
pub async fn verify_email() -> Page {
    page(VERIFY_EMAIL, &VERIFY_EMAIL_POLICY)
}

/// GET /reset-password[?token=…]
pub async fn reset_password() -> Page {
    page(RESET_PASSWORD, &RESET_PASSWORD_POLICY)
}

/// GET /accept-invitation?token=…
pub async fn accept_invitation() -> Page {
    page(ACCEPT_INVITATION, &ACCEPT_INVITATION_POLICY)
}

/// GET /recover-two-factor[?token=…]
pub async fn recover_two_factor() -> Page {
    page(RECOVER_TWO_FACTOR, &RECOVER_TWO_FACTOR_POLICY)
}

/// Every GraphQL document the pages send (each a string literal starting with `query ` or
/// `mutation `), so that under `PERSISTED_ONLY` the server registers its own pages'
/// documents and the mail flows keep working.
pub fn operations() -> Vec<String> {
    let Ok(literal) = Regex::new(r#""((?:query|mutation) [^"]+)""#) else {
        return Vec::new();
    };
    [
        VERIFY_EMAIL,
        RESET_PASSWORD,
        ACCEPT_INVITATION,
        RECOVER_TWO_FACTOR,
    ]
    .iter()
    .flat_map(|page| literal.captures_iter(page).map(|found| found[1].to_owned()))
    .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_document_the_pages_send_is_found() {
        let operations = super::operations();
        assert_eq!(operations.len(), 9, "{operations:#?}");
        assert!(operations.iter().any(|op| op.starts_with("mutation Verify(")));
        assert!(operations.iter().any(|op| op.starts_with("query Preview(")));
    }
}
