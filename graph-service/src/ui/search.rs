//! Search: one box that takes a digest, `repo@sha256:…`, `repo@commit`, `namespace/run` or a pipeline name and goes
//! to the right page (or lists the candidates).

use maud::{Markup, html};
use poem::http::{StatusCode, header};
use poem::web::{Data, Query};
use poem::{IntoResponse, Response, handler};
use serde::Deserialize;
use serde_json::{Value, json};

use super::layout::{Nav, shell};
use super::{Ui, list, node_href, respond, s};

const QUERY: &str = r#"query Search($text: String!) { search(text: $text) { kind id label } }"#;

#[derive(Debug, Default, Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    q: String,
}

#[handler]
pub async fn page(ui: Data<&Ui>, params: Query<SearchParams>) -> Response {
    let text = params.q.trim();
    let data = match ui.query(QUERY, json!({ "text": text })).await {
        Ok(data) => data,
        Err(e) => return respond(Err(e)),
    };
    let hits: Vec<(&Value, String)> = list(&data, &["search"]).iter().filter_map(|h| Some((h, href(h)?))).collect();
    if let [(_, target)] = hits.as_slice() {
        return Response::builder().status(StatusCode::SEE_OTHER).header(header::LOCATION, target.as_str()).finish();
    }
    respond(Ok(results(text, &hits))).into_response()
}

/// The page of a hit. TaskRuns have no page of their own: they open their lineage around the run's images.
fn href(hit: &Value) -> Option<String> {
    let id = s(hit, &["id"]);
    match s(hit, &["kind"]) {
        "TASK_RUN" => None,
        _ => node_href(id),
    }
}

fn results(text: &str, hits: &[(&Value, String)]) -> Markup {
    let body = html! {
        h1 { "Search" }
        form method="get" action="/search" { input type="search" name="q" value=(text) aria-label="Search"; " " button type="submit" { "Search" } }
        @if text.is_empty() {
            p.muted { "Type an image digest (sha256:…, repo@sha256:…), a commit (repo@sha), a run (namespace/name), a pipeline or a System." }
        } @else if hits.is_empty() {
            p.panel #no-results { "Nothing in the graph matches “" (text) "”." }
        } @else {
            ul #search-results { @for (hit, target) in hits {
                li { span.badge.status-skipped { (s(hit, &["kind"]).to_ascii_lowercase().replace('_', " ")) } " " a href=(target) { (s(hit, &["label"])) } }
            } }
        }
    };
    shell("Search", Nav::None, "", body)
}
