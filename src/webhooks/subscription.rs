//! What a webhook listens to: activity verbs (`row.created`), every verb of one subject
//! (`row.*`), or everything (`*`). The outbox trigger matches events against these same
//! three forms; this module decides which patterns may be stored.

use crate::error::{AppError, AppResult};
use crate::events::verb::Verb;

/// Most patterns one webhook may hold.
pub const MAX_PATTERNS: usize = 100;

/// The patterns a client asked for, trimmed, checked and without repeats, in their order;
/// BAD_USER_INPUT on `events` naming the unknown ones and listing the known ones.
pub fn parse(requested: &[String]) -> AppResult<Vec<String>> {
    if requested.is_empty() || requested.len() > MAX_PATTERNS {
        return Err(AppError::invalid(
            "events",
            format!("give 1 to {MAX_PATTERNS} event names (`row.created`, `row.*` or `*`)"),
        ));
    }
    let mut patterns: Vec<String> = Vec::with_capacity(requested.len());
    let mut unknown = Vec::new();
    for pattern in requested.iter().map(|pattern| pattern.trim()) {
        if !is_known(pattern) {
            unknown.push(pattern.chars().take(60).collect::<String>());
        } else if !patterns.iter().any(|kept| kept == pattern) {
            patterns.push(pattern.to_owned());
        }
    }
    if !unknown.is_empty() {
        return Err(AppError::invalid(
            "events",
            format!(
                "unknown event name(s): {}; known: *, {}",
                unknown.join(", "),
                known().join(", ")
            ),
        ));
    }
    Ok(patterns)
}

fn is_known(pattern: &str) -> bool {
    pattern == "*"
        || Verb::parse(pattern).is_some()
        || pattern
            .strip_suffix(".*")
            .is_some_and(|subject| Verb::ALL.iter().any(|verb| verb.subject().as_str() == subject))
}

/// Every pattern a webhook may hold besides `*`: each subject's `prefix.*`, then each verb.
fn known() -> Vec<String> {
    let mut subjects: Vec<String> = Vec::new();
    for verb in Verb::ALL {
        let wildcard = format!("{}.*", verb.subject().as_str());
        if !subjects.contains(&wildcard) {
            subjects.push(wildcard);
        }
    }
    subjects.extend(Verb::ALL.iter().map(|verb| verb.as_str().to_owned()));
    subjects
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| (*item).to_owned()).collect()
    }

    #[test]
    fn verbs_subjects_and_everything_are_accepted_once() {
        let parsed = parse(&owned(&["row.created", " row.* ", "*", "row.created"])).unwrap();
        assert_eq!(parsed, owned(&["row.created", "row.*", "*"]));
    }

    #[test]
    fn unknown_names_are_refused_with_the_known_ones() {
        let err = parse(&owned(&["row.exploded", "rows.*", "row.created"])).unwrap_err();
        let message = err.message;
        assert!(message.contains("row.exploded, rows.*"), "{message}");
        assert!(
            message.contains("member.*") && message.contains("webhook.disabled"),
            "{message}"
        );
        assert!(parse(&[]).is_err());
    }
}
