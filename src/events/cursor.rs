//! Opaque cursors of the event streams: a stream's name and the row's `seq`, which the
//! database orders the same way on every server instance; a row change's cursor also
//! names its place among the changes of its event (one event touches many rows).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{AppError, AppResult};

/// Which stream a cursor belongs to (a cursor of one is refused by the other).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Activity,
    Notifications,
    RowChanges,
}

impl Stream {
    fn tag(self) -> &'static str {
        match self {
            Self::Activity => "activity",
            Self::Notifications => "notifications",
            Self::RowChanges => "rows",
        }
    }
}

/// The opaque text for position `seq` of `stream`.
pub fn encode(stream: Stream, seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{seq}", stream.tag()))
}

/// The opaque text for the `index`-th (from 0) of the items position `seq` of `stream` holds.
pub fn encode_within(stream: Stream, seq: i64, index: u32) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{seq}:{index}", stream.tag()))
}

/// The cursor that resumes after everything position `seq` of `stream` holds.
pub fn after_all_of(stream: Stream, seq: i64) -> String {
    match stream {
        Stream::RowChanges => encode_within(stream, seq, u32::MAX),
        Stream::Activity | Stream::Notifications => encode(stream, seq),
    }
}

/// The position a client's cursor names; BAD_USER_INPUT on `after` when it is not one of
/// this stream's.
pub fn decode(stream: Stream, text: &str) -> AppResult<i64> {
    let parts = parts_of(stream, text)?;
    match parts.as_slice() {
        [seq] => position(seq),
        _ => Err(invalid()),
    }
}

/// The position and the item within it that a cursor of [`encode_within`] names.
pub fn decode_within(stream: Stream, text: &str) -> AppResult<(i64, u32)> {
    let parts = parts_of(stream, text)?;
    match parts.as_slice() {
        [seq, index] => Ok((position(seq)?, index.parse().map_err(|_| invalid())?)),
        _ => Err(invalid()),
    }
}

fn invalid() -> AppError {
    AppError::invalid("after", "is not a cursor from this stream")
}

/// The decoded cursor's parts after its stream's name.
fn parts_of(stream: Stream, text: &str) -> AppResult<Vec<String>> {
    let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let mut parts = text.split(':');
    if parts.next() != Some(stream.tag()) {
        return Err(invalid());
    }
    Ok(parts.map(str::to_owned).collect())
}

fn position(text: &str) -> AppResult<i64> {
    text.parse::<i64>()
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

    #[test]
    fn a_cursor_within_a_position_keeps_its_index() {
        let text = encode_within(Stream::RowChanges, 42, 3);
        assert_eq!(decode_within(Stream::RowChanges, &text).ok(), Some((42, 3)));
        assert!(decode(Stream::RowChanges, &text).is_err());
        assert!(decode_within(Stream::Activity, &text).is_err());
        assert!(decode_within(Stream::RowChanges, &encode(Stream::RowChanges, 42)).is_err());
    }
}
