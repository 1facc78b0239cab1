//! The HTTP edge: what every request passes before a handler runs — a deadline, a concurrency limit answered with
//! 503 and `Retry-After` when full, panics caught and answered 500 — and the GraphQL endpoint's own limits (body
//! size, batch size, depth, complexity with `first` counted, aliases, a query deadline, introspection).

mod graphql;
mod limits;

pub use graphql::{AliasLimit, GraphqlLimits, graphql_endpoint};
pub use limits::{EdgeLimits, Limited};

/// Every limit of the edge, with defaults that fit the web UI's own queries with room to spare.
#[derive(Debug, Clone, Default)]
pub struct EdgeConfig {
    pub http: EdgeLimits,
    pub graphql: GraphqlLimits,
}

/// `Retry-After` seconds sent with a 503 when the server is full.
pub const RETRY_AFTER_SECONDS: u64 = 1;
