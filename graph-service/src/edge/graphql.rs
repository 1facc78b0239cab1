//! `POST /graphql` with limits: body size, batch size, a deadline per request, and — in the schema — depth,
//! complexity (a list's `first` multiplies what it selects) and aliases. A refusal is a GraphQL error naming the
//! limit, with a 4xx status where the request itself is at fault.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{BatchRequest, ServerError, ServerResult, Variables};
use poem::http::StatusCode;
use poem::web::Json;
use poem::{Endpoint, IntoResponse, Request, Response};
use serde_json::json;

use crate::api::{CallerReads, GraphSchema};
use crate::auth::Principal;
use crate::metrics::ServiceMetrics;
use crate::store::GraphStore;
use tekton_graph_telemetry::trace;
use tracing::Instrument;

/// Limits of the GraphQL endpoint (the schema's own limits are set from the same values by
/// [`crate::api::SchemaOptions`]).
#[derive(Debug, Clone)]
pub struct GraphqlLimits {
    pub max_body_bytes: usize,
    /// Operations in one batch (a JSON array of requests).
    pub max_batch: usize,
    pub max_depth: usize,
    /// Each field costs 1; a list field costs `first` times what it selects.
    pub max_complexity: usize,
    pub max_aliases: usize,
    pub timeout: Duration,
    pub introspection: bool,
    pub graphiql: bool,
}

impl Default for GraphqlLimits {
    fn default() -> Self {
        GraphqlLimits {
            max_body_bytes: 256 * 1024,
            max_batch: 10,
            max_depth: 16,
            max_complexity: 10_000,
            max_aliases: 32,
            timeout: Duration::from_secs(10),
            introspection: true,
            graphiql: true,
        }
    }
}

/// The endpoint over a schema built with the same limits; `store` is the schema's store, which a scoped caller
/// reads through their scope. Each request's time goes to `metrics`, by operation name.
pub fn graphql_endpoint(
    schema: GraphSchema,
    store: Arc<dyn GraphStore>,
    limits: GraphqlLimits,
    metrics: Arc<ServiceMetrics>,
) -> GraphqlEndpoint {
    GraphqlEndpoint { schema, store, limits: Arc::new(limits), metrics }
}

pub struct GraphqlEndpoint {
    schema: GraphSchema,
    store: Arc<dyn GraphStore>,
    limits: Arc<GraphqlLimits>,
    metrics: Arc<ServiceMetrics>,
}

/// Adds the caller, and what they may read, to a GraphQL request (see [`CallerReads`]).
pub fn for_caller(batch: BatchRequest, caller: Option<Arc<Principal>>, store: &Arc<dyn GraphStore>) -> BatchRequest {
    let Some(caller) = caller else { return batch };
    let reads = CallerReads::of(store, caller.scope.visibility());
    let batch = batch.data(caller);
    match reads {
        Some(reads) => reads.batch(batch),
        None => batch,
    }
}

fn refuse(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "errors": [{ "message": message }] }))).into_response()
}

impl Endpoint for GraphqlEndpoint {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let limits = &self.limits;
        let extensions = req.extensions().clone();
        let traceparent = req.headers().get("traceparent").and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = req.into_body();
        let bytes = match body.into_bytes_limit(limits.max_body_bytes).await {
            Ok(bytes) => bytes,
            Err(poem::error::ReadBodyError::PayloadTooLarge) => {
                let max = limits.max_body_bytes;
                return Ok(refuse(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body is larger than {max} bytes"),
                ));
            }
            Err(e) => return Ok(refuse(StatusCode::BAD_REQUEST, format!("cannot read the request body: {e}"))),
        };
        let not_graphql =
            |e: serde_json::Error| refuse(StatusCode::BAD_REQUEST, format!("the body is not a GraphQL request: {e}"));
        let batch = match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Err(e) => return Ok(not_graphql(e)),
            Ok(serde_json::Value::Array(items)) => {
                if items.is_empty() || items.len() > limits.max_batch {
                    let (n, max) = (items.len(), limits.max_batch);
                    let message = format!("the batch holds {n} operations; from 1 to {max} are allowed");
                    return Ok(refuse(StatusCode::BAD_REQUEST, message));
                }
                let requests = items.into_iter().map(serde_json::from_value).collect::<Result<Vec<_>, _>>();
                match requests {
                    Ok(requests) => BatchRequest::Batch(requests),
                    Err(e) => return Ok(not_graphql(e)),
                }
            }
            Ok(single) => match serde_json::from_value(single) {
                Ok(request) => BatchRequest::Single(request),
                Err(e) => return Ok(not_graphql(e)),
            },
        };
        let operations: Vec<Option<String>> = match &batch {
            BatchRequest::Single(request) => vec![request.operation_name.clone()],
            BatchRequest::Batch(requests) => requests.iter().map(|r| r.operation_name.clone()).collect(),
        };
        let batch = for_caller(batch, crate::auth::caller(&extensions), &self.store);
        let operation = match operations.as_slice() {
            [one] => one.as_deref().unwrap_or("anonymous"),
            _ => "batch",
        };
        let span = tracing::info_span!("graphql", otel.kind = "server", operation = %operation);
        if let Some(traceparent) = &traceparent {
            trace::continue_from(&span, traceparent);
        }
        let started = std::time::Instant::now();
        let executed = tokio::time::timeout(limits.timeout, self.schema.execute_batch(batch)).instrument(span).await;
        let names: Vec<Option<&str>> = operations.iter().map(Option::as_deref).collect();
        self.metrics.graphql(&names, started.elapsed());
        match executed {
            Ok(response) => Ok(Json(response).into_response()),
            Err(_) => {
                tracing::warn!(timeout = ?limits.timeout, "a GraphQL request timed out");
                Ok(refuse(StatusCode::SERVICE_UNAVAILABLE, format!("the query took longer than {:?}", limits.timeout)))
            }
        }
    }
}

/// Refuses documents with more aliased fields than the limit: aliases let one small query ask for the same
/// expensive list many times.
pub struct AliasLimit(pub usize);

impl ExtensionFactory for AliasLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AliasLimitExtension(self.0))
    }
}

struct AliasLimitExtension(usize);

#[async_trait::async_trait]
impl Extension for AliasLimitExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let mut aliases = 0;
        for (_, operation) in document.operations.iter() {
            aliases += count_aliases(&operation.node.selection_set.node);
        }
        for fragment in document.fragments.values() {
            aliases += count_aliases(&fragment.node.selection_set.node);
        }
        if aliases > self.0 {
            return Err(ServerError::new(
                format!("the query uses {aliases} aliases; at most {} are allowed", self.0),
                None,
            ));
        }
        Ok(document)
    }
}

fn count_aliases(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some()) + count_aliases(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => count_aliases(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}
