//! Operations that check a secret (a password, a mailed token, a refresh token) or send
//! mail to an address. Each is throttled, but a throttle counts requests; ten `login`
//! fields in one document would otherwise be ten guesses in one request. So an operation
//! (and a batch) may run at most one of them.

use async_graphql::Positioned;
use async_graphql::parser::types::{ExecutableDocument, OperationDefinition};

use super::each_root_field;
use crate::graphql::document_cache::running_operation;

/// The root fields that check a secret or mail a stranger.
pub const SECRET_CHECKING_FIELDS: [&str; 13] = [
    "login",
    "register",
    "requestPasswordReset",
    "resetPassword",
    "verifyEmail",
    "resendVerificationEmail",
    "registerWithInvitation",
    "invitationPreview",
    "refreshSession",
    "acceptInvitation",
    "changePassword",
    "requestEmailChange",
    "deleteAccount",
];

/// Most secret-checking fields one request may run.
pub const MAX_SECRET_CHECKS: usize = 1;

/// The most secret-checking root fields any one operation of `document` selects (through
/// root-level fragments too). Call after [`super::selections::measure`] has bounded the
/// document.
pub fn secret_checks(document: &ExecutableDocument) -> usize {
    document
        .operations
        .iter()
        .map(|(_, operation)| in_operation(document, operation))
        .max()
        .unwrap_or(0)
}

/// The secret-checking root fields of the operation a request runs (`name`, or the only
/// one; none when there is no such operation).
pub fn secret_checks_run(document: &ExecutableDocument, name: Option<&str>) -> usize {
    running_operation(document, name).map_or(0, |operation| in_operation(document, operation))
}

fn in_operation(document: &ExecutableDocument, operation: &Positioned<OperationDefinition>) -> usize {
    let mut count = 0;
    each_root_field(document, &operation.node.selection_set.node, &mut |field| {
        count += usize::from(SECRET_CHECKING_FIELDS.contains(&field.node.name.node.as_str()));
    });
    count
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    fn count(query: &str) -> usize {
        secret_checks(&parse_query(query).expect("parses"))
    }

    #[test]
    fn counts_root_fields_through_fragments_and_per_operation() {
        assert_eq!(count("{ me { user { id } } }"), 0);
        assert_eq!(count("mutation { login(input: {}) { accessToken } }"), 1);
        assert_eq!(
            count("mutation { a: login(input: {}) { accessToken } b: login(input: {}) { accessToken } }"),
            2
        );
        assert_eq!(
            count("{ invitationPreview(token: \"x\") { email } invitationPreview(token: \"x\") { email } }"),
            2
        );
        assert_eq!(
            count(
                "mutation { ...L ... on Mutation { register(input: {}) } } fragment L on Mutation { login(input: {}) { accessToken } }"
            ),
            2
        );
        assert_eq!(
            count("mutation A { login(input: {}) { accessToken } } mutation B { register(input: {}) }"),
            1,
            "one operation of several runs"
        );
    }
}
