//! The first check a document meets, before the parser sees it: how deeply its brackets
//! nest. async-graphql's parser recurses once per nested list value, object value,
//! argument list, selection set and list type, so a few kilobytes of `[[[[…` would overflow
//! a worker's stack and abort the whole process. A linear scan of the text bounds that
//! first, whatever the transport.

/// Deepest nesting of `{`, `[` and `(` a document may have, counted outside strings and
/// comments. Fixed: it guards the parser's stack, it is not a policy to tune.
pub const MAX_NESTING: usize = 64;

/// Whether `query`'s brackets nest deeper than `limit` anywhere. Strings (block strings
/// too) and comments are skipped the way GraphQL's lexer reads them; brackets that do not
/// balance are the parser's to report.
pub fn exceeds(query: &str, limit: usize) -> bool {
    let text = query.as_bytes();
    let mut depth = 0usize;
    let mut at = 0usize;
    while let Some(&byte) = text.get(at) {
        match byte {
            b'#' => {
                at = line_end(text, at);
                continue;
            }
            b'"' if text[at..].starts_with(BLOCK_QUOTE) => {
                at = block_string_end(text, at + BLOCK_QUOTE.len());
                continue;
            }
            b'"' => {
                at = string_end(text, at + 1);
                continue;
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        at += 1;
    }
    false
}

const BLOCK_QUOTE: &[u8] = b"\"\"\"";
const ESCAPED_BLOCK_QUOTE: &[u8] = b"\\\"\"\"";

/// Where the comment starting at `at` ends (its line terminator, or the end).
fn line_end(text: &[u8], mut at: usize) -> usize {
    while text.get(at).is_some_and(|b| *b != b'\n' && *b != b'\r') {
        at += 1;
    }
    at
}

/// Just past the closing `"""` of a block string whose content starts at `at`.
fn block_string_end(text: &[u8], mut at: usize) -> usize {
    while at < text.len() {
        if text[at..].starts_with(ESCAPED_BLOCK_QUOTE) {
            at += ESCAPED_BLOCK_QUOTE.len();
        } else if text[at..].starts_with(BLOCK_QUOTE) {
            return at + BLOCK_QUOTE.len();
        } else {
            at += 1;
        }
    }
    at
}

/// Just past the closing quote of a string whose content starts at `at`; at the line
/// terminator when it has none (the parser then refuses the document).
fn string_end(text: &[u8], mut at: usize) -> usize {
    while let Some(&byte) = text.get(at) {
        match byte {
            b'\\' => at += 2,
            b'"' => return at + 1,
            b'\n' | b'\r' => return at,
            _ => at += 1,
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(open: &str, inner: &str, close: &str, levels: usize) -> String {
        format!("{}{inner}{}", open.repeat(levels), close.repeat(levels))
    }

    #[test]
    fn counts_every_kind_of_bracket() {
        let list = format!(
            "{{ permissionCatalog(x: {}) {{ resource }} }}",
            nested("[", "1", "]", 62)
        );
        assert!(
            !exceeds(&list, MAX_NESTING),
            "64 levels with the braces and parentheses"
        );
        let list = format!(
            "{{ permissionCatalog(x: {}) {{ resource }} }}",
            nested("[", "1", "]", 63)
        );
        assert!(exceeds(&list, MAX_NESTING));
        assert!(exceeds(&nested("{a:", "1", "}", 65), MAX_NESTING));
        assert!(exceeds(&nested("{ a ", "", "}", 65), MAX_NESTING));
        assert!(exceeds(
            &format!("query($v: {}) {{ a }}", nested("[", "Int", "]", 64)),
            MAX_NESTING
        ));
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let deep = "[".repeat(1_000);
        for text in [
            format!("{{ a(s: \"{deep}\") }}"),
            format!("{{ a(s: \"\\\"{deep}\") }}"),
            format!("{{ a(s: \"\"\"{deep} \\\"\"\" {deep}\"\"\") }}"),
            format!("# {deep}\n{{ a }}"),
            format!("# {deep}\r{{ a }}"),
        ] {
            assert!(!exceeds(&text, MAX_NESTING), "{}", &text[..40]);
        }
    }

    #[test]
    fn brackets_after_strings_and_comments_count_again() {
        let deep = "[".repeat(100);
        for text in [
            format!("{{ a(s: \"x\", t: {deep}) }}"),
            format!("{{ a(s: \"\"\"x\"\"\", t: {deep}) }}"),
            format!("# comment\n{{ a(t: {deep}) }}"),
            format!("{{ a(s: \"unterminated\n t: {deep}) }}"),
        ] {
            assert!(exceeds(&text, MAX_NESTING), "{}", &text[..30]);
        }
    }

    #[test]
    fn unbalanced_closing_brackets_do_not_hide_later_depth() {
        let text = format!("}}}}}}}} {}", "[".repeat(65));
        assert!(exceeds(&text, MAX_NESTING));
    }
}
