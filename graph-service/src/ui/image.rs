//! The Image page: where an image came from, as an interactive lineage graph and as a plain list.

use std::collections::{BTreeMap, BTreeSet};

use maud::{Markup, html};
use poem::web::{Data, Path, Query};
use poem::{Response, handler};
use serde::Deserialize;
use serde_json::{Value, json};
use tekton_graph_svg::{GraphEdge, GraphNode, Status, render_lineage};

use super::format::{prefix, short_digest, status, time};
use super::layout::{Nav, shell};
use super::{PageError, Ui, at, list, node_href, query_string, respond, run_href, s, segment};

pub const QUERY: &str = r#"
query Image($digest: String!) {
  image(digest: $digest) {
    digest repository tags urls
    builtBy { namespace name status startTime pipeline { name } }
    taskRun { namespace name pipelineTask status }
    commit { sha author title repository { key url } }
    scans { id source completionTime vulnerabilities { critical high medium low total } pipelineRun { namespace name } }
  }
}"#;

pub const LINEAGE: &str = r#"
query Lineage($ref: String!, $depth: Int!) {
  lineage(ref: $ref, depth: $depth) { root nodes { id kind label } edges { from to kind } }
}"#;

/// Most nodes a page expands on request (each is one lineage query).
const MAX_EXPANDED: usize = 20;

#[derive(Debug, Default, Deserialize)]
pub struct ImageParams {
    depth: Option<usize>,
    /// Node ids expanded by the user, comma-separated.
    #[serde(default)]
    expand: String,
}

#[handler]
pub async fn page(ui: Data<&Ui>, Path(digest): Path<String>, params: Query<ImageParams>) -> Response {
    respond(render(&ui, &digest, &params).await)
}

async fn render(ui: &Ui, digest: &str, params: &ImageParams) -> Result<Markup, PageError> {
    let data = ui.query(QUERY, json!({ "digest": digest })).await?;
    let image = at(&data, &["image"]);
    if image.is_null() {
        return Err(PageError::not_found("Image not found", format!("No image `{digest}` is in the graph.")));
    }
    let depth = params.depth.unwrap_or(3).clamp(1, 6);
    let expanded: Vec<String> = params
        .expand
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .take(MAX_EXPANDED)
        .map(String::from)
        .collect();
    let digest = s(image, &["digest"]).to_string();
    let mut nodes: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut edges: BTreeSet<(String, String, String)> = BTreeSet::new();
    let root = format!("image:{digest}");
    let mut add = |lineage: &Value| {
        for n in list(lineage, &["nodes"]) {
            nodes.insert(s(n, &["id"]).to_string(), (s(n, &["kind"]).to_string(), s(n, &["label"]).to_string()));
        }
        for e in list(lineage, &["edges"]) {
            edges.insert((s(e, &["from"]).to_string(), s(e, &["to"]).to_string(), s(e, &["kind"]).to_string()));
        }
    };
    let lineage = ui.query(LINEAGE, json!({ "ref": root, "depth": depth })).await?;
    add(&lineage["lineage"]);
    for id in &expanded {
        // An expanded node that no longer exists is simply not drawn.
        if let Ok(more) = ui.query(LINEAGE, json!({ "ref": id, "depth": 1 })).await {
            add(&more["lineage"]);
        }
    }
    let base_path = format!("/images/{}", segment(&digest));
    let expand_href = |id: &str| {
        let mut all = expanded.clone();
        all.push(id.to_string());
        let depth = depth.to_string();
        format!("{base_path}{}", query_string(&[("depth", &depth), ("expand", &all.join(","))]))
    };
    let graph_nodes: Vec<GraphNode> = nodes
        .iter()
        .map(|(id, (kind, label))| GraphNode {
            id: id.clone(),
            kind: kind.clone(),
            label: label.clone(),
            href: node_href(id),
            expand_href: (!expanded.contains(id) && id != &root).then(|| expand_href(id)),
            root: id == &root,
            status: label_status(label),
        })
        .collect();
    let graph_edges: Vec<GraphEdge> = edges
        .iter()
        .map(|(from, to, kind)| GraphEdge { from: from.clone(), to: to.clone(), label: kind.clone() })
        .collect();
    let title = match s(image, &["repository"]) {
        "" => short_digest(&digest),
        repo => format!("{repo}@{}", short_digest(&digest)),
    };
    let body = html! {
        p.hint { a href="/" { "Runs" } " / image" }
        h1 { (title) }
        div.grid {
            (provenance(image))
            (scans(image))
        }
        h2 { "Lineage" }
        div.graph-tools data-zoom-for="lineage-box" {
            form #depth-form method="get" action=(base_path) {
                label { "Depth "
                    select name="depth" onchange="this.form.submit()" {
                        @for d in 1..=6usize { option value=(d) selected[d == depth] { (d) } }
                    }
                }
                @if !expanded.is_empty() { input type="hidden" name="expand" value=(expanded.join(",")); }
                noscript { button type="submit" { "Apply" } }
            }
            button.quiet type="button" data-zoom="1.25" aria-label="Zoom in" { "+" }
            button.quiet type="button" data-zoom="0.8" aria-label="Zoom out" { "−" }
            button.quiet type="button" data-zoom="reset" { "Reset" }
            @if !expanded.is_empty() { a href={ (base_path) "?depth=" (depth) } { "Collapse all" } }
            span.hint { "Click a node to open it, + to expand it; drag to pan, ctrl+wheel to zoom." }
        }
        div #lineage-box .scroll.pan { (render_lineage(&graph_nodes, &graph_edges)) }
        h2 { "Lineage as a list" }
        (lineage_list(&nodes, &edges, &root))
    };
    Ok(shell(&title, Nav::Runs, "", body))
}

/// The lineage labels end with `(Succeeded)` etc. for runs.
fn label_status(label: &str) -> Option<Status> {
    let inner = label.rsplit_once('(')?.1.strip_suffix(')')?;
    if inner == "not observed" { None } else { Some(Status::from_str_lossy(inner)) }
}

fn provenance(image: &Value) -> Markup {
    let built = at(image, &["builtBy"]);
    let task_run = at(image, &["taskRun"]);
    let commit = at(image, &["commit"]);
    html! {
        section.panel #provenance aria-label="Where it came from" {
            dl.facts {
                dt { "Digest" } dd.mono { (s(image, &["digest"])) }
                @if !list(image, &["tags"]).is_empty() { dt { "Tags" } dd { @for t in list(image, &["tags"]) { code { (t.as_str().unwrap_or_default()) } " " } } }
                dt { "Built by" } dd {
                    @if built.is_null() { span.muted { "unknown" } } @else {
                        a href=(run_href(s(built, &["namespace"]), s(built, &["name"]))) { (s(built, &["name"])) } " " (status(s(built, &["status"])))
                        div.hint { (s(built, &["namespace"])) " · " (s(built, &["pipeline", "name"])) " · " (time(s(built, &["startTime"]))) }
                    }
                }
                @if !task_run.is_null() { dt { "Task" } dd { (s(task_run, &["pipelineTask"])) " " span.muted.mono { (s(task_run, &["name"])) } } }
                dt { "Commit" } dd {
                    @if commit.is_null() { span.muted { "unknown" } } @else {
                        @let sha = s(commit, &["sha"]);
                        @let repo = s(commit, &["repository", "key"]);
                        a.mono href=(node_href(&format!("commit:{repo}@{sha}")).unwrap_or_default()) { (prefix(sha, 12)) }
                        " " (s(commit, &["author"])) div.hint { (s(commit, &["title"])) }
                        div { a href=(node_href(&format!("repository:{repo}")).unwrap_or_default()) { (repo) } }
                    }
                }
            }
        }
    }
}

fn scans(image: &Value) -> Markup {
    html! {
        section.panel aria-label="Scans" {
            @if list(image, &["scans"]).is_empty() { p.muted { "Not scanned." } } @else {
                table #image-scans {
                    thead { tr { th { "Scanned" } th { "C" } th { "H" } th { "M" } th { "L" } th { "By" } } }
                    tbody { @for scan in list(image, &["scans"]) {
                        @let v = at(scan, &["vulnerabilities"]);
                        tr {
                            td.mono { (time(s(scan, &["completionTime"]))) }
                            td { (v["critical"].as_i64().unwrap_or(0)) } td { (v["high"].as_i64().unwrap_or(0)) }
                            td { (v["medium"].as_i64().unwrap_or(0)) } td { (v["low"].as_i64().unwrap_or(0)) }
                            td { @let run = at(scan, &["pipelineRun"]);
                                 @if !run.is_null() { a href=(run_href(s(run, &["namespace"]), s(run, &["name"]))) { (s(run, &["name"])) } } }
                        }
                    } }
                }
            }
        }
    }
}

/// The lineage for keyboards and screen readers: each node with its edges, grouped by kind.
fn lineage_list(
    nodes: &BTreeMap<String, (String, String)>,
    edges: &BTreeSet<(String, String, String)>,
    root: &str,
) -> Markup {
    let label = |id: &str| nodes.get(id).map(|(_, l)| l.clone()).unwrap_or_else(|| id.to_string());
    let mut by_kind: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
    for (id, (kind, _)) in nodes {
        by_kind.entry(kind.as_str()).or_default().push(id);
    }
    html! {
        div #lineage-list .panel {
            @for (kind, ids) in &by_kind {
                h3 { (kind) " (" (ids.len()) ")" }
                ul { @for id in ids {
                    li data-id=(id) {
                        @match node_href(id) { Some(href) => { a href=(href) { (label(id)) } }, None => { (label(id)) } }
                        @if id.as_str() == root { " " span.badge.status-running { "this image" } }
                        ul { @for (from, to, kind) in edges.iter().filter(|(f, t, _)| f == *id || t == *id) {
                            li.hint { @if from == *id { (kind) " → " (label(to)) } @else { "← " (kind) " " (label(from)) } }
                        } }
                    }
                } }
            }
        }
    }
}
