//! Opaque cursors of the event streams: a stream letter and the row's `seq`, which the
//! database orders the same way on every server instance.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{AppError, AppResult};

/// Which stream a cursor belongs to (a cursor of one is refused by the other).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Activity,
    Notifications,
}

impl Stream {
    fn tag(self) -> &'static str {
        match self {
            Self::Activity => "activity",
            Self::Notifications => "notifications",
        }
    }
}

/// The opaque text for position `seq` of `stream`.
pub fn encode(stream: Stream, seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{seq}", stream.tag()))
}

/// The position a client's cursor names; BAD_USER_INPUT on `after` when it is not one of
/// this stream's.
pub fn decode(stream: Stream, text: &str) -> AppResult<i64> {
    let invalid = || AppError::invalid("after", "is not a cursor from this stream");
    let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (tag, seq) = text.split_once(':').ok_or_else(invalid)?;
    if tag != stream.tag() {
        return Err(invalid());
    }
    seq.parse::<i64>()
        .ok()
        .filter(|seq| *seq >= 0)
        .ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_only_in_its_own_stream() {
        let text = encode(Stream::Activity, 42);
        assert_eq!(decode(Stream::Activity, &text).ok(), Some(42));
        assert!(decode(Stream::Notifications, &text).is_err());
        assert!(decode(Stream::Activity, "not a cursor").is_err());
    }
}
