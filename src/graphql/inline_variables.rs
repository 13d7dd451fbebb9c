//! A subscription keeps its operation and its request's variables for as long as it runs,
//! and async-graphql keeps variables in a map whose smallest node is about 1 KB. When a
//! subscription's variables are plain scalar values, writing them into its own copy of the
//! document as literals answers the same and lets the map go.
//!
//! Only documents that already passed full validation with their variables are rewritten
//! (their variables are used only where their declared types are allowed), and only with
//! values of each variable's own declared built-in scalar type, or null for a nullable
//! variable without a default: then every literal stands where its variable was allowed,
//! and the rewritten document is validated again anyway.

use std::collections::HashMap;

use async_graphql::parser::types::{
    BaseType, Directive, DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned, Value, Variables};

use super::document_cache::{of_its_own_kind, only_operation};

/// The values to write in, by variable name.
type Literals = HashMap<Name, Value>;

/// `document`'s only operation, a subscription (named or not), with `variables` written in
/// as literals and no variables declared; None unless the document holds just that,
/// declaring variables whose values are all plain (see [`literal_of`]).
pub fn inline_subscription_variables(
    document: &ExecutableDocument,
    variables: &Variables,
) -> Option<ExecutableDocument> {
    let operation = only_operation(document)?;
    if operation.node.ty != OperationType::Subscription || operation.node.variable_definitions.is_empty() {
        return None;
    }
    let mut literals = Literals::new();
    for definition in &operation.node.variable_definitions {
        let definition = &definition.node;
        let BaseType::Named(type_name) = &definition.var_type.node.base else {
            return None;
        };
        let value = match variables.get(&definition.name.node) {
            Some(Value::Null) if !definition.var_type.node.nullable || definition.default_value.is_some() => {
                return None;
            }
            Some(value) => value,
            None => &definition.default_value.as_ref()?.node,
        };
        literals.insert(definition.name.node.clone(), literal_of(type_name, value)?);
    }
    let mut inlined = document.clone();
    let operation = match &mut inlined.operations {
        DocumentOperations::Single(operation) => operation,
        DocumentOperations::Multiple(operations) => operations.values_mut().next()?,
    };
    operation.node.variable_definitions = Vec::new();
    inline_directives(&mut operation.node.directives, &literals)?;
    inline_selection_set(&mut operation.node.selection_set.node, &literals)?;
    for fragment in inlined.fragments.values_mut() {
        inline_directives(&mut fragment.node.directives, &literals)?;
        inline_selection_set(&mut fragment.node.selection_set.node, &literals)?;
    }
    Some(inlined)
}

/// `value` as a literal of the built-in scalar `type_name`, when it is of that scalar's
/// own JSON kind (or null); None for anything else, which keeps its variable.
fn literal_of(type_name: &Name, value: &Value) -> Option<Value> {
    (*value == Value::Null || of_its_own_kind(type_name, value)).then(|| value.clone())
}

fn inline_selection_set(set: &mut SelectionSet, literals: &Literals) -> Option<()> {
    for selection in &mut set.items {
        match &mut selection.node {
            Selection::Field(field) => {
                for (_, value) in &mut field.node.arguments {
                    inline_value(&mut value.node, literals)?;
                }
                inline_directives(&mut field.node.directives, literals)?;
                inline_selection_set(&mut field.node.selection_set.node, literals)?;
            }
            Selection::FragmentSpread(spread) => inline_directives(&mut spread.node.directives, literals)?,
            Selection::InlineFragment(inline) => {
                inline_directives(&mut inline.node.directives, literals)?;
                inline_selection_set(&mut inline.node.selection_set.node, literals)?;
            }
        }
    }
    Some(())
}

fn inline_directives(directives: &mut [Positioned<Directive>], literals: &Literals) -> Option<()> {
    for directive in directives {
        for (_, value) in &mut directive.node.arguments {
            inline_value(&mut value.node, literals)?;
        }
    }
    Some(())
}

/// Replaces every variable in `value` by its literal; None when one is not declared.
fn inline_value(value: &mut async_graphql_value::Value, literals: &Literals) -> Option<()> {
    use async_graphql_value::Value as Input;
    match value {
        Input::Variable(name) => *value = literals.get(name)?.clone().into_value(),
        Input::List(items) => {
            for item in items {
                inline_value(item, literals)?;
            }
        }
        Input::Object(fields) => {
            for item in fields.values_mut() {
                inline_value(item, literals)?;
            }
        }
        _ => {}
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;
    use serde_json::json;

    fn inline(query: &str, variables: serde_json::Value) -> Option<ExecutableDocument> {
        let document = parse_query(query).expect("parses");
        inline_subscription_variables(&document, &Variables::from_json(variables))
    }

    fn arguments_of_first_field(document: &ExecutableDocument) -> Vec<(String, String)> {
        let operation = only_operation(document).expect("one operation");
        let Selection::Field(field) = &operation.node.selection_set.node.items[0].node else {
            panic!("a field");
        };
        field
            .node
            .arguments
            .iter()
            .map(|(name, value)| (name.node.to_string(), value.node.to_string()))
            .collect()
    }

    #[test]
    fn plain_values_become_literals_everywhere_and_no_variable_is_left() {
        let document = inline(
            "subscription($c: ID!, $a: String, $n: Int = 5, $f: Boolean!) { \
               feed(companyId: $c, after: $a, first: $n, ids: [$c], where: { id: $c }) { \
                 id @include(if: $f) ...More } } \
             fragment More on Event { summary(limit: $n) }",
            json!({ "c": "42", "a": null, "f": true }),
        )
        .expect("inlined");
        let operation = only_operation(&document).expect("one operation");
        assert!(operation.node.variable_definitions.is_empty());
        assert_eq!(
            arguments_of_first_field(&document),
            [
                ("companyId", "\"42\""),
                ("after", "null"),
                ("first", "5"),
                ("ids", "[\"42\"]"),
                ("where", "{id: \"42\"}"),
            ]
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
        );
        let printed = format!("{document:?}");
        assert!(!printed.contains("Variable("), "{printed}");
    }

    #[test]
    fn a_named_subscription_is_written_in_too() {
        let document = inline(
            "subscription Feed($c: ID!) { feed(companyId: $c) { id } }",
            json!({ "c": "42" }),
        )
        .expect("inlined");
        assert_eq!(
            arguments_of_first_field(&document),
            [("companyId".to_owned(), "\"42\"".to_owned())]
        );
    }

    #[test]
    fn anything_but_plain_scalar_values_keeps_its_variables() {
        let with = |declared: &str, value: serde_json::Value| {
            inline(
                &format!("subscription($v: {declared}) {{ feed(v: $v) {{ id }} }}"),
                json!({ "v": value }),
            )
            .is_some()
        };
        assert!(with("ID!", json!("1")));
        assert!(!with("ID!", json!(1)), "a number for an ID");
        assert!(!with("[ID!]", json!(["1"])), "a list");
        assert!(!with("Kind", json!("CREATED")), "an enum");
        assert!(!with("Int", json!(1_i64 << 40)), "an Int beyond 32 bits");
        assert!(!with("ID!", json!(null)), "null for a non-null type");
        assert!(!with("String = \"x\"", json!(null)), "null over a default");
        assert!(
            inline("subscription($v: ID) { feed(v: $v) { id } }", json!({})).is_none(),
            "a missing value without a default"
        );
        assert!(
            inline("query($v: ID!) { feed(v: $v) { id } }", json!({ "v": "1" })).is_none(),
            "not a subscription"
        );
        assert!(
            inline("subscription { feed(v: $v) { id } }", json!({ "v": "1" })).is_none(),
            "no variables declared"
        );
        assert!(
            inline(
                "subscription Feed($v: ID!) { feed(v: $v) { id } } subscription Other { feed { id } }",
                json!({ "v": "1" })
            )
            .is_none(),
            "several operations"
        );
    }
}
