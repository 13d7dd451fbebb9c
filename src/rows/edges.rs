//! The edges of a row page, written straight into the response when the query asks only
//! for plain fields of an edge and its row (`cursor`, `node { id values version createdAt
//! updatedAt }`, `__typename`): the common grid query. The list is written as JSON text
//! in one pass and goes into the response as a raw value; async-graphql would otherwise
//! build a context, a boxed future and a value map per field of every row, and serialise
//! them afterwards, most of the cost of a large page. Anything else (fragments, directives, related objects such as `cycle`)
//! goes through async-graphql as usual.

use std::borrow::Cow;

use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::resolver_utils::resolve_list;
use async_graphql::{ContextSelectionSet, ID, Name, OutputType, Positioned, ScalarType, ServerResult, Value};

use super::graphql::{DataRowEdge, StoredJson};
use super::service;
use crate::error::AppError;

/// A page's edges: GraphQL type `[DataRowEdge!]!`.
pub struct RowEdges(pub Vec<DataRowEdge>);

/// A plain field of an edge.
enum EdgeField {
    Typename,
    Cursor,
    Node(Vec<(Name, RowField)>),
}

/// A plain field of a row.
#[derive(Clone, Copy)]
enum RowField {
    Typename,
    Id,
    Values,
    Version,
    CreatedAt,
    UpdatedAt,
}

/// The DataRow fields this writer answers by itself: every argument-less scalar field of
/// the type but `computedWith`, which reads more than the row (a test holds this list to
/// the served schema, so a field added to DataRow is written here too or the test says so).
const ROW_FIELDS: &[(&str, RowField)] = &[
    ("__typename", RowField::Typename),
    ("id", RowField::Id),
    ("values", RowField::Values),
    ("version", RowField::Version),
    ("createdAt", RowField::CreatedAt),
    ("updatedAt", RowField::UpdatedAt),
];

impl OutputType for RowEdges {
    fn type_name() -> Cow<'static, str> {
        <Vec<DataRowEdge> as OutputType>::type_name()
    }

    fn qualified_type_name() -> String {
        <Vec<DataRowEdge> as OutputType>::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <Vec<DataRowEdge> as OutputType>::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        match edge_plan(&ctx.item.node) {
            Some(plan) => write_edges(&self.0, &plan).map_err(|err| {
                async_graphql::Error::from(AppError::internal(anyhow::anyhow!("cannot write rows: {err}")))
                    .into_server_error(field.pos)
            }),
            None => resolve_list(ctx, field, &self.0, Some(self.0.len())).await,
        }
    }
}

/// The response keys and fields of an edge selection, if it holds only plain fields.
fn edge_plan(set: &SelectionSet) -> Option<Vec<(Name, EdgeField)>> {
    plain_fields(set, |field| match field.name.node.as_str() {
        "__typename" => Some(EdgeField::Typename),
        "cursor" => Some(EdgeField::Cursor),
        "node" => row_plan(&field.selection_set.node).map(EdgeField::Node),
        _ => None,
    })
}

fn row_plan(set: &SelectionSet) -> Option<Vec<(Name, RowField)>> {
    plain_fields(set, |field| {
        ROW_FIELDS
            .iter()
            .find(|(name, _)| *name == field.name.node.as_str())
            .map(|(_, known)| *known)
    })
}

/// Each selection as (response key, what `known` makes of it); None when a selection is a
/// fragment, carries arguments or directives, repeats a response key, or is not known.
fn plain_fields<T>(set: &SelectionSet, known: impl Fn(&Field) -> Option<T>) -> Option<Vec<(Name, T)>> {
    let mut plan: Vec<(Name, T)> = Vec::with_capacity(set.items.len());
    for selection in &set.items {
        let Selection::Field(field) = &selection.node else {
            return None;
        };
        let field = &field.node;
        if !field.directives.is_empty() || !field.arguments.is_empty() {
            return None;
        }
        let key = field.response_key().node.clone();
        if plan.iter().any(|(seen, _)| *seen == key) {
            return None;
        }
        plan.push((key, known(field)?));
    }
    Some(plan)
}

/// The whole list as JSON text, written in one pass and handed on as a raw value.
fn write_edges(edges: &[DataRowEdge], plan: &[(Name, EdgeField)]) -> serde_json::Result<Value> {
    let mut out = Vec::with_capacity(edges.iter().map(|e| e.node.record().cells.len() + 160).sum());
    out.push(b'[');
    for (index, edge) in edges.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_edge(&mut out, edge, plan)?;
    }
    out.push(b']');
    // Only JSON was written: escaped strings, numbers and stored JSON values.
    let text = String::from_utf8(out).map_err(|err| serde_json::Error::io(std::io::Error::other(err)))?;
    Ok(StoredJson::raw(text))
}

fn write_edge(out: &mut Vec<u8>, edge: &DataRowEdge, plan: &[(Name, EdgeField)]) -> serde_json::Result<()> {
    out.push(b'{');
    for (index, (key, field)) in plan.iter().enumerate() {
        write_key(out, index, key)?;
        match field {
            EdgeField::Typename => serde_json::to_writer(&mut *out, "DataRowEdge")?,
            EdgeField::Cursor => {
                let cursor = service::cursor_of(edge.node.record(), &edge.order).encode();
                serde_json::to_writer(&mut *out, &cursor)?;
            }
            EdgeField::Node(row) => write_row(out, edge, row)?,
        }
    }
    out.push(b'}');
    Ok(())
}

fn write_row(out: &mut Vec<u8>, edge: &DataRowEdge, plan: &[(Name, RowField)]) -> serde_json::Result<()> {
    let record = edge.node.record();
    out.push(b'{');
    for (index, (key, field)) in plan.iter().enumerate() {
        write_key(out, index, key)?;
        match field {
            RowField::Typename => serde_json::to_writer(&mut *out, "DataRow")?,
            RowField::Id => serde_json::to_writer(&mut *out, &ID(record.id.to_string()).to_value())?,
            RowField::Values => out.extend_from_slice(record.cells.as_bytes()),
            RowField::Version => serde_json::to_writer(&mut *out, &record.version)?,
            RowField::CreatedAt => serde_json::to_writer(&mut *out, &record.created_at.to_value())?,
            RowField::UpdatedAt => serde_json::to_writer(&mut *out, &record.updated_at.to_value())?,
        }
    }
    out.push(b'}');
    Ok(())
}

fn write_key(out: &mut Vec<u8>, index: usize, key: &Name) -> serde_json::Result<()> {
    if index > 0 {
        out.push(b',');
    }
    serde_json::to_writer(&mut *out, key.as_str())?;
    out.push(b':');
    Ok(())
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;
    use async_graphql::parser::types::{DocumentOperations, Selection};

    use super::*;

    /// The selection set of `edges` in `{ edges { ... } }`.
    fn edges_selection(query: &str) -> SelectionSet {
        let document = parse_query(query).expect("query parses");
        let DocumentOperations::Single(operation) = document.operations else {
            panic!("one operation");
        };
        let Selection::Field(edges) = &operation.node.selection_set.node.items[0].node else {
            panic!("a field");
        };
        edges.node.selection_set.node.clone()
    }

    #[test]
    fn the_writer_answers_every_scalar_field_of_a_row_and_of_its_edge() {
        let mut written: Vec<&str> = ROW_FIELDS
            .iter()
            .map(|(name, _)| *name)
            .filter(|n| *n != "__typename")
            .collect();
        written.sort_unstable();
        // computedWith reads the table's formulas and factors: asked for, the page goes
        // through async-graphql.
        let plain: Vec<String> = crate::graphql::leaf_fields("DataRow")
            .into_iter()
            .filter(|field| field != "computedWith")
            .collect();
        assert_eq!(written, plain);
        assert_eq!(crate::graphql::leaf_fields("DataRowEdge"), ["cursor"]);
    }

    #[test]
    fn plain_fields_are_written_directly_and_anything_else_is_not() {
        let plain = edges_selection(
            "{ edges { cursor c: cursor node { id values version createdAt updatedAt __typename } } }",
        );
        let plan = edge_plan(&plain).expect("a plain selection has a plan");
        assert_eq!(plan.len(), 3);
        for query in [
            "{ edges { node { id cycle { name } } } }",
            "{ edges { node { id createdBy { name } } } }",
            "{ edges { node { id @include(if: true) } } }",
            "{ edges { ... on DataRowEdge { cursor } } }",
            "{ edges { node { ...F } } }",
            "{ edges { node { id } node { values } } }",
        ] {
            assert!(edge_plan(&edges_selection(query)).is_none(), "{query}");
        }
    }
}
