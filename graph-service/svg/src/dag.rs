//! A PipelineRun's task graph: tasks as boxes coloured by status, `runAfter` and result dependencies as
//! arrows, `finally` tasks grouped in a dashed frame after everything else (they run last whatever the graph).

use std::collections::HashSet;

use maud::{Markup, html};

pub use crate::Status;
use crate::common::{MAX_EDGES, MAX_NODES, count, dedupe_ids, edge_path, num, safe_href, truncate};
use crate::layout::{self, Config, Layering};

/// One task of the run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DagNode {
    /// The pipeline task name; unique within the run, addresses edges, becomes `data-task`.
    pub id: String,
    pub label: String,
    /// A second, smaller line (e.g. duration or task reference).
    pub sublabel: Option<String>,
    pub status: Status,
    pub href: Option<String>,
    /// A `finally` task.
    pub finally: bool,
}

/// Why one task waits for another.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DagEdgeKind {
    /// Explicit `runAfter`: drawn solid.
    #[default]
    RunAfter,
    /// Implicit, through `$(tasks.x.results.y)`: drawn dashed.
    UsesResults,
}

impl DagEdgeKind {
    fn css(self) -> &'static str {
        match self {
            DagEdgeKind::RunAfter => "run-after",
            DagEdgeKind::UsesResults => "uses-results",
        }
    }
}

/// `from` must finish before `to` starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DagEdge {
    pub from: String,
    pub to: String,
    pub kind: DagEdgeKind,
}

const NODE_W: f64 = 170.0;
const NODE_H: f64 = 44.0;
/// Chars that fit on a line at the font sizes below (~7 px and ~6 px per char).
const LABEL_CHARS: usize = 20;
const SUBLABEL_CHARS: usize = 24;
/// Room around the finally frame's nodes, and above them for its caption.
const FRAME_PAD: f64 = 12.0;
const FRAME_CAPTION: f64 = 16.0;

/// Renders the task graph as `<svg id="dag">`. Later nodes with an already seen id are dropped, edges to
/// unknown tasks and exact duplicate edges are skipped, cycles are drawn with their breaking edge pointing
/// backwards. More than [`MAX_NODES`] tasks: the first by column then input order are drawn, with a note.
pub fn render_dag(nodes: &[DagNode], edges: &[DagEdge]) -> Markup {
    let (mut keep, _) = dedupe_ids(nodes.iter().map(|n| n.id.as_str()));
    let resolve = |keep: &[usize]| {
        let index: std::collections::HashMap<&str, usize> =
            keep.iter().enumerate().map(|(k, &i)| (nodes[i].id.as_str(), k)).collect();
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for e in edges {
            if let (Some(&a), Some(&b)) = (index.get(e.from.as_str()), index.get(e.to.as_str()))
                && seen.insert((a, b, e.kind))
            {
                out.push((a, b, e.kind));
            }
        }
        out
    };
    if keep.is_empty() {
        return empty();
    }
    let total_nodes = keep.len();
    let total_finally = keep.iter().filter(|&&i| nodes[i].finally).count();
    let mut resolved = resolve(&keep);
    let total_edges = resolved.len();
    if total_nodes > MAX_NODES {
        let ids: Vec<String> = keep.iter().map(|&i| nodes[i].id.clone()).collect();
        let bands: Vec<usize> = keep.iter().map(|&i| usize::from(nodes[i].finally)).collect();
        let pairs: Vec<(usize, usize)> = resolved.iter().map(|&(a, b, _)| (a, b)).collect();
        let (layer, _) = layout::assign_layers(&ids, &pairs, Layering::Banded(&bands));
        let mut pick: Vec<usize> = (0..keep.len()).collect();
        pick.sort_by_key(|&k| (layer[k], k));
        pick.truncate(MAX_NODES);
        pick.sort_unstable();
        keep = pick.into_iter().map(|k| keep[k]).collect();
        resolved = resolve(&keep);
    }
    resolved.truncate(MAX_EDGES);

    let shown: Vec<&DagNode> = keep.iter().map(|&i| &nodes[i]).collect();
    let ids: Vec<String> = shown.iter().map(|n| n.id.clone()).collect();
    let bands: Vec<usize> = shown.iter().map(|n| usize::from(n.finally)).collect();
    let pairs: Vec<(usize, usize)> = resolved.iter().map(|&(a, b, _)| (a, b)).collect();
    let cfg = Config { node_width: NODE_W, node_height: NODE_H, margin: 40.0, ..Config::default() };
    let lay = layout::layered(&ids, &pairs, Layering::Banded(&bands), &cfg);
    let (hw, hh) = (NODE_W / 2.0, NODE_H / 2.0);

    let finally_count = shown.iter().filter(|n| n.finally).count();
    let frame = (finally_count > 0).then(|| {
        let fin = || lay.centers.iter().zip(&shown).filter(|(_, n)| n.finally).map(|(c, _)| *c);
        let x0 = fin().map(|c| c.0).fold(f64::INFINITY, f64::min) - hw - FRAME_PAD;
        let x1 = fin().map(|c| c.0).fold(f64::NEG_INFINITY, f64::max) + hw + FRAME_PAD;
        let y0 = fin().map(|c| c.1).fold(f64::INFINITY, f64::min) - hh - FRAME_PAD - FRAME_CAPTION;
        let y1 = fin().map(|c| c.1).fold(f64::NEG_INFINITY, f64::max) + hh + FRAME_PAD;
        (x0, y0, x1 - x0, y1 - y0)
    });

    let mut summary = format!("Task graph: {}", count(total_nodes, "task", "tasks"));
    if total_finally > 0 {
        summary.push_str(&format!(", {total_finally} finally"));
    }
    summary.push_str(&format!(", {}", count(total_edges, "dependency", "dependencies")));
    let mut notes = Vec::new();
    if shown.len() < total_nodes {
        notes.push(format!("Showing {} of {total_nodes} tasks", shown.len()));
    }
    if resolved.len() < total_edges {
        notes.push(format!("showing {} of {total_edges} dependencies", resolved.len()));
    }
    let note = (!notes.is_empty()).then(|| notes.join("; "));
    let width = lay.width;
    let height = lay.height + if note.is_some() { 24.0 } else { 0.0 };

    html! {
        svg xmlns="http://www.w3.org/2000/svg" id="dag" class="graph dag" role="img" aria-labelledby="dag-title"
            viewBox={ "0 0 " (num(width)) " " (num(height)) } width=(num(width)) height=(num(height)) {
            title id="dag-title" { (summary) }
            defs {
                @for kind in [DagEdgeKind::RunAfter, DagEdgeKind::UsesResults] {
                    marker id={ "dag-arrow-" (kind.css()) } class={ "arrow " (kind.css()) } viewBox="0 0 10 10"
                        refX="10" refY="5" markerWidth="10" markerHeight="10" markerUnits="userSpaceOnUse"
                        orient="auto-start-reverse" {
                        path class="arrowhead" d="M0,0 L10,5 L0,10 z" {}
                    }
                }
            }
            @if let Some((x, y, w, h)) = frame {
                g class="finally-group" {
                    rect class="finally-frame" x=(num(x)) y=(num(y)) width=(num(w)) height=(num(h)) rx="10" ry="10"
                        fill="none" stroke-dasharray="6 4" {}
                    text class="finally-label" x=(num(x + 10.0)) y=(num(y + 16.0)) font-size="12" { "finally" }
                }
            }
            g class="edges" {
                @for (k, &(a, b, kind)) in resolved.iter().enumerate() {
                    path class={ "edge " (kind.css()) } data-from=(shown[a].id) data-to=(shown[b].id)
                        d=(edge_path(lay.centers[a], lay.centers[b], &lay.routes[k].waypoints, hw, hh))
                        fill="none" marker-end={ "url(#dag-arrow-" (kind.css()) ")" }
                        stroke-dasharray=[(kind == DagEdgeKind::UsesResults).then_some("5 4")] {}
                }
            }
            g class="nodes" {
                @for (node, &(cx, cy)) in shown.iter().zip(&lay.centers) {
                    g class=(node_class(node)) data-task=(node.id) {
                        title { (if node.label.is_empty() { &node.id } else { &node.label }) }
                        @if let Some(href) = safe_href(node.href.as_deref()) {
                            a href=(href) { (node_body(node, cx - hw, cy - hh)) }
                        } @else {
                            (node_body(node, cx - hw, cy - hh))
                        }
                    }
                }
            }
            @if let Some(note) = &note {
                text class="truncated" x=(num(cfg.margin)) y=(num(height - 12.0)) font-size="12" { (note) }
            }
        }
    }
}

fn node_class(node: &DagNode) -> String {
    format!("node status-{}{}", node.status.css(), if node.finally { " finally" } else { "" })
}

/// The box, status dot and text lines of one task, with its top-left corner at `(x, y)`.
fn node_body(node: &DagNode, x: f64, y: f64) -> Markup {
    let label = truncate(if node.label.is_empty() { &node.id } else { &node.label }, LABEL_CHARS);
    let sub = node.sublabel.as_deref().filter(|s| !s.is_empty()).map(|s| truncate(s, SUBLABEL_CHARS));
    let label_y = if sub.is_some() { y + 19.0 } else { y + NODE_H / 2.0 + 4.5 };
    html! {
        rect class="node-box" x=(num(x)) y=(num(y)) width=(num(NODE_W)) height=(num(NODE_H)) rx="8" ry="8" {}
        circle class="status-dot" cx=(num(x + 12.0)) cy=(num(label_y - 4.5)) r="4" {}
        text class="label" x=(num(x + 22.0)) y=(num(label_y)) font-size="13" { (label) }
        @if let Some(sub) = sub {
            text class="sublabel" x=(num(x + 22.0)) y=(num(y + 35.0)) font-size="11" { (sub) }
        }
    }
}

/// The picture for a run without tasks (not started, or not resolved yet).
fn empty() -> Markup {
    html! {
        svg xmlns="http://www.w3.org/2000/svg" id="dag" class="graph dag empty" role="img" aria-labelledby="dag-title"
            viewBox="0 0 320 60" width="320" height="60" {
            title id="dag-title" { "Task graph: no tasks" }
            text class="empty-note" x="16" y="34" font-size="13" { "No tasks to show" }
        }
    }
}
