//! The supply-chain neighbourhood of one node: repositories, commits, pipelines, runs, images and scans in
//! columns that follow the chain from source to artefact, so provenance reads left to right.

use std::collections::{HashMap, HashSet};

use maud::{Markup, html};

use crate::Status;
use crate::common::{MAX_EDGES, MAX_NODES, class_token, count, dedupe_ids, edge_path, num, safe_href, truncate};
use crate::layout::{self, Config, Layering};

/// One node of the graph.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GraphNode {
    /// Unique; addresses edges, becomes `data-id`.
    pub id: String,
    /// Repository, Commit, Pipeline, PipelineRun, TaskRun, Image, Scan, System, Trigger, or anything else.
    pub kind: String,
    pub label: String,
    pub href: Option<String>,
    /// Where to load this node's own neighbourhood (shown as a "+" control).
    pub expand_href: Option<String>,
    /// The node the picture is about.
    pub root: bool,
    pub status: Option<Status>,
}

/// A relationship, e.g. `PRODUCED`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GraphEdge {
    pub from: String,
    pub to: String,
    pub label: String,
}

/// Kinds in supply-chain order; each gets its own column, unknown kinds follow alphabetically.
const KIND_ORDER: [&str; 9] =
    ["System", "Repository", "Commit", "Trigger", "Pipeline", "PipelineRun", "TaskRun", "Image", "Scan"];
const NODE_W: f64 = 170.0;
const NODE_H: f64 = 44.0;
const LABEL_CHARS: usize = 21;
const LEGEND_ITEM_W: f64 = 130.0;
const LEGEND_ROW_H: f64 = 22.0;

/// Renders the graph as `<svg id="lineage">`. Later nodes with an already seen id are dropped, edges to
/// unknown nodes and exact duplicates are skipped. More than [`MAX_NODES`] nodes: root nodes and then the
/// first by column and input order are drawn, with a note.
pub fn render_lineage(nodes: &[GraphNode], edges: &[GraphEdge]) -> Markup {
    let (keep, _) = dedupe_ids(nodes.iter().map(|n| n.id.as_str()));
    if keep.is_empty() {
        return empty();
    }
    let columns = kind_columns(nodes);
    let total_nodes = keep.len();
    let mut keep = keep;
    if total_nodes > MAX_NODES {
        keep.sort_by_key(|&i| (!nodes[i].root, columns[i], i));
        keep.truncate(MAX_NODES);
        keep.sort_unstable();
    }
    let shown: Vec<&GraphNode> = keep.iter().map(|&i| &nodes[i]).collect();
    let index: HashMap<&str, usize> = shown.iter().enumerate().map(|(k, n)| (n.id.as_str(), k)).collect();
    let mut seen = HashSet::new();
    let mut resolved: Vec<(usize, usize, &str)> = Vec::new();
    for e in edges {
        if let (Some(&a), Some(&b)) = (index.get(e.from.as_str()), index.get(e.to.as_str()))
            && seen.insert((a, b, e.label.as_str()))
        {
            resolved.push((a, b, e.label.as_str()));
        }
    }
    let total_edges = if shown.len() == total_nodes { resolved.len() } else { count_all_edges(nodes, edges) };
    resolved.truncate(MAX_EDGES);

    let ids: Vec<String> = shown.iter().map(|n| n.id.clone()).collect();
    let fixed: Vec<usize> = keep.iter().map(|&i| columns[i]).collect();
    let pairs: Vec<(usize, usize)> = resolved.iter().map(|&(a, b, _)| (a, b)).collect();
    let cfg = Config { node_width: NODE_W, node_height: NODE_H, margin: 40.0, ..Config::default() };
    let lay = layout::layered(&ids, &pairs, Layering::Fixed(&fixed), &cfg);
    let (hw, hh) = (NODE_W / 2.0, NODE_H / 2.0);

    // Legend: kinds present, in column order, first spelling seen.
    let mut legend: Vec<(usize, String, &str)> = Vec::new();
    for (k, n) in shown.iter().enumerate() {
        let token = class_token(&n.kind);
        if !legend.iter().any(|(_, t, _)| *t == token) {
            legend.push((fixed[k], token, n.kind.as_str()));
        }
    }
    legend.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let width = lay.width.max(2.0 * cfg.margin + LEGEND_ITEM_W);
    let per_row = (((width - 2.0 * cfg.margin) / LEGEND_ITEM_W) as usize).max(1);
    let legend_rows = legend.len().div_ceil(per_row);
    let legend_y = lay.height - cfg.margin / 2.0;

    let mut notes = Vec::new();
    if shown.len() < total_nodes {
        notes.push(format!("Showing {} of {total_nodes} nodes", shown.len()));
    }
    if resolved.len() < total_edges {
        notes.push(format!("showing {} of {total_edges} edges", resolved.len()));
    }
    let note = (!notes.is_empty()).then(|| notes.join("; "));
    let note_y = legend_y + legend_rows as f64 * LEGEND_ROW_H + 16.0;
    let height = note_y + if note.is_some() { 18.0 } else { 0.0 };

    let counts = format!("{}, {}", count(total_nodes, "node", "nodes"), count(total_edges, "edge", "edges"));
    let summary = match shown.iter().find(|n| n.root) {
        Some(root) => format!("Lineage of {}: {counts}", display_label(root)),
        None => format!("Lineage graph: {counts}"),
    };

    html! {
        svg xmlns="http://www.w3.org/2000/svg" id="lineage" class="graph lineage" role="img"
            aria-labelledby="lineage-title" viewBox={ "0 0 " (num(width)) " " (num(height)) }
            width=(num(width)) height=(num(height)) {
            title id="lineage-title" { (summary) }
            defs {
                marker id="lineage-arrow" class="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="10"
                    markerHeight="10" markerUnits="userSpaceOnUse" orient="auto-start-reverse" {
                    path class="arrowhead" d="M0,0 L10,5 L0,10 z" {}
                }
            }
            g class="edges" {
                @for (k, &(a, b, label)) in resolved.iter().enumerate() {
                    path class="edge" data-kind=(label) data-from=(shown[a].id) data-to=(shown[b].id)
                        d=(edge_path(lay.centers[a], lay.centers[b], &lay.routes[k].waypoints, hw, hh))
                        fill="none" marker-end="url(#lineage-arrow)" {
                        title { (label) }
                    }
                }
            }
            g class="nodes" {
                @for (node, &(cx, cy)) in shown.iter().zip(&lay.centers) {
                    (render_node(node, cx - hw, cy - hh))
                }
            }
            g class="legend" {
                @for (i, (_, token, kind)) in legend.iter().enumerate() {
                    @let x = cfg.margin + (i % per_row) as f64 * LEGEND_ITEM_W;
                    @let y = legend_y + (i / per_row) as f64 * LEGEND_ROW_H;
                    g class={ "legend-item kind-" (token) } {
                        (shape(token, x, y, 26.0, 14.0))
                        text class="legend-label" x=(num(x + 32.0)) y=(num(y + 11.0)) font-size="11" {
                            (truncate(kind, 14))
                        }
                    }
                }
            }
            @if let Some(note) = &note {
                text class="truncated" x=(num(cfg.margin)) y=(num(note_y + 4.0)) font-size="12" { (note) }
            }
        }
    }
}

/// Column number per input node: the kind's place in [`KIND_ORDER`], unknown kinds after it by name.
fn kind_columns(nodes: &[GraphNode]) -> Vec<usize> {
    let known = |k: &str| KIND_ORDER.iter().position(|o| o.eq_ignore_ascii_case(k));
    let mut unknown: Vec<String> =
        nodes.iter().filter(|n| known(&n.kind).is_none()).map(|n| class_token(&n.kind)).collect();
    unknown.sort_unstable();
    unknown.dedup();
    nodes
        .iter()
        .map(|n| {
            known(&n.kind).unwrap_or_else(|| {
                KIND_ORDER.len() + unknown.binary_search(&class_token(&n.kind)).unwrap_or(unknown.len())
            })
        })
        .collect()
}

/// Distinct edges between known nodes of the whole input, for the "showing m of n" note.
fn count_all_edges(nodes: &[GraphNode], edges: &[GraphEdge]) -> usize {
    let ids: HashSet<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
    let mut seen = HashSet::new();
    edges
        .iter()
        .filter(|e| ids.contains(e.from.as_str()) && ids.contains(e.to.as_str()))
        .filter(|e| seen.insert((e.from.as_str(), e.to.as_str(), e.label.as_str())))
        .count()
}

fn display_label(node: &GraphNode) -> &str {
    if node.label.is_empty() { &node.id } else { &node.label }
}

/// One node with its top-left corner at `(x, y)`.
fn render_node(node: &GraphNode, x: f64, y: f64) -> Markup {
    let token = class_token(&node.kind);
    let mut class = format!("node kind-{token}");
    if node.root {
        class.push_str(" root");
    }
    if let Some(s) = node.status {
        class.push_str(" status-");
        class.push_str(s.css());
    }
    let label = display_label(node);
    let body = html! {
        (shape(&token, x, y, NODE_W, NODE_H))
        @if node.status.is_some() {
            circle class="status-dot" cx=(num(x + 14.0)) cy=(num(y + 11.0)) r="3.5" {}
        }
        text class="kind-label" x=(num(x + if node.status.is_some() { 22.0 } else { 14.0 })) y=(num(y + 14.5))
            font-size="10" { (truncate(&node.kind, 24)) }
        text class="label" x=(num(x + 14.0)) y=(num(y + 32.0)) font-size="13" { (truncate(label, LABEL_CHARS)) }
    };
    html! {
        g class=(class) data-id=(node.id) {
            title { (label) " (" (node.kind) ")" }
            @if let Some(href) = safe_href(node.href.as_deref()) {
                a href=(href) { (body) }
            } @else {
                (body)
            }
            @if let Some(href) = safe_href(node.expand_href.as_deref()) {
                a class="expand" href=(href) aria-label={ "Expand " (label) } {
                    circle class="expand-button" cx=(num(x + NODE_W)) cy=(num(y)) r="9" {}
                    text class="expand-sign" x=(num(x + NODE_W)) y=(num(y + 4.5)) text-anchor="middle" font-size="14" {
                        "+"
                    }
                }
            }
        }
    }
}

/// The outline for a kind, so kinds differ by shape as well as colour (and stay apart in grey-scale).
fn shape(token: &str, x: f64, y: f64, w: f64, h: f64) -> Markup {
    let cut = (w / 4.0).min(h / 2.0).min(12.0);
    let poly = |pts: &[(f64, f64)]| pts.iter().map(|&(a, b)| format!("{},{}", num(a), num(b))).collect::<Vec<_>>();
    let polygon = match token {
        // A tag pointing right: the event that starts things.
        "trigger" => Some(poly(&[(x, y), (x + w - cut, y), (x + w, y + h / 2.0), (x + w - cut, y + h), (x, y + h)])),
        // A hexagon, the usual picture of a container image.
        "image" => Some(poly(&[
            (x + cut, y),
            (x + w - cut, y),
            (x + w, y + h / 2.0),
            (x + w - cut, y + h),
            (x + cut, y + h),
            (x, y + h / 2.0),
        ])),
        // Chamfered corners: a badge.
        "scan" => {
            let c = cut * 0.6;
            Some(poly(&[
                (x + c, y),
                (x + w - c, y),
                (x + w, y + c),
                (x + w, y + h - c),
                (x + w - c, y + h),
                (x + c, y + h),
                (x, y + h - c),
                (x, y + c),
            ]))
        }
        _ => None,
    };
    match polygon {
        Some(points) => html! { polygon class="shape" points=(points.join(" ")) {} },
        None => {
            let r = match token {
                "system" => 0.0,
                "repository" => 3.0,
                "commit" => h / 2.0,
                "taskrun" => 5.0,
                "pipeline" | "pipelinerun" => 10.0,
                _ => 4.0,
            };
            // Scaled with the height so that legend swatches keep the node's look.
            let r = if token == "commit" { r } else { r * h / NODE_H };
            html! {
                rect class="shape" x=(num(x)) y=(num(y)) width=(num(w)) height=(num(h)) rx=(num(r)) ry=(num(r)) {}
            }
        }
    }
}

fn empty() -> Markup {
    html! {
        svg xmlns="http://www.w3.org/2000/svg" id="lineage" class="graph lineage empty" role="img"
            aria-labelledby="lineage-title" viewBox="0 0 320 60" width="320" height="60" {
            title id="lineage-title" { "Lineage graph: nothing to show" }
            text class="empty-note" x="16" y="34" font-size="13" { "Nothing to show" }
        }
    }
}
