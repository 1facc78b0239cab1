//! The HTTP surface: `POST /events` (CloudEvents in structured or binary mode, and Harbor webhooks — also at
//! `POST /webhooks/harbor`), `POST /graphql` ([`crate::api`]), `GET /deliveries` (the delivery history),
//! `GET /metrics` (Prometheus, [`crate::metrics`]) and `GET /healthz`.
//!
//! Authentication: bearer tokens from a token file (the format graph-service reads). Posting events needs the
//! `ingester` role, reading the history and GraphQL `viewer` (some mutations more: see [`crate::api`]); `admin` may
//! do all. Every write and every denied request
//! writes an audit line. Without a token file the notifier only serves on loopback, or with `--insecure-no-auth`.

use std::sync::Arc;
use std::time::Duration;

use poem::http::StatusCode;
use poem::web::{Data, Json, Query};
use poem::{Endpoint, EndpointExt, IntoResponse, Middleware, Request, Response, Route, get, handler, post};
use serde::Deserialize;
use serde_json::json;
use tekton_graph_access::{AuditRecord, Role, StaticTokens};

use crate::Notifier;
use crate::api::Caller;
use crate::event::decode_http;
use crate::outbox::HistoryFilter;

/// Largest event body accepted (Harbor and CloudEvents payloads are a few KB).
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;
/// Longest a request may take, recording included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How callers authenticate here, in audit lines (graph-service's name for the same method).
const STATIC_TOKEN: &str = "staticToken";
/// Most history rows one request returns.
pub const MAX_HISTORY_ROWS: u32 = 500;
/// Largest GraphQL request body.
pub const MAX_GRAPHQL_BYTES: usize = 64 * 1024;

/// Who may call: token holders, or anyone (loopback, `--insecure-no-auth`: the reason is shown on `/healthz`).
#[derive(Clone)]
pub enum Access {
    Tokens(Arc<StaticTokens>),
    Open { reason: String },
}

pub fn routes(notifier: Arc<Notifier>, access: Access) -> impl Endpoint {
    let schema = crate::api::schema(notifier.clone());
    let metrics = tekton_graph_telemetry::metrics::endpoint(notifier.metrics().registry().clone());
    let health = match &access {
        Access::Tokens(_) => "on".to_string(),
        Access::Open { reason } => format!("off ({reason})"),
    };
    Route::new()
        .at("/events", post(post_event))
        .at("/webhooks/harbor", post(post_event))
        .at("/deliveries", get(deliveries))
        .at("/graphql", post(graphql))
        .at("/healthz", get(healthz))
        .at("/metrics", get(metrics))
        .data(notifier)
        .data(schema)
        .data(Health(health))
        .with(RequireToken(access))
}

#[derive(Clone)]
struct Health(String);

#[handler]
fn healthz(health: Data<&Health>) -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "auth": health.0.0 }))
}

#[handler]
async fn post_event(req: &Request, body: poem::Body, notifier: Data<&Arc<Notifier>>) -> Response {
    let bytes = match body.into_bytes_limit(MAX_EVENT_BYTES).await {
        Ok(bytes) => bytes,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("cannot read body: {e}")).into_response(),
    };
    let event = match decode_http(req.headers(), &bytes) {
        Ok(event) => event,
        Err(e) => {
            tracing::warn!(error = %e, "refused an event");
            notifier.metrics().refused("http", "rejected");
            return (StatusCode::BAD_REQUEST, e.to_string()).into_response();
        }
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, notifier.accept(&event)).await {
        Ok(Ok(recorded)) => {
            notifier.metrics().accepted("http", &recorded);
            (
                StatusCode::ACCEPTED,
                Json(json!({
                    "id": event.id,
                    "type": event.ty,
                    "duplicate": recorded.duplicate,
                    "queued": recorded.queued,
                    "silenced": recorded.silenced,
                    "deduplicated": recorded.deduplicated,
                    "grouped": recorded.grouped,
                })),
            )
                .into_response()
        }
        Ok(Err(crate::AcceptError::Render(e))) => {
            tracing::error!(event = %event.id, error = %e, "a rule cannot render this event");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("event `{}` not accepted: {e}", event.id)).into_response()
        }
        Ok(Err(e)) => {
            tracing::error!(event = %event.id, error = %e, "cannot record an event");
            (StatusCode::SERVICE_UNAVAILABLE, format!("event `{}` not accepted: {e}", event.id)).into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "recording the event took too long; retry").into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct HistoryQuery {
    trigger: Option<String>,
    channel: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
}

#[handler]
async fn deliveries(Query(query): Query<HistoryQuery>, notifier: Data<&Arc<Notifier>>) -> Response {
    if let Some(status) = &query.status
        && !["pending", "sent", "dead", "silenced"].contains(&status.as_str())
    {
        return (StatusCode::BAD_REQUEST, format!("unknown status `{status}` (pending, sent, dead, silenced)"))
            .into_response();
    }
    let filter = HistoryFilter {
        event_id: None,
        trigger: query.trigger,
        channel: query.channel,
        status: query.status,
        limit: query.limit.unwrap_or(100).clamp(1, MAX_HISTORY_ROWS),
    };
    match notifier.outbox().history(filter).await {
        Ok(rows) => Json(json!({ "deliveries": rows })).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

#[handler]
async fn graphql(req: &Request, body: poem::Body, schema: Data<&crate::api::ApiSchema>) -> Response {
    let bytes = match body.into_bytes_limit(MAX_GRAPHQL_BYTES).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return (StatusCode::PAYLOAD_TOO_LARGE, format!("GraphQL request over {MAX_GRAPHQL_BYTES} bytes: {e}"))
                .into_response();
        }
    };
    let request: async_graphql::Request = match serde_json::from_slice(&bytes) {
        Ok(request) => request,
        Err(e) => {
            let reason = format!("not a GraphQL request (JSON with `query`): {e}");
            return (StatusCode::BAD_REQUEST, reason).into_response();
        }
    };
    let caller = req.extensions().get::<Caller>().cloned().unwrap_or(Caller { subject: None, roles: vec![] });
    match tokio::time::timeout(REQUEST_TIMEOUT, schema.execute(request.data(caller))).await {
        Ok(response) => Json(response).into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the GraphQL request took too long").into_response(),
    }
}

/// The role a route needs; `None`: open (health).
fn required_role(req: &Request) -> Option<Role> {
    match req.uri().path() {
        "/healthz" => None,
        "/deliveries" | "/graphql" | "/metrics" => Some(Role::Viewer),
        _ => Some(Role::Ingester),
    }
}

struct RequireToken(Access);

impl<E: Endpoint> Middleware<E> for RequireToken {
    type Output = RequireTokenEndpoint<E>;
    fn transform(&self, inner: E) -> Self::Output {
        RequireTokenEndpoint { inner, access: self.0.clone() }
    }
}

struct RequireTokenEndpoint<E> {
    inner: E,
    access: Access,
}

fn remote(req: &Request) -> String {
    req.remote_addr().as_socket_addr().map(|a| a.to_string()).unwrap_or_default()
}

impl<E: Endpoint> Endpoint for RequireTokenEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let (Access::Tokens(tokens), Some(role)) = (&self.access, required_role(&req)) else {
            // Open access (loopback, --insecure-no-auth): the caller may do everything, as on the other routes.
            let mut req = req;
            req.extensions_mut().insert(Caller { subject: None, roles: vec![Role::Admin] });
            return self.inner.call(req).await.map(IntoResponse::into_response);
        };
        let action = format!("{} {}", req.method(), req.uri().path());
        let presented = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
        let entry = presented.and_then(|token| tokens.find(token));
        let denial = match entry {
            None => Some((
                StatusCode::UNAUTHORIZED,
                "authentication required: send `Authorization: Bearer <token>`".to_string(),
                if presented.is_some() { "unknown static token" } else { "no bearer token" }.to_string(),
            )),
            Some(entry) if !(entry.roles.contains(&role) || entry.roles.contains(&Role::Admin)) => Some((
                StatusCode::FORBIDDEN,
                format!("forbidden: this needs the `{role}` role"),
                format!("needs role {role}; has {:?}", entry.roles),
            )),
            Some(_) => None,
        };
        if let Some((status, message, reason)) = denial {
            let subject = entry.map(|e| e.subject.as_str());
            AuditRecord::denied(subject, entry.map(|_| STATIC_TOKEN), action, remote(&req), status.as_u16(), reason)
                .emit();
            let mut response = Response::builder().status(status).body(message);
            if status == StatusCode::UNAUTHORIZED {
                response.headers_mut().insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
            }
            return Ok(response);
        }
        let subject = entry.map(|e| e.subject.clone());
        let from = remote(&req);
        let mut req = req;
        if let Some(entry) = entry {
            req.extensions_mut()
                .insert(Caller { subject: Some(entry.subject.clone()), roles: entry.roles.iter().copied().collect() });
        }
        let write = req.method() == http::Method::POST;
        let response = self.inner.call(req).await.map(IntoResponse::into_response);
        if write {
            let status = match &response {
                Ok(r) => r.status(),
                Err(e) => e.status(),
            };
            AuditRecord::allowed(subject.as_deref(), Some(STATIC_TOKEN), action, from, status.as_u16()).emit();
        }
        response
    }
}
