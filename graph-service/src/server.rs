//! The HTTP surface: `POST /events`, `GET|POST /graphql` (GraphiQL on GET), `GET /healthz` (liveness), `GET /readyz`
//! (the store answers), `GET /metrics` (Prometheus, [`crate::metrics`]), and the web UI at `/` — behind the edge limits ([`crate::edge`]) and authentication
//! ([`crate::auth`]).

use std::sync::Arc;

use async_graphql::http::GraphiQLSource;
use poem::http::StatusCode;
use poem::web::{Data, Html, Json};
use poem::{EndpointExt, IntoResponse, Request, Response, Route, get, handler, post};
use serde_json::json;

use crate::api::{SchemaOptions, build_schema_with};
use crate::auth::{Authenticator, LoginConfig, RequireAuth, Sessions, login};
use crate::edge::{EdgeConfig, Limited, graphql_endpoint};
use crate::ingest::{Ingestor, decode_http};
use crate::metrics::{IngestSource, Outcome};
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

/// The application routes with UI settings (edge limits at their defaults, authentication off).
pub fn app_with_ui(ingestor: Arc<Ingestor>, ui_config: UiConfig) -> impl poem::Endpoint {
    app_with_config(ingestor, AppConfig { ui: ui_config, ..AppConfig::default() })
}

/// How the HTTP surface is set up.
#[derive(Clone, Default)]
pub struct AppConfig {
    pub ui: UiConfig,
    pub edge: EdgeConfig,
    /// `None`: authentication is off (demo, loopback, or `--insecure-no-auth`).
    pub authenticator: Option<Arc<Authenticator>>,
    /// Why authentication is off, shown on `/healthz` (e.g. "insecure-no-auth").
    pub auth_off_reason: Option<String>,
    /// The web UI's sign-in (OIDC authorization code + PKCE), when configured.
    pub login: Option<LoginConfig>,
}

/// The application routes, behind the edge limits and authentication.
pub fn app_with_config(ingestor: Arc<Ingestor>, config: AppConfig) -> impl poem::Endpoint {
    let store = ingestor.store().clone();
    let metrics = ingestor.metrics().clone();
    let limits = &config.edge.graphql;
    let schema = build_schema_with(store.clone(), &SchemaOptions::from(limits));
    let ui = crate::ui::routes(schema.clone(), store.clone(), ingestor.live().clone(), config.ui.clone());
    let graphiql_on = limits.graphiql;
    let health = Health {
        auth: match (&config.authenticator, &config.auth_off_reason) {
            (Some(_), _) => "on".into(),
            (None, Some(reason)) => format!("off ({reason})"),
            (None, None) => "off".into(),
        },
    };
    let sessions = match (&config.authenticator, &config.login) {
        (Some(_), Some(login)) => Some(Arc::new(Sessions::new(login.clone()))),
        _ => None,
    };
    let mut routes = Route::new();
    if let (Some(sessions), Some(authenticator)) = (&sessions, &config.authenticator) {
        let auth = Route::new()
            .at("/login", get(login::login))
            .at("/callback", get(login::callback))
            .at("/logout", post(login::logout))
            .at("/signed-out", get(login::signed_out))
            .data(sessions.clone())
            .data(authenticator.clone());
        routes = routes.nest("/auth", auth);
    }
    routes
        .nest("/", ui)
        .at("/events", post(post_events))
        .at("/graphql", get(graphiql).post(graphql_endpoint(schema, store.clone(), limits.clone(), metrics.clone())))
        .at("/metrics", get(tekton_graph_telemetry::metrics::endpoint(metrics.registry().clone())))
        .at("/emit/outbox", get(emit_outbox))
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .data(store)
        .data(ingestor)
        .data(health)
        .data(GraphiqlOn(graphiql_on))
        .with(RequireAuth::new(config.authenticator.clone(), sessions))
        .with(Limited::new(config.edge.http.clone()))
}

#[derive(Clone)]
struct Health {
    auth: String,
}

#[derive(Clone, Copy)]
struct GraphiqlOn(bool);

#[handler]
fn graphiql(on: Data<&GraphiqlOn>) -> Response {
    if !on.0.0 {
        return (StatusCode::NOT_FOUND, "GraphiQL is turned off (--graphiql=false)").into_response();
    }
    Html(GraphiQLSource::build().endpoint("/graphql").finish()).into_response()
}

/// Liveness: cheap, no store call.
#[handler]
fn healthz(health: Data<&Health>) -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "auth": health.auth }))
}

/// Most dead events `GET /emit/outbox` lists per sink.
const MAX_DEAD_LISTED: usize = 1000;

#[derive(serde::Deserialize)]
struct OutboxQuery {
    limit: Option<usize>,
}

/// The emission outbox (admin): how much waits, and per sink the newest events it refused for good, with the
/// receiver's answer — what an operator replays or drops.
#[handler]
async fn emit_outbox(ingestor: Data<&Arc<Ingestor>>, query: poem::web::Query<OutboxQuery>) -> Response {
    let Some(sensemaker) = ingestor.sensemaker() else {
        return (StatusCode::NOT_FOUND, "emission is off (no --emit)").into_response();
    };
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_DEAD_LISTED).contains(&limit) {
        return (StatusCode::BAD_REQUEST, format!("`limit` must be 1–{MAX_DEAD_LISTED}, not {limit}")).into_response();
    }
    let sinks = sensemaker.sinks().to_vec();
    let read = sensemaker
        .outbox()
        .blocking(move |outbox| {
            let counts = outbox.counts()?;
            let dead = sinks
                .iter()
                .map(|sink| outbox.dead_newest(sink, limit).map(|events| json!({ "sink": sink, "dead": events })))
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, crate::sensemaker::outbox::OutboxError>(json!({
                "intents": counts.intents, "pending": counts.pending, "dead": counts.dead, "sinks": dead,
            }))
        })
        .await;
    match read {
        Ok(body) => Json(body).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

/// Readiness: the store answers a read.
#[handler]
async fn readyz(store: Data<&Arc<dyn GraphStore>>) -> Response {
    match store.existing(&[crate::model::NodeId("readyz:probe".into())]).await {
        Ok(_) => Json(json!({ "status": "ready" })).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("the store does not answer: {e}")).into_response(),
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
            ingestor.metrics().events(IngestSource::Http, Outcome::Rejected, 1);
            return (StatusCode::BAD_REQUEST, e.to_string()).into_response();
        }
    };
    let unknown = decoded.ignored;
    ingestor.metrics().events(IngestSource::Http, Outcome::UnknownType, unknown);
    match ingestor.apply_from(IngestSource::Http, &decoded.facts, &decoded.traces).await {
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
