//! The HTTP surface: `POST /events`, `GET|POST /graphql` (GraphiQL on GET), `GET /healthz`, and the web UI at `/`.

use std::sync::Arc;

use async_graphql::http::GraphiQLSource;
use async_graphql_poem::GraphQL;
use poem::http::StatusCode;
use poem::web::{Data, Html, Json};
use poem::{EndpointExt, IntoResponse, Request, Response, Route, get, handler, post};
use serde_json::json;

use crate::api::build_schema;
use crate::ingest::{Ingestor, decode_http};
use crate::store::GraphStore;
use crate::ui::UiConfig;

/// Largest request body `POST /events` accepts.
pub const MAX_EVENTS_BODY_BYTES: usize = 64 * 1024 * 1024;

/// The application routes over a store, with default ingestion (no sensemaker, unknown event types refused).
pub fn app(store: Arc<dyn GraphStore>) -> impl poem::Endpoint {
    app_with(Arc::new(Ingestor::new(store)))
}

/// The application routes; events are ingested by `ingestor`.
pub fn app_with(ingestor: Arc<Ingestor>) -> impl poem::Endpoint {
    app_with_ui(ingestor, UiConfig::default())
}

/// The application routes with UI settings.
pub fn app_with_ui(ingestor: Arc<Ingestor>, ui_config: UiConfig) -> impl poem::Endpoint {
    let store = ingestor.store().clone();
    let schema = build_schema(store.clone());
    let ui = crate::ui::routes(schema.clone(), ingestor.live().clone(), ui_config);
    Route::new()
        .nest("/", ui)
        .at("/events", post(post_events))
        .at("/graphql", get(graphiql).post(GraphQL::new(schema)))
        .at("/healthz", get(healthz))
        .data(store)
        .data(ingestor)
}

#[handler]
fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
}

#[handler]
async fn healthz(store: Data<&Arc<dyn GraphStore>>) -> Response {
    match store.counts().await {
        Ok(counts) => Json(json!({ "status": "ok", "counts": counts })).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

/// Accepts CloudEvents (our facts, Tekton's controller events, CDEvents): structured, binary or batch mode. All or
/// nothing: a bad event fails the request with 400 and the reason, and nothing of it is written.
#[handler]
async fn post_events(req: &Request, body: poem::Body, ingestor: Data<&Arc<Ingestor>>) -> Response {
    let bytes = match body.into_bytes_limit(MAX_EVENTS_BODY_BYTES).await {
        Ok(b) => b.to_vec(),
        Err(e) => {
            return (StatusCode::BAD_REQUEST, format!("cannot read body: {e}")).into_response();
        }
    };
    let decoded = match decode_http(req.headers(), bytes, ingestor.options()) {
        Ok(decoded) => decoded,
        Err(e) => {
            tracing::warn!(error = %e, "refused events");
            return (StatusCode::BAD_REQUEST, e.to_string()).into_response();
        }
    };
    let unknown = decoded.ignored;
    match ingestor.apply(&decoded.facts).await {
        Ok(report) => (
            StatusCode::ACCEPTED,
            Json(json!({
                "received": report.received,
                "applied": report.applied,
                "ignored": report.ignored,
                "ignoredUnknown": unknown,
                "emitted": report.emitted,
            })),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "store failed to apply events");
            (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response()
        }
    }
}
