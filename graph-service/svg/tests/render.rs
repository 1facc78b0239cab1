//! The markup contract the web UI's CSS, scripts and browser tests rely on, checked on parsed XML.

use std::collections::HashSet;

use roxmltree::{Document, Node};
use tekton_graph_svg::{
    Bar, DagEdge, DagEdgeKind, DagNode, GraphEdge, GraphNode, MAX_NODES, Status, render_dag, render_lineage,
    render_timeline,
};

const HOSTILE: &str = "<script>alert(\"x\")</script>&amp;'";

fn parse(s: &str) -> Document<'_> {
    Document::parse(s).unwrap_or_else(|e| panic!("not well-formed XML: {e}\n{s}"))
}

fn classes<'a>(n: &Node<'a, '_>) -> Vec<&'a str> {
    n.attribute("class").map(|c| c.split_whitespace().collect()).unwrap_or_default()
}

fn has_class(n: &Node, class: &str) -> bool {
    classes(n).contains(&class)
}

fn all<'a, 'i>(doc: &'a Document<'i>, tag: &str, class: &str) -> Vec<Node<'a, 'i>> {
    doc.descendants().filter(|n| n.has_tag_name(tag) && has_class(n, class)).collect()
}

fn num(n: &Node, attr: &str) -> f64 {
    n.attribute(attr).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{attr} missing on {n:?}"))
}

fn child_title(n: &Node) -> String {
    n.children().find(|c| c.has_tag_name("title")).and_then(|t| t.text()).unwrap_or_default().to_owned()
}

/// Checks common to every picture: root attributes, labelled title, viewBox = size, unique ids, marker
/// references resolve, no inline colours or styles, no raw script and no javascript: links.
fn check_svg<'a, 'i>(doc: &'a Document<'i>, raw: &str, id: &str, class: &[&str]) -> Node<'a, 'i> {
    let svg = doc.root_element();
    assert_eq!(svg.tag_name().name(), "svg");
    assert_eq!(svg.tag_name().namespace(), Some("http://www.w3.org/2000/svg"));
    assert_eq!(svg.attribute("id"), Some(id));
    for c in class {
        assert!(has_class(&svg, c), "svg lacks class {c}");
    }
    assert_eq!(svg.attribute("role"), Some("img"));
    let title_id = svg.attribute("aria-labelledby").expect("aria-labelledby");
    let title = svg.children().find(|c| c.is_element()).expect("a first child");
    assert!(title.has_tag_name("title"), "title comes first");
    assert_eq!(title.attribute("id"), Some(title_id));
    assert!(!title.text().unwrap_or_default().is_empty());
    let vb: Vec<f64> = svg.attribute("viewBox").expect("viewBox").split(' ').map(|v| v.parse().unwrap()).collect();
    assert_eq!(vb.len(), 4);
    assert_eq!((vb[0], vb[1]), (0.0, 0.0));
    assert_eq!(vb[2], num(&svg, "width"));
    assert_eq!(vb[3], num(&svg, "height"));

    let mut ids = HashSet::new();
    for n in doc.descendants().filter(|n| n.is_element()) {
        if let Some(i) = n.attribute("id") {
            assert!(ids.insert(i.to_owned()), "duplicate id {i}");
        }
        for a in n.attributes() {
            assert!(!["style", "stroke", "color"].contains(&a.name()), "inline {} on {:?}", a.name(), n);
            if a.name() == "fill" {
                assert_eq!(a.value(), "none", "inline fill on {n:?}");
            }
            assert!(!a.value().to_ascii_lowercase().contains("javascript:"), "script link");
            assert!(!a.value().contains("NaN") && !a.value().contains("inf"), "bad number in {n:?}");
        }
        assert!(!n.has_tag_name("script") && !n.has_tag_name("style") && !n.has_tag_name("foreignObject"));
    }
    for n in doc.descendants().filter(|n| n.has_attribute("marker-end")) {
        let r = n.attribute("marker-end").unwrap_or_default();
        let target = r.strip_prefix("url(#").and_then(|r| r.strip_suffix(')')).expect("url(#...)");
        assert!(ids.contains(target), "marker {target} not defined");
    }
    assert!(!raw.to_ascii_lowercase().contains("<script"), "raw <script in output");
    svg
}

fn boxes_disjoint(boxes: &[(f64, f64, f64, f64)]) {
    for (i, a) in boxes.iter().enumerate() {
        for b in &boxes[i + 1..] {
            let apart = a.0 + a.2 <= b.0 || b.0 + b.2 <= a.0 || a.1 + a.3 <= b.1 || b.1 + b.3 <= a.1;
            assert!(apart, "boxes overlap: {a:?} {b:?}");
        }
    }
}

fn rect_box(n: &Node) -> (f64, f64, f64, f64) {
    (num(n, "x"), num(n, "y"), num(n, "width"), num(n, "height"))
}

fn task(id: &str) -> DagNode {
    DagNode { id: id.into(), label: id.into(), status: Status::Succeeded, ..DagNode::default() }
}

fn dep(from: &str, to: &str, kind: DagEdgeKind) -> DagEdge {
    DagEdge { from: from.into(), to: to.into(), kind }
}

// ---------------------------------------------------------------------------------------------- DAG

#[test]
fn dag_markup_contract() {
    let mut nodes = vec![task("fetch"), task("build"), task("test"), task("cleanup"), task("notify")];
    nodes[1].status = Status::Running;
    nodes[1].sublabel = Some("1m 20s".into());
    nodes[1].href = Some("/runs/r1/tasks/build".into());
    nodes[2].status = Status::Failed;
    nodes[3].finally = true;
    nodes[4].finally = true;
    let edges = vec![
        dep("fetch", "build", DagEdgeKind::RunAfter),
        dep("build", "test", DagEdgeKind::UsesResults),
        dep("fetch", "test", DagEdgeKind::RunAfter),
    ];
    let raw = render_dag(&nodes, &edges).into_string();
    let doc = parse(&raw);
    let svg = check_svg(&doc, &raw, "dag", &["graph", "dag"]);
    assert_eq!(child_title(&svg), "Task graph: 5 tasks, 2 finally, 3 dependencies");

    let gs = all(&doc, "g", "node");
    assert_eq!(gs.len(), 5);
    let tasks: Vec<_> = gs.iter().map(|g| g.attribute("data-task").unwrap_or_default()).collect();
    assert_eq!(tasks, ["fetch", "build", "test", "cleanup", "notify"]);
    assert!(has_class(&gs[1], "status-running") && has_class(&gs[2], "status-failed"));
    assert!(has_class(&gs[3], "finally") && !has_class(&gs[0], "finally"));
    assert_eq!(child_title(&gs[1]), "build");
    let link = gs[1].children().find(|c| c.has_tag_name("a")).expect("linked task");
    assert_eq!(link.attribute("href"), Some("/runs/r1/tasks/build"));
    assert!(gs[0].children().all(|c| !c.has_tag_name("a")));
    assert_eq!(all(&doc, "text", "sublabel").len(), 1);
    for g in &gs {
        assert_eq!(g.descendants().filter(|n| n.has_tag_name("rect") && has_class(n, "node-box")).count(), 1);
        assert!(g.descendants().any(|n| n.has_tag_name("text") && has_class(&n, "label")));
    }

    let paths = all(&doc, "path", "edge");
    assert_eq!(paths.len(), 3);
    assert_eq!(paths.iter().filter(|p| has_class(p, "run-after")).count(), 2);
    let dashed: Vec<_> = paths.iter().filter(|p| has_class(p, "uses-results")).collect();
    assert_eq!(dashed.len(), 1);
    assert_eq!((dashed[0].attribute("data-from"), dashed[0].attribute("data-to")), (Some("build"), Some("test")));
    assert_eq!(dashed[0].attribute("marker-end"), Some("url(#dag-arrow-uses-results)"));
    assert!(dashed[0].attribute("d").unwrap_or_default().contains(" C"), "cubic curve");
    assert!(doc.descendants().any(|n| n.attribute("id") == Some("dag-arrow-run-after")));

    // Finally tasks sit in a dashed frame right of every regular task.
    let boxes: Vec<_> = all(&doc, "rect", "node-box").iter().map(rect_box).collect();
    boxes_disjoint(&boxes);
    let frame = rect_box(&all(&doc, "rect", "finally-frame")[0]);
    let regular_right = boxes[..3].iter().map(|b| b.0 + b.2).fold(0.0, f64::max);
    assert!(frame.0 > regular_right);
    for b in &boxes[3..] {
        assert!(b.0 >= frame.0 && b.0 + b.2 <= frame.0 + frame.2 && b.1 >= frame.1 && b.1 + b.3 <= frame.1 + frame.3);
    }
    assert_eq!(all(&doc, "text", "finally-label")[0].text(), Some("finally"));
    let (w, h) = (num(&svg, "width"), num(&svg, "height"));
    assert!(boxes.iter().all(|b| b.0 >= 0.0 && b.1 >= 0.0 && b.0 + b.2 <= w && b.1 + b.3 <= h));
    assert!(all(&doc, "text", "truncated").is_empty());
}

#[test]
fn dag_without_finally_has_no_frame() {
    let raw = render_dag(&[task("only")], &[]).into_string();
    let doc = parse(&raw);
    let svg = check_svg(&doc, &raw, "dag", &["dag"]);
    assert_eq!(child_title(&svg), "Task graph: 1 task, 0 dependencies");
    assert!(all(&doc, "rect", "finally-frame").is_empty());
}

#[test]
fn dag_escapes_hostile_names() {
    let mut evil = task(HOSTILE);
    evil.sublabel = Some(HOSTILE.into());
    evil.href = Some("javascript:alert(1)".into());
    let mut ok = task("b");
    ok.href = Some(format!("/t?name={HOSTILE}"));
    let raw = render_dag(&[evil, ok], &[dep(HOSTILE, "b", DagEdgeKind::RunAfter)]).into_string();
    let doc = parse(&raw);
    check_svg(&doc, &raw, "dag", &["dag"]);
    let gs = all(&doc, "g", "node");
    assert_eq!(gs[0].attribute("data-task"), Some(HOSTILE));
    assert_eq!(child_title(&gs[0]), HOSTILE);
    assert!(gs[0].children().all(|c| !c.has_tag_name("a")), "javascript: link dropped");
    let link = gs[1].children().find(|c| c.has_tag_name("a")).expect("relative link kept");
    assert_eq!(link.attribute("href").map(str::to_owned), Some(format!("/t?name={HOSTILE}")));
    assert_eq!(all(&doc, "path", "edge")[0].attribute("data-from"), Some(HOSTILE));
}

#[test]
fn dag_truncates_long_labels_by_char() {
    let long = "ü".repeat(40) + "-🦀-end";
    let mut n = task("x");
    n.label = long.clone();
    let raw = render_dag(&[n], &[]).into_string();
    let doc = parse(&raw);
    let text = all(&doc, "text", "label")[0].text().unwrap_or_default().to_owned();
    assert!(text.ends_with('…') && text.chars().count() <= 20, "{text}");
    assert_eq!(child_title(&all(&doc, "g", "node")[0]), long);
}

#[test]
fn dag_survives_malformed_graphs() {
    let nodes = vec![task("a"), task("b"), task("c"), task("a"), task("")];
    let edges = vec![
        dep("a", "b", DagEdgeKind::RunAfter),
        dep("b", "c", DagEdgeKind::RunAfter),
        dep("c", "a", DagEdgeKind::RunAfter),
        dep("b", "b", DagEdgeKind::RunAfter),
        dep("a", "b", DagEdgeKind::RunAfter),
        dep("a", "b", DagEdgeKind::UsesResults),
        dep("a", "ghost", DagEdgeKind::RunAfter),
        dep("ghost", "c", DagEdgeKind::UsesResults),
    ];
    let raw = render_dag(&nodes, &edges).into_string();
    let doc = parse(&raw);
    check_svg(&doc, &raw, "dag", &["dag"]);
    assert_eq!(all(&doc, "g", "node").len(), 4, "the duplicate `a` is dropped");
    assert_eq!(all(&doc, "path", "edge").len(), 5, "unknown ends and exact duplicates are dropped");
    let boxes: Vec<_> = all(&doc, "rect", "node-box").iter().map(rect_box).collect();
    boxes_disjoint(&boxes);
}

#[test]
fn dag_empty_state() {
    let raw = render_dag(&[], &[dep("a", "b", DagEdgeKind::RunAfter)]).into_string();
    let doc = parse(&raw);
    let svg = check_svg(&doc, &raw, "dag", &["graph", "dag", "empty"]);
    assert_eq!(child_title(&svg), "Task graph: no tasks");
    assert!(all(&doc, "g", "node").is_empty());
}

/// A deterministic pseudo-random DAG of `n` tasks, about a fifth of them finally.
fn random_pipeline(n: usize, seed: u64) -> (Vec<DagNode>, Vec<DagEdge>) {
    let mut s = seed;
    let mut next = move |m: usize| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s % m.max(1) as u64) as usize
    };
    let statuses = [Status::Succeeded, Status::Failed, Status::Running, Status::Pending, Status::Skipped];
    let nodes: Vec<DagNode> = (0..n)
        .map(|i| DagNode {
            id: format!("task-{:03}", (i * 37) % n.max(1)),
            label: format!("task number {i} with a fairly long name"),
            sublabel: (i % 3 == 0).then(|| format!("{i}s")),
            status: statuses[i % statuses.len()],
            href: Some(format!("/t/{i}")),
            finally: next(5) == 0,
        })
        .collect();
    let mut edges = Vec::new();
    for v in 1..n {
        for _ in 0..next(3) {
            let u = next(v);
            let kind = if next(2) == 0 { DagEdgeKind::RunAfter } else { DagEdgeKind::UsesResults };
            edges.push(DagEdge { from: nodes[u].id.clone(), to: nodes[v].id.clone(), kind });
        }
    }
    (nodes, edges)
}

#[test]
fn dag_with_200_random_tasks_fits_without_overlap() {
    let (nodes, edges) = random_pipeline(200, 7);
    let raw = render_dag(&nodes, &edges).into_string();
    let doc = parse(&raw);
    let svg = check_svg(&doc, &raw, "dag", &["dag"]);
    assert_eq!(all(&doc, "g", "node").len(), 200);
    assert!(all(&doc, "text", "truncated").is_empty());
    let boxes: Vec<_> = all(&doc, "rect", "node-box").iter().map(rect_box).collect();
    boxes_disjoint(&boxes);
    let (w, h) = (num(&svg, "width"), num(&svg, "height"));
    assert!(boxes.iter().all(|b| b.0 >= 0.0 && b.1 >= 0.0 && b.0 + b.2 <= w && b.1 + b.3 <= h));
    assert_eq!(raw, render_dag(&nodes, &edges).into_string(), "deterministic");
}

#[test]
fn dag_caps_huge_graphs_and_says_so() {
    let (nodes, edges) = random_pipeline(450, 11);
    let raw = render_dag(&nodes, &edges).into_string();
    let doc = parse(&raw);
    let svg = check_svg(&doc, &raw, "dag", &["dag"]);
    assert_eq!(all(&doc, "g", "node").len(), MAX_NODES);
    let note = all(&doc, "text", "truncated");
    assert_eq!(note.len(), 1);
    assert!(note[0].text().unwrap_or_default().starts_with("Showing 300 of 450 tasks"));
    assert!(child_title(&svg).starts_with("Task graph: 450 tasks"));
    boxes_disjoint(&all(&doc, "rect", "node-box").iter().map(rect_box).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------------- timeline

fn bar(label: &str, start: i64, end: Option<i64>, status: Status, depth: u8) -> Bar {
    Bar { label: label.into(), href: None, start_ms: start, end_ms: end, status, depth }
}

#[test]
fn timeline_markup_contract() {
    let t = 1_700_000_000_000;
    let mut bars = vec![
        bar("fetch", t, Some(t + 20_000), Status::Succeeded, 0),
        bar("clone", t + 1_000, Some(t + 19_000), Status::Succeeded, 1),
        bar("build", t + 20_000, None, Status::Running, 0),
        bar("compile", t + 21_000, Some(t + 60_000), Status::Succeeded, 1),
        bar("push", t + 60_000, None, Status::Running, 1),
    ];
    bars[2].href = Some("/tr/build".into());
    let raw = render_timeline(&bars, t + 90_000).into_string();
    let doc = parse(&raw);
    let svg = check_svg(&doc, &raw, "timeline", &["timeline"]);
    assert_eq!(child_title(&svg), "Timeline: 2 task runs, 3 steps, 1m30s in total");

    let gs = all(&doc, "g", "bar");
    assert_eq!(gs.len(), 5);
    assert!(has_class(&gs[0], "status-succeeded") && has_class(&gs[0], "depth-0"));
    assert!(has_class(&gs[1], "depth-1"));
    assert!(has_class(&gs[2], "running") && has_class(&gs[4], "running") && !has_class(&gs[3], "running"));
    assert_eq!(child_title(&gs[0]), "fetch: 20s, Succeeded");
    assert_eq!(child_title(&gs[2]), "build: 1m10s, Running, still running");
    assert!(gs[2].children().any(|c| c.has_tag_name("a") && c.attribute("href") == Some("/tr/build")));

    let label_x = |g: &Node| num(&g.descendants().find(|n| has_class(n, "bar-label")).unwrap(), "x");
    assert!(label_x(&gs[1]) > label_x(&gs[0]), "steps are indented");
    let label_y = |g: &Node| num(&g.descendants().find(|n| has_class(n, "bar-label")).unwrap(), "y");
    assert!((0..4).all(|i| label_y(&gs[i]) < label_y(&gs[i + 1])), "one row per bar, in order");

    let rect = |g: &Node| rect_box(&g.descendants().find(|n| has_class(n, "bar-rect")).unwrap());
    let (fetch, build) = (rect(&gs[0]), rect(&gs[2]));
    assert!((fetch.0 + fetch.2 - build.0).abs() < 0.2, "build starts where fetch ends");
    assert!(build.0 > fetch.0);

    let ticks: Vec<_> = all(&doc, "text", "tick-label").iter().map(|n| n.text().unwrap_or_default()).collect();
    assert_eq!(ticks.first(), Some(&"0s"));
    assert!(ticks.contains(&"30s") && ticks.contains(&"1m") && ticks.contains(&"1m30s"), "{ticks:?}");
    assert_eq!(all(&doc, "line", "now").len(), 1);
}

#[test]
fn timeline_survives_extreme_times() {
    let bars = vec![
        bar(HOSTILE, i64::MIN, Some(i64::MAX), Status::Failed, 0),
        bar("backwards", 5_000, Some(1_000), Status::Unknown, 1),
        bar("future", i64::MAX, None, Status::Pending, 7),
        bar("", 0, Some(0), Status::Skipped, 0),
    ];
    for now in [i64::MIN, 0, i64::MAX] {
        let raw = render_timeline(&bars, now).into_string();
        let doc = parse(&raw);
        check_svg(&doc, &raw, "timeline", &["timeline"]);
        let gs = all(&doc, "g", "bar");
        assert_eq!(gs.len(), 4);
        assert!(child_title(&gs[0]).starts_with(HOSTILE));
        assert!(all(&doc, "text", "tick-label").len() <= 10);
        for r in all(&doc, "rect", "bar-rect") {
            assert!(num(&r, "width") >= 2.0);
        }
    }
}

#[test]
fn timeline_empty_and_capped() {
    let raw = render_timeline(&[], 0).into_string();
    let doc = parse(&raw);
    check_svg(&doc, &raw, "timeline", &["timeline", "empty"]);

    let bars: Vec<Bar> =
        (0..350).map(|i| bar(&format!("b{i}"), i * 1000, Some(i * 1000 + 500), Status::Succeeded, 0)).collect();
    let raw = render_timeline(&bars, 0).into_string();
    let doc = parse(&raw);
    check_svg(&doc, &raw, "timeline", &["timeline"]);
    assert_eq!(all(&doc, "g", "bar").len(), MAX_NODES);
    assert_eq!(all(&doc, "text", "truncated")[0].text(), Some("Showing 300 of 350 rows"));
    assert_eq!(raw, render_timeline(&bars, 0).into_string(), "deterministic");
}

// ---------------------------------------------------------------------------------------------- lineage

fn gnode(id: &str, kind: &str) -> GraphNode {
    GraphNode { id: id.into(), kind: kind.into(), label: format!("{kind} {id}"), ..GraphNode::default() }
}

fn gedge(from: &str, to: &str, label: &str) -> GraphEdge {
    GraphEdge { from: from.into(), to: to.into(), label: label.into() }
}

#[test]
fn lineage_markup_contract() {
    // Deliberately out of supply-chain order.
    let mut nodes = vec![
        gnode("img", "Image"),
        gnode("scan", "Scan"),
        gnode("run", "PipelineRun"),
        gnode("repo", "Repository"),
        gnode("c1", "Commit"),
        gnode("tr", "TaskRun"),
        gnode("pl", "Pipeline"),
        gnode("trig", "Trigger"),
        gnode("sys", "System"),
        gnode("w", "Widget"),
        gnode("tr2", "taskrun"),
    ];
    nodes[2].root = true;
    nodes[2].status = Some(Status::Failed);
    nodes[2].href = Some("/runs/run".into());
    nodes[0].expand_href = Some("/lineage?id=img".into());
    let edges = vec![
        gedge("repo", "c1", "HAS_COMMIT"),
        gedge("c1", "run", "BUILT_BY"),
        gedge("trig", "run", "TRIGGERED"),
        gedge("pl", "run", "INSTANCE_OF"),
        gedge("run", "tr", "RAN"),
        gedge("run", "tr2", "RAN"),
        gedge("tr", "img", "PRODUCED"),
        gedge("scan", "img", "SCANNED"),
        gedge("sys", "repo", "HOSTS"),
        gedge("img", "w", "WIDGETED"),
        gedge("img", "nowhere", "DANGLING"),
    ];
    let raw = render_lineage(&nodes, &edges).into_string();
    let doc = parse(&raw);
    let svg = check_svg(&doc, &raw, "lineage", &["graph", "lineage"]);
    assert_eq!(child_title(&svg), "Lineage of PipelineRun run: 11 nodes, 10 edges");

    let gs = all(&doc, "g", "node");
    assert_eq!(gs.len(), 11);
    let by_id = |id: &str| gs.iter().find(|g| g.attribute("data-id") == Some(id)).copied().expect(id);
    let run = by_id("run");
    assert_eq!(classes(&run), ["node", "kind-pipelinerun", "root", "status-failed"]);
    assert!(run.children().any(|c| c.has_tag_name("a") && c.attribute("href") == Some("/runs/run")));
    assert_eq!(classes(&by_id("w")), ["node", "kind-widget"]);
    let expand = by_id("img").children().find(|c| c.has_tag_name("a") && has_class(c, "expand")).expect("+");
    assert_eq!(expand.attribute("href"), Some("/lineage?id=img"));
    assert_eq!(expand.attribute("aria-label"), Some("Expand Image img"));
    assert!(by_id("scan").children().all(|c| !has_class(&c, "expand")));

    // Columns follow the supply chain; unknown kinds last; the two TaskRuns share a column.
    let x = |id: &str| {
        let shape = by_id(id).descendants().find(|n| has_class(n, "shape")).expect("shape");
        shape.attribute("x").map(|v| v.parse::<f64>().unwrap()).unwrap_or_else(|| {
            let pts = shape.attribute("points").unwrap_or_default();
            pts.split([' ', ',']).step_by(2).map(|v| v.parse::<f64>().unwrap()).fold(f64::INFINITY, f64::min)
        })
    };
    let chain = ["sys", "repo", "c1", "trig", "pl", "run", "tr", "img", "scan", "w"];
    for w in chain.windows(2) {
        assert!(x(w[0]) < x(w[1]), "{} should be left of {}", w[0], w[1]);
    }
    assert_eq!(x("tr"), x("tr2"));

    let paths = all(&doc, "path", "edge");
    assert_eq!(paths.len(), 10);
    let produced = paths.iter().find(|p| p.attribute("data-kind") == Some("PRODUCED")).expect("PRODUCED");
    assert_eq!(child_title(produced), "PRODUCED");
    assert_eq!((produced.attribute("data-from"), produced.attribute("data-to")), (Some("tr"), Some("img")));
    assert!(paths.iter().all(|p| p.attribute("marker-end") == Some("url(#lineage-arrow)")));

    let legend = all(&doc, "g", "legend");
    assert_eq!(legend.len(), 1);
    let items: Vec<String> = legend[0]
        .children()
        .filter(|c| has_class(c, "legend-item"))
        .map(|c| c.descendants().find(|n| n.has_tag_name("text")).and_then(|t| t.text()).unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        items,
        ["System", "Repository", "Commit", "Trigger", "Pipeline", "PipelineRun", "TaskRun", "Image", "Scan", "Widget"]
    );
    let shapes: Vec<_> = all(&doc, "rect", "shape")
        .iter()
        .filter(|n| n.ancestors().any(|a| has_class(&a, "node")))
        .map(rect_box)
        .collect();
    boxes_disjoint(&shapes);
}

#[test]
fn lineage_escapes_hostile_input() {
    let mut n = gnode(HOSTILE, HOSTILE);
    n.label = HOSTILE.into();
    n.href = Some("JAVASCRIPT:alert(1)".into());
    n.expand_href = Some("javascript:alert(2)".into());
    n.root = true;
    let m = gnode("b", "Image");
    let raw = render_lineage(&[n, m], &[gedge(HOSTILE, "b", HOSTILE)]).into_string();
    let doc = parse(&raw);
    check_svg(&doc, &raw, "lineage", &["lineage"]);
    let g = all(&doc, "g", "node")[0];
    assert_eq!(g.attribute("data-id"), Some(HOSTILE));
    assert!(classes(&g).iter().all(|c| c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-')));
    assert!(g.descendants().all(|c| !c.has_tag_name("a")));
    assert_eq!(all(&doc, "path", "edge")[0].attribute("data-kind"), Some(HOSTILE));
}

#[test]
fn lineage_empty_cycles_and_cap() {
    let raw = render_lineage(&[], &[gedge("a", "b", "X")]).into_string();
    let doc = parse(&raw);
    check_svg(&doc, &raw, "lineage", &["graph", "lineage", "empty"]);

    // Same-column edges, backward edges, self-loops, cycles and a duplicate id.
    let nodes = vec![gnode("a", "Commit"), gnode("b", "Commit"), gnode("i", "Image"), gnode("a", "Scan")];
    let edges = vec![gedge("a", "b", "PARENT"), gedge("i", "a", "FROM"), gedge("a", "a", "SELF"), gedge("b", "i", "X")];
    let raw = render_lineage(&nodes, &edges).into_string();
    let doc = parse(&raw);
    check_svg(&doc, &raw, "lineage", &["lineage"]);
    assert_eq!(all(&doc, "g", "node").len(), 3);
    assert_eq!(all(&doc, "path", "edge").len(), 4);

    // 500 nodes: the root (in the last column) survives the cap.
    let mut nodes: Vec<GraphNode> = (0..500).map(|i| gnode(&format!("n{i}"), "TaskRun")).collect();
    nodes.push(GraphNode { root: true, ..gnode("root", "Scan") });
    let edges: Vec<GraphEdge> = (0..499).map(|i| gedge(&format!("n{i}"), "root", "SCANNED")).collect();
    let raw = render_lineage(&nodes, &edges).into_string();
    let doc = parse(&raw);
    let svg = check_svg(&doc, &raw, "lineage", &["lineage"]);
    let gs = all(&doc, "g", "node");
    assert_eq!(gs.len(), MAX_NODES);
    assert!(gs.iter().any(|g| g.attribute("data-id") == Some("root") && has_class(g, "root")));
    assert_eq!(all(&doc, "text", "truncated")[0].text(), Some("Showing 300 of 501 nodes; showing 299 of 499 edges"));
    assert_eq!(child_title(&svg), "Lineage of Scan root: 501 nodes, 499 edges");
    assert_eq!(raw, render_lineage(&nodes, &edges).into_string(), "deterministic");
}

#[test]
fn dense_graphs_stay_bounded() {
    // A 1000-task chain with 5000 long skip edges: capped to 300 tasks and 1500 edges, with long edges routed
    // through at most a bounded number of virtual points.
    let nodes: Vec<DagNode> = (0..1000).map(|i| task(&format!("t{i:04}"))).collect();
    let mut edges: Vec<DagEdge> =
        (1..1000).map(|i| dep(&format!("t{:04}", i - 1), &format!("t{i:04}"), DagEdgeKind::RunAfter)).collect();
    let mut s = 99u64;
    for _ in 0..5000 {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let a = (s >> 33) as usize % 300;
        let b = (s >> 13) as usize % 300;
        if a < b {
            edges.push(dep(&format!("t{a:04}"), &format!("t{b:04}"), DagEdgeKind::UsesResults));
        }
    }
    let start = std::time::Instant::now();
    let raw = render_dag(&nodes, &edges).into_string();
    let elapsed = start.elapsed();
    let doc = parse(&raw);
    check_svg(&doc, &raw, "dag", &["dag"]);
    assert_eq!(all(&doc, "g", "node").len(), MAX_NODES);
    assert_eq!(all(&doc, "path", "edge").len(), tekton_graph_svg::MAX_EDGES);
    let note = all(&doc, "text", "truncated")[0].text().unwrap_or_default().to_owned();
    assert!(note.starts_with("Showing 300 of 1000 tasks; showing 1500 of "), "{note}");
    assert!(elapsed.as_secs() < 20, "took {elapsed:?}");
    eprintln!("dense graph rendered in {elapsed:?}, {} bytes", raw.len());
}
