//! The web UI: server-rendered HTML pages (maud), with pictures as inline SVG (`tekton-graph-svg`) and one small
//! script for live updates, keyboard navigation and pan/zoom. Every page reads through the public GraphQL schema,
//! executed in-process, so whatever a page shows an API client can ask for too. All assets are compiled into the
//! binary: no request leaves the machine.
//!
//! Every page is a deep link: filters, tabs, depth and selection live in the URL.

mod diff;
mod format;
mod image;
mod layout;
mod run;
mod runs;
mod search;
mod source;
mod systems;

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Request as GqlRequest, Variables};
use futures::StreamExt;
use maud::Markup;
use poem::http::{StatusCode, header};
use poem::web::sse::{Event, SSE};
use poem::web::{Data, Html};
use poem::{Endpoint, EndpointExt, IntoResponse, Response, Route, get, handler};
use serde_json::Value;

use crate::api::{CallerReads, GraphSchema};
use crate::auth::Principal;
use crate::live::{LiveHub, LiveRun};
use crate::model::NodeId;
use crate::store::GraphStore;

/// The GraphQL queries behind the main pages, for benchmarks that compare a page with the query it runs.
pub mod queries {
    pub use super::diff::QUERY as DIFF;
    pub use super::image::{LINEAGE as IMAGE_LINEAGE, QUERY as IMAGE};
    pub use super::run::QUERY as RUN;
    pub use super::runs::{NEWEST as RUNS_NEWEST, QUERY as RUNS, SUMMARY as RUNS_SUMMARY};
}

/// Settings of the UI.
#[derive(Debug, Clone, Default)]
pub struct UiConfig {
    /// Base URL of a Tekton Dashboard; runs link to their logs there (`#/namespaces/NS/pipelineruns/NAME`).
    pub dashboard_url: Option<String>,
}

/// What every page handler gets: the schema, and what the page's caller may read.
#[derive(Clone)]
pub struct Ui {
    schema: GraphSchema,
    store: Arc<dyn GraphStore>,
    config: Arc<UiConfig>,
    /// `None`: the caller may see everything.
    reads: Option<CallerReads>,
}

const APP_CSS: &str = include_str!("assets/app.css");
const APP_JS: &str = include_str!("assets/app.js");

/// The UI's routes, to be nested at `/`. `store` is the schema's store; each page reads it through its caller's
/// scope.
pub fn routes(schema: GraphSchema, store: Arc<dyn GraphStore>, live: LiveHub, config: UiConfig) -> impl Endpoint {
    let ui = Ui { schema, store, config: Arc::new(config), reads: None };
    Route::new()
        .at("/", get(runs::page))
        .at("/runs/:namespace/:name", get(run::page))
        .at("/runs/:namespace/:name/diff", get(diff::page))
        .at("/images/:digest", get(image::page))
        .at("/commit", get(source::commit_page))
        .at("/repository", get(source::repository_page))
        .at("/systems", get(systems::list_page))
        .at("/systems/:name", get(systems::page))
        .at("/search", get(search::page))
        .at("/ui/live", get(live_stream))
        .at("/ui/assets/app.css", get(css))
        .at("/ui/assets/app.js", get(js))
        .data(live)
        .around(move |endpoint, mut req| {
            let ui = ui.for_caller(crate::auth::caller(req.extensions()).as_deref());
            req.extensions_mut().insert(ui);
            async move { endpoint.call(req).await }
        })
}

/// A page failed: the status and what to tell the reader.
#[derive(Debug)]
pub struct PageError {
    status: StatusCode,
    title: String,
    detail: String,
}

impl PageError {
    pub fn not_found(title: impl Into<String>, detail: impl Into<String>) -> Self {
        PageError { status: StatusCode::NOT_FOUND, title: title.into(), detail: detail.into() }
    }
    pub fn bad_request(detail: impl Into<String>) -> Self {
        PageError { status: StatusCode::BAD_REQUEST, title: "Bad request".into(), detail: detail.into() }
    }
}

/// Renders a page result: the page, or the error page with its status.
pub fn respond(result: Result<Markup, PageError>) -> Response {
    match result {
        Ok(markup) => Html(markup.into_string()).into_response(),
        Err(e) => {
            let body = layout::shell(&e.title, layout::Nav::None, "", layout::error_body(&e.title, &e.detail));
            (e.status, Html(body.into_string())).into_response()
        }
    }
}

impl Ui {
    /// The UI as one caller sees it (no caller: no authentication layer ran, everything).
    fn for_caller(&self, caller: Option<&Principal>) -> Ui {
        let visible = caller.and_then(|c| c.scope.visibility());
        Ui { reads: CallerReads::of(&self.store, visible), ..self.clone() }
    }

    /// Runs a GraphQL query in-process and returns its `data`. A GraphQL error becomes a 400 page naming it.
    pub async fn query(&self, query: &str, variables: Value) -> Result<Value, PageError> {
        let request = GqlRequest::new(query).variables(Variables::from_json(variables));
        let request = match &self.reads {
            Some(reads) => reads.clone().request(request),
            None => request,
        };
        let response = self.schema.execute(request).await;
        if let Some(error) = response.errors.first() {
            tracing::debug!(%error.message, "UI query failed");
            return Err(PageError::bad_request(error.message.clone()));
        }
        response.data.into_json().map_err(|e| PageError::bad_request(format!("cannot read the answer: {e}")))
    }

    pub fn config(&self) -> &UiConfig {
        &self.config
    }
}

#[handler]
fn css() -> Response {
    asset(APP_CSS, "text/css; charset=utf-8")
}

#[handler]
fn js() -> Response {
    asset(APP_JS, "text/javascript; charset=utf-8")
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    Response::builder().header(header::CONTENT_TYPE, content_type).header(header::CACHE_CONTROL, "no-cache").body(body)
}

/// Server-Sent Events: one `runs` event (a JSON list of the runs an apply touched) per applied batch — only the
/// runs the caller may see; a batch with none of them is not announced to them at all.
#[handler]
fn live_stream(live: Data<&LiveHub>, ui: Data<&Ui>) -> SSE {
    let receiver = live.subscribe();
    let scoped = ui.reads.as_ref().map(|r| r.store().clone());
    let stream = tokio_stream_of(receiver, scoped);
    SSE::new(stream).keep_alive(Duration::from_secs(15))
}

/// The runs of an announcement the caller may see (`scoped`: their view of the store; `None`: all of them).
async fn visible_part(runs: &[LiveRun], scoped: Option<&Arc<dyn GraphStore>>) -> Vec<LiveRun> {
    let Some(store) = scoped else { return runs.to_vec() };
    let ids: Vec<NodeId> = runs.iter().map(LiveRun::node).collect();
    match store.existing(&ids).await {
        Ok(visible) => runs.iter().filter(|r| visible.contains(&r.node())).cloned().collect(),
        Err(error) => {
            tracing::warn!(%error, "cannot tell which live runs a caller may see; announcing none");
            Vec::new()
        }
    }
}

fn tokio_stream_of(
    receiver: tokio::sync::broadcast::Receiver<Arc<Vec<LiveRun>>>,
    scoped: Option<Arc<dyn GraphStore>>,
) -> impl futures::Stream<Item = Event> + Send + 'static {
    futures::stream::unfold((receiver, scoped), |(mut receiver, scoped)| async move {
        loop {
            return match receiver.recv().await {
                Ok(runs) => {
                    let shown = visible_part(&runs, scoped.as_ref()).await;
                    if shown.is_empty() {
                        continue;
                    }
                    let data = serde_json::to_string(&shown).unwrap_or_else(|_| "[]".into());
                    Some((Event::message(data).event_type("runs"), (receiver, scoped)))
                }
                // Missed some: the page refreshes whatever it shows.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    Some((Event::message("[]").event_type("lagged"), (receiver, scoped)))
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => None,
            };
        }
    })
    .boxed()
}

/// A path segment, percent-encoded (everything but unreserved characters), so hostile names cannot break a URL.
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A query string from pairs, skipping empty values.
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        serializer.append_pair(k, v);
    }
    let q = serializer.finish();
    if q.is_empty() { q } else { format!("?{q}") }
}

/// Where a graph node's page is, by its id (`image:…`, `pipelinerun:ns/name`, …).
pub fn node_href(id: &str) -> Option<String> {
    let (kind, key) = id.split_once(':')?;
    match kind {
        "image" => Some(format!("/images/{}", segment(key))),
        "pipelinerun" => {
            let (ns, name) = key.split_once('/')?;
            Some(run_href(ns, name))
        }
        "commit" => {
            let (repo, sha) = key.rsplit_once('@')?;
            Some(format!("/commit{}", query_string(&[("repo", repo), ("sha", sha)])))
        }
        "repository" => Some(format!("/repository{}", query_string(&[("url", key)]))),
        "system" => Some(format!("/systems/{}", segment(key))),
        "pipeline" => {
            let (ns, name) = key.split_once('/')?;
            Some(format!("/{}", query_string(&[("namespace", ns), ("pipeline", name)])))
        }
        _ => None,
    }
}

pub fn run_href(namespace: &str, name: &str) -> String {
    format!("/runs/{}/{}", segment(namespace), segment(name))
}

/// `value[a][b]…` as a string, empty when absent.
pub fn s<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    at(value, path).as_str().unwrap_or_default()
}

/// `value[a][b]…`, `Null` when absent.
pub fn at<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(value, |v, k| v.get(k).unwrap_or(&Value::Null))
}

/// `value[a][b]…` as an array, empty when absent.
pub fn list<'a>(value: &'a Value, path: &[&str]) -> &'a [Value] {
    at(value, path).as_array().map(Vec::as_slice).unwrap_or_default()
}
