//! Turns a service [`Page`] into a Relay connection with `totalCount`.

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{OutputType, SimpleObject};

use crate::pagination::{Cursor, Page};

/// Extra fields on every connection.
#[derive(SimpleObject)]
pub struct ConnectionTotals {
    /// Rows in the whole filtered list, not just this page.
    pub total_count: i32,
}

/// A connection of `N` nodes, named after the node type (e.g. `MembershipConnection`).
pub type PageConnection<N> = Connection<String, N, ConnectionTotals, EmptyFields>;

/// Builds the connection for `page`; `had_cursor` tells whether a previous page exists.
pub fn connection<T, N: OutputType>(
    page: Page<T>,
    had_cursor: bool,
    cursor_of: impl Fn(&T) -> Cursor,
    node: impl Fn(T) -> N,
) -> PageConnection<N> {
    let total_count = i32::try_from(page.total).unwrap_or(i32::MAX);
    let mut connection =
        Connection::with_additional_fields(had_cursor, page.has_next, ConnectionTotals { total_count });
    connection.edges.extend(page.items.into_iter().map(|item| {
        let cursor = cursor_of(&item).encode();
        Edge::new(cursor, node(item))
    }));
    connection
}

/// Query cost of a connection field: `first` (default 20, at most 100) times its children.
pub fn page_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let first = first.map_or(20, |n| n.clamp(0, 100));
    usize::try_from(first)
        .unwrap_or(0)
        .saturating_mul(child_complexity)
        .saturating_add(1)
}
