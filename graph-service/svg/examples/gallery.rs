//! Writes an HTML page with one picture of each kind and a sample stylesheet, for eyeballing changes:
//! `cargo run -p tekton-graph-svg --example gallery -- /tmp/gallery.html`, then open it in a browser.
//! The stylesheet shows which classes the pictures carry; the web UI's own CSS is the real one.

use tekton_graph_svg::{
    Bar, DagEdge, DagEdgeKind, DagNode, GraphEdge, GraphNode, Status, render_dag, render_lineage, render_timeline,
};

const CSS: &str = r#"
:root { --fg: #1f2328; --muted: #656d76; --bg: #fff; --box: #f6f8fa; --line: #8c959f;
  --ok: #1a7f37; --bad: #cf222e; --run: #0969da; --wait: #9a6700; --skip: #8c959f; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --muted: #8d96a0; --bg: #0d1117; --box: #161b22;
  --line: #6e7681; --ok: #3fb950; --bad: #f85149; --run: #58a6ff; --wait: #d29922; --skip: #6e7681; } }
body { background: var(--bg); color: var(--fg); font-family: system-ui, sans-serif; }
svg { max-width: 100%; height: auto; display: block; margin: 1em 0; }
svg text { fill: var(--fg); font-family: system-ui, sans-serif; }
svg .sublabel, svg .kind-label, svg .tick-label, svg .finally-label, svg .truncated, svg .empty-note { fill: var(--muted); }
.node-box, .shape { fill: var(--box); stroke: var(--line); stroke-width: 1.2; }
.edge { stroke: var(--line); stroke-width: 1.4; }
.edge:hover { stroke: var(--fg); stroke-width: 2.5; }
.arrowhead { fill: var(--line); }
.finally-frame { stroke: var(--muted); }
.status-succeeded { --c: var(--ok); } .status-failed { --c: var(--bad); } .status-running { --c: var(--run); }
.status-pending { --c: var(--wait); } .status-skipped, .status-cancelled, .status-unknown { --c: var(--skip); }
.node[class*="status-"] .node-box, .node[class*="status-"] .shape { stroke: var(--c); }
.status-dot, .bar-rect { fill: var(--c, var(--line)); }
.bar.depth-1 .bar-rect { opacity: .75; }
.bar.running .bar-rect { opacity: .6; }
.axis-line, .tick-line { stroke: var(--line); stroke-opacity: .35; }
.now { stroke: var(--run); stroke-dasharray: 3 3; }
.kind-repository .shape { fill: #ddf4ff; } .kind-commit .shape { fill: #fff8c5; } .kind-image .shape { fill: #dafbe1; }
.kind-scan .shape { fill: #ffebe9; } .kind-pipelinerun .shape, .kind-taskrun .shape { fill: #fbefff; }
@media (prefers-color-scheme: dark) { .kind-repository .shape, .kind-commit .shape, .kind-image .shape,
  .kind-scan .shape, .kind-pipelinerun .shape, .kind-taskrun .shape { fill: var(--box); } }
.node.root .shape { stroke-width: 3; }
.expand-button { fill: var(--bg); stroke: var(--line); } .expand:hover .expand-button { stroke: var(--fg); }
"#;

fn task(id: &str, status: Status, finally: bool) -> DagNode {
    DagNode {
        id: id.into(),
        label: id.into(),
        sublabel: Some(status.label().into()),
        status,
        href: Some(format!("#{id}")),
        finally,
    }
}

fn main() {
    let nodes = vec![
        task("init", Status::Succeeded, false),
        task("clone-repository", Status::Succeeded, false),
        task("prefetch-dependencies", Status::Succeeded, false),
        task("build-container-image-with-a-very-long-name", Status::Running, false),
        task("sast-snyk-check", Status::Failed, false),
        task("clair-scan", Status::Pending, false),
        task("clamav-scan", Status::Pending, false),
        task("inspect-image", Status::Pending, false),
        task("show-summary", Status::Pending, true),
        task("show-sbom", Status::Skipped, true),
    ];
    let e = |a: &str, b: &str, kind| DagEdge { from: a.into(), to: b.into(), kind };
    let edges = vec![
        e("init", "clone-repository", DagEdgeKind::RunAfter),
        e("clone-repository", "prefetch-dependencies", DagEdgeKind::RunAfter),
        e("prefetch-dependencies", "build-container-image-with-a-very-long-name", DagEdgeKind::RunAfter),
        e("clone-repository", "sast-snyk-check", DagEdgeKind::UsesResults),
        e("build-container-image-with-a-very-long-name", "clair-scan", DagEdgeKind::UsesResults),
        e("build-container-image-with-a-very-long-name", "clamav-scan", DagEdgeKind::UsesResults),
        e("build-container-image-with-a-very-long-name", "inspect-image", DagEdgeKind::RunAfter),
        e("init", "inspect-image", DagEdgeKind::UsesResults),
        e("init", "show-summary", DagEdgeKind::UsesResults),
    ];
    let t = 1_700_000_000_000;
    let b = |label: &str, s: i64, end: Option<i64>, status, depth| Bar {
        label: label.into(),
        href: None,
        start_ms: t + s,
        end_ms: end.map(|e| t + e),
        status,
        depth,
    };
    let bars = vec![
        b("init", 0, Some(8_000), Status::Succeeded, 0),
        b("init", 2_000, Some(7_500), Status::Succeeded, 1),
        b("clone-repository", 9_000, Some(41_000), Status::Succeeded, 0),
        b("clone", 12_000, Some(38_000), Status::Succeeded, 1),
        b("symlink-check", 38_000, Some(40_500), Status::Succeeded, 1),
        b("build-container", 42_000, None, Status::Running, 0),
        b("build", 44_000, Some(120_000), Status::Succeeded, 1),
        b("push", 120_000, None, Status::Running, 1),
        b("sast-snyk-check", 42_500, Some(70_000), Status::Failed, 0),
    ];
    let n = |id: &str, kind: &str, label: &str| GraphNode {
        id: id.into(),
        kind: kind.into(),
        label: label.into(),
        href: Some(format!("#{id}")),
        expand_href: Some(format!("?expand={id}")),
        root: false,
        status: None,
    };
    let mut gnodes = vec![
        n("gh", "System", "github.com"),
        n("repo", "Repository", "org/exporter"),
        n("c1", "Commit", "3f2a9c1"),
        n("c0", "Commit", "a91b2e0"),
        n("push", "Trigger", "push to main"),
        n("pl", "Pipeline", "docker-build"),
        n("run", "PipelineRun", "exporter-on-push-x7k2"),
        n("tr1", "TaskRun", "build-container"),
        n("tr2", "TaskRun", "clair-scan"),
        n("img", "Image", "quay.io/org/exporter@sha256:ab12"),
        n("scan", "Scan", "clair: 3 high"),
        n("base", "Image", "ubi9/ubi-minimal"),
    ];
    gnodes[6].root = true;
    gnodes[6].status = Some(Status::Failed);
    gnodes[7].status = Some(Status::Succeeded);
    gnodes[8].status = Some(Status::Failed);
    let g = |a: &str, b: &str, l: &str| GraphEdge { from: a.into(), to: b.into(), label: l.into() };
    let gedges = vec![
        g("gh", "repo", "HOSTS"),
        g("repo", "c1", "HAS_COMMIT"),
        g("repo", "c0", "HAS_COMMIT"),
        g("c1", "c0", "PARENT"),
        g("push", "run", "TRIGGERED"),
        g("c1", "run", "BUILT_FROM"),
        g("pl", "run", "INSTANCE_OF"),
        g("run", "tr1", "RAN"),
        g("run", "tr2", "RAN"),
        g("tr1", "img", "PRODUCED"),
        g("tr2", "scan", "PRODUCED"),
        g("scan", "img", "SCANNED"),
        g("base", "img", "BASE_OF"),
    ];
    let page = maud::html! {
        (maud::DOCTYPE)
        html { head { meta charset="utf-8"; title { "tekton-graph-svg gallery" } style { (maud::PreEscaped(CSS)) } }
        body {
            h2 { "Task graph" } (render_dag(&nodes, &edges))
            h2 { "Timeline" } (render_timeline(&bars, t + 150_000))
            h2 { "Lineage" } (render_lineage(&gnodes, &gedges))
            h2 { "Empty" } (render_dag(&[], &[])) (render_timeline(&[], 0)) (render_lineage(&[], &[]))
        } }
    };
    let out = std::env::args().nth(1).unwrap_or_else(|| "gallery.html".to_owned());
    if let Err(e) = std::fs::write(&out, page.into_string()) {
        eprintln!("cannot write {out}: {e}");
        std::process::exit(1);
    }
    println!("wrote {out}");
}
