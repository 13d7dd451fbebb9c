//! Small built-in pages that complete the mail flows before any product frontend exists.
//! Each is plain HTML with a few lines of script calling the GraphQL API.

use axum::response::Html;
use regex::Regex;

const VERIFY_EMAIL: &str = include_str!("pages/verify-email.html");
const RESET_PASSWORD: &str = include_str!("pages/reset-password.html");
const ACCEPT_INVITATION: &str = include_str!("pages/accept-invitation.html");

/// GET /verify-email?token=…
pub async fn verify_email() -> Html<&'static str> {
    Html(VERIFY_EMAIL)
}

/// GET /reset-password[?token=…]
pub async fn reset_password() -> Html<&'static str> {
    Html(RESET_PASSWORD)
}

/// GET /accept-invitation?token=…
pub async fn accept_invitation() -> Html<&'static str> {
    Html(ACCEPT_INVITATION)
}

/// Every GraphQL document the pages send (each a string literal starting with `query ` or
/// `mutation `), so that under `PERSISTED_ONLY` the server registers its own pages'
/// documents and the mail flows keep working.
pub fn operations() -> Vec<String> {
    let Ok(literal) = Regex::new(r#""((?:query|mutation) [^"]+)""#) else {
        return Vec::new();
    };
    [VERIFY_EMAIL, RESET_PASSWORD, ACCEPT_INVITATION]
        .iter()
        .flat_map(|page| literal.captures_iter(page).map(|found| found[1].to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_document_the_pages_send_is_found() {
        let operations = super::operations();
        assert_eq!(operations.len(), 7, "{operations:#?}");
        assert!(operations.iter().any(|op| op.starts_with("mutation Verify(")));
        assert!(operations.iter().any(|op| op.starts_with("query Preview(")));
    }
}
