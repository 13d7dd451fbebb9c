//! Hand-written SQL that is kept as a prepared statement on each connection, as diesel's
//! own queries are. diesel treats every `sql_query` as one-off text, so each run would be
//! parsed and planned by PostgreSQL again and cost an extra round trip to prepare.

use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};

/// A `sql_query` (with its binds) whose text is a constant. Only for fixed text: each
/// distinct text stays prepared on every connection that ran it.
pub struct Prepared<Q>(Q);

/// Marks `query` (built from a `&'static str`) as safe to keep prepared.
pub fn prepared<Q>(query: Q) -> Prepared<Q> {
    Prepared(query)
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Prepared<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q> QueryId for Prepared<Q> {
    type QueryId = ();
    // The statement cache keys on the SQL text instead.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}
