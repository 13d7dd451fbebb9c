//! What a parsed document would make the server do, measured before any rule or resolver
//! runs: every selection counted as often as it executes (a fragment spread twice counts
//! twice, a field repeated without an alias counts each time), selection sets nested
//! through fragments, fragments that spread themselves, and directives piled on one place.
//! Each fragment is measured once and remembered, so the walk is linear in the text even
//! when the expansion it describes is exponential.

use std::collections::HashMap;

use async_graphql::Pos;
use async_graphql::Positioned;
use async_graphql::parser::types::{Directive, ExecutableDocument, Selection, SelectionSet};

use super::nesting::MAX_NESTING;

/// Why a document is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Excess {
    /// Selection sets nest (through fragments) deeper than [`MAX_NESTING`].
    Nesting,
    /// A fragment spreads itself, directly or through others.
    Cycle(String),
    /// One place carries more directives than allowed.
    Directives { count: usize, at: Pos },
}

/// Selections a document makes across its operations, each fragment expanded where it is
/// spread (fields, fragment spreads and inline fragments all count; saturating), plus
/// those of fragments no operation spreads.
pub fn measure(document: &ExecutableDocument, max_directives: usize) -> Result<usize, Excess> {
    let mut walk = Walk {
        document,
        max_directives,
        fragments: HashMap::new(),
    };
    let mut total = 0usize;
    for (_, operation) in document.operations.iter() {
        walk.directives(&operation.node.directives, operation.pos)?;
        for variable in &operation.node.variable_definitions {
            walk.directives(&variable.node.directives, variable.pos)?;
        }
        let shape = walk.set(&operation.node.selection_set.node, 1)?;
        total = total.saturating_add(shape.selections);
    }
    // Validation visits every fragment, spread or not, and some of its rules recurse
    // through spreads: fragments no operation reaches are measured (and counted) too.
    for name in document.fragments.keys() {
        if !walk.fragments.contains_key(name.as_str())
            && let Some(shape) = walk.fragment(name.as_str(), 0)?
        {
            total = total.saturating_add(shape.selections);
        }
    }
    Ok(total)
}

/// A selection set's size once expanded, and how deep it nests below itself.
#[derive(Debug, Clone, Copy)]
struct Shape {
    selections: usize,
    height: usize,
}

struct Walk<'a> {
    document: &'a ExecutableDocument,
    max_directives: usize,
    /// Fragments measured so far; None while one is being measured (a spread reaching it
    /// then is a cycle).
    fragments: HashMap<&'a str, Option<Shape>>,
}

impl<'a> Walk<'a> {
    /// Measures `set`, which sits `depth` selection sets deep (the operation's is 1).
    fn set(&mut self, set: &'a SelectionSet, depth: usize) -> Result<Shape, Excess> {
        if depth > MAX_NESTING {
            return Err(Excess::Nesting);
        }
        let mut shape = Shape {
            selections: 0,
            height: 1,
        };
        for item in &set.items {
            let below = match &item.node {
                Selection::Field(field) => {
                    self.directives(&field.node.directives, item.pos)?;
                    if field.node.selection_set.node.items.is_empty() {
                        None
                    } else {
                        Some(self.set(&field.node.selection_set.node, depth + 1)?)
                    }
                }
                Selection::InlineFragment(fragment) => {
                    self.directives(&fragment.node.directives, item.pos)?;
                    Some(self.set(&fragment.node.selection_set.node, depth + 1)?)
                }
                Selection::FragmentSpread(spread) => {
                    self.directives(&spread.node.directives, item.pos)?;
                    self.fragment(spread.node.fragment_name.node.as_str(), depth)?
                }
            };
            shape.selections = shape.selections.saturating_add(1);
            if let Some(below) = below {
                shape.selections = shape.selections.saturating_add(below.selections);
                shape.height = shape.height.max(below.height + 1);
            }
        }
        Ok(shape)
    }

    /// The shape of the fragment `name` spread at `depth` (None: no such fragment, which
    /// validation reports).
    fn fragment(&mut self, name: &'a str, depth: usize) -> Result<Option<Shape>, Excess> {
        let shape = match self.fragments.get(name) {
            Some(Some(shape)) => *shape,
            Some(None) => return Err(Excess::Cycle(name.to_owned())),
            None => {
                let Some((name, definition)) = self.document.fragments.get_key_value(name) else {
                    return Ok(None);
                };
                let name = name.as_str();
                self.directives(&definition.node.directives, definition.pos)?;
                self.fragments.insert(name, None);
                let shape = self.set(&definition.node.selection_set.node, depth + 1)?;
                self.fragments.insert(name, Some(shape));
                shape
            }
        };
        if depth + shape.height > MAX_NESTING {
            return Err(Excess::Nesting);
        }
        Ok(Some(shape))
    }

    fn directives(&self, directives: &[Positioned<Directive>], at: Pos) -> Result<(), Excess> {
        if directives.len() > self.max_directives {
            return Err(Excess::Directives {
                count: directives.len(),
                at,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    fn selections(query: &str) -> Result<usize, Excess> {
        measure(&parse_query(query).expect("parses"), 10)
    }

    #[test]
    fn duplicates_and_fragment_uses_each_count() {
        assert_eq!(selections("{ a b { c } }"), Ok(3));
        assert_eq!(selections("{ a a a }"), Ok(3), "duplicates without aliases");
        assert_eq!(
            selections("{ ...F ...F } fragment F on Query { a b }"),
            Ok(6),
            "two spreads of two fields"
        );
        assert_eq!(selections("{ ... on Query { a } }"), Ok(2));
        assert_eq!(selections("query A { a } query B { a b }"), Ok(3));
    }

    #[test]
    fn an_exponential_expansion_is_measured_in_linear_time() {
        let mut query = String::from("{ ...F0 }\n");
        for level in 0..40 {
            query.push_str(&format!(
                "fragment F{level} on Query {{ ...F{} ...F{} }}\n",
                level + 1,
                level + 1
            ));
        }
        query.push_str("fragment F40 on Query { a }");
        assert!(selections(&query).unwrap_or(0) > 1 << 40, "about 2^42 selections");
        let mut empty_leaves = String::from("{ ...F0 }\n");
        for level in 0..40 {
            empty_leaves.push_str(&format!(
                "fragment F{level} on Query {{ ...F{} ...F{} }}\n",
                level + 1,
                level + 1
            ));
        }
        assert!(
            selections(&empty_leaves).unwrap_or(0) > 1_000_000,
            "spreads count too"
        );
    }

    #[test]
    fn fragments_that_spread_themselves_are_cycles() {
        assert_eq!(
            selections("{ ...A } fragment A on Query { ...A }"),
            Err(Excess::Cycle("A".to_owned()))
        );
        assert_eq!(
            selections("{ ...A } fragment A on Query { b: __typename ...B } fragment B on Query { ...A }"),
            Err(Excess::Cycle("A".to_owned()))
        );
        assert_eq!(
            selections("{ ...Missing }"),
            Ok(1),
            "validation reports unknown fragments"
        );
    }

    #[test]
    fn nesting_through_fragments_is_bounded() {
        let mut chain = String::from("{ ...F0 }\n");
        for level in 0..100 {
            chain.push_str(&format!("fragment F{level} on Query {{ ...F{} }}\n", level + 1));
        }
        chain.push_str("fragment F100 on Query { a }");
        assert_eq!(selections(&chain), Err(Excess::Nesting));
        let reused_deep = format!(
            "{{ ...Deep a {{ b {{ ...Deep }} }} }} fragment Deep on Query {{ {}x{} }}",
            "x { ".repeat(62),
            " }".repeat(62)
        );
        assert_eq!(
            selections(&reused_deep),
            Err(Excess::Nesting),
            "remembered shapes are checked where reused"
        );
    }

    #[test]
    fn directives_on_one_place_are_bounded() {
        let many = "@include(if: true) ".repeat(11);
        for query in [
            format!("{{ a {many} }}"),
            format!("{{ ...F {many} }} fragment F on Query {{ a }}"),
            format!("{{ ... on Query {many} {{ a }} }}"),
            format!("query {many} {{ a }}"),
            format!("{{ ...F }} fragment F on Query {many} {{ a }}"),
        ] {
            assert!(
                matches!(selections(&query), Err(Excess::Directives { count: 11, .. })),
                "{query}"
            );
        }
        assert_eq!(
            selections(&format!("{{ a {} }}", "@include(if: true) ".repeat(10))),
            Ok(1)
        );
    }
}
