//! graphql-transport-ws answers an operation refused before it ran (parse, validation, a
//! limit) with one `error` message and nothing after it; async-graphql sends a `next` with
//! the errors and then `complete`. [`RequestErrors::restate`] turns the one into the other
//! and drops the `complete`.

use super::operations::{Envelope, error_message};

/// The socket's operations answered with `error` whose `complete` is still to come.
#[derive(Default)]
pub struct RequestErrors {
    /// Operations answered with `error` whose `complete` is still to come.
    awaiting_complete: Vec<String>,
}

impl RequestErrors {
    const NEXT: &'static str = "{\"type\":\"next\",\"id\":\"";
    const PAYLOAD: &'static str = "\",\"payload\":{\"data\":";
    const FAILED: &'static str = "null,\"errors\":";

    /// The message to send for `text`, if any. Only the message that comes right after a
    /// restated error for the same operation is dropped, and only if it is its `complete`:
    /// an id reused since belongs to a new operation.
    pub fn restate(&mut self, text: String) -> Option<String> {
        if !self.awaiting_complete.is_empty()
            && let Some((kind, id)) = kind_and_id(&text)
            && let Some(at) = self.awaiting_complete.iter().position(|waiting| *waiting == id)
        {
            self.awaiting_complete.swap_remove(at);
            if kind == "complete" {
                return None;
            }
        }
        // Every event passes here: look just past the id (no scan of the event) before
        // parsing anything.
        if let Some(rest) = text.strip_prefix(Self::NEXT)
            && let Some(at) = rest.find(Self::PAYLOAD)
            && rest[at + Self::PAYLOAD.len()..].starts_with(Self::FAILED)
            && let Some((id, error)) = request_error(&text)
        {
            self.awaiting_complete.push(id);
            return Some(error);
        }
        Some(text)
    }
}

/// A message's type and operation id, when it has both.
fn kind_and_id(text: &str) -> Option<(String, String)> {
    let envelope = Envelope::of(text.as_bytes())?;
    Some((envelope.kind, envelope.id?))
}

/// The id and the `error` message for a `next` whose errors came before execution (no
/// data, and no error at a path).
fn request_error(next: &str) -> Option<(String, String)> {
    let message: serde_json::Value = serde_json::from_str(next).ok()?;
    let id = message["id"].as_str()?;
    let errors = message["payload"]["errors"].as_array()?;
    if message["payload"]["data"] != serde_json::Value::Null || errors.iter().any(|e| e.get("path").is_some())
    {
        return None;
    }
    let error = error_message(id, &serde_json::Value::Array(errors.clone()));
    Some((id.to_owned(), error))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFUSED: &str = r#"{"type":"next","id":"1","payload":{"data":null,"errors":[{"message":"no"}]}}"#;

    #[test]
    fn a_refused_operation_gets_one_error_and_its_complete_is_dropped() {
        let mut errors = RequestErrors::default();
        let error = errors.restate(REFUSED.to_owned()).expect("an error");
        assert_eq!(error, r#"{"type":"error","id":"1","payload":[{"message":"no"}]}"#);
        assert_eq!(errors.restate(r#"{"type":"complete","id":"1"}"#.to_owned()), None);
        let later = r#"{"type":"complete","id":"1"}"#;
        assert_eq!(
            errors.restate(later.to_owned()).as_deref(),
            Some(later),
            "only the one that follows"
        );
    }

    #[test]
    fn errors_at_a_path_and_messages_of_other_operations_pass_unchanged() {
        let mut errors = RequestErrors::default();
        let at_path = r#"{"type":"next","id":"1","payload":{"data":null,"errors":[{"message":"no","path":["activity"]}]}}"#;
        assert_eq!(errors.restate(at_path.to_owned()).as_deref(), Some(at_path));
        errors.restate(REFUSED.to_owned());
        let other = r#"{"type":"complete","id":"2"}"#;
        assert_eq!(errors.restate(other.to_owned()).as_deref(), Some(other));
        let reused = r#"{"type":"next","id":"1","payload":{"data":{"a":1}}}"#;
        assert_eq!(
            errors.restate(reused.to_owned()).as_deref(),
            Some(reused),
            "a new operation with the id"
        );
        let its_end = r#"{"type":"complete","id":"1"}"#;
        assert_eq!(errors.restate(its_end.to_owned()).as_deref(), Some(its_end));
        assert_eq!(errors.restate("not json".to_owned()).as_deref(), Some("not json"));
    }
}
