//! Small built-in pages that complete the mail flows before any product frontend exists.
//! Each is plain HTML with a few lines of script calling the GraphQL API.

use axum::response::Html;

/// GET /verify-email?token=…
pub async fn verify_email() -> Html<&'static str> {
    Html(include_str!("pages/verify-email.html"))
}

/// GET /reset-password[?token=…]
pub async fn reset_password() -> Html<&'static str> {
    Html(include_str!("pages/reset-password.html"))
}

/// GET /accept-invitation?token=…
pub async fn accept_invitation() -> Html<&'static str> {
    Html(include_str!("pages/accept-invitation.html"))
}
