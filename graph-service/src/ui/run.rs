//! The Run page: status, timings, commit, neighbours, the task DAG, the timeline, steps, images and scans.

use maud::{Markup, html};
use poem::web::{Data, Path};
use poem::{Response, handler};
use serde_json::{Value, json};
use tekton_graph_svg::{Bar, DagEdge, DagEdgeKind, DagNode, Status, render_dag, render_timeline};

use super::format::{duration, prefix, short_digest, status, time, value};
use super::layout::{Nav, shell};
use super::{PageError, Ui, at, list, node_href, respond, run_href, s, segment};

pub const QUERY: &str = r#"
query Run($namespace: String!, $name: String!) {
  pipelineRun(namespace: $namespace, name: $name) {
    uid namespace name status reason message startTime completionTime durationSeconds
    signed deletedFromCluster observedFrom
    pipeline { name }
    params { name value } results { name value } labels { key value }
    trigger { kind eventListener trigger eventId }
    commit { sha author authorEmail title message timestamp repository { key url } }
    previous { name status } next { name status } rerunOf { name status } reruns { name status }
    images { digest repository tags }
    scans { id imageDigest source vulnerabilities { critical high medium low unknown total } }
    pipelineTasks {
      name task runAfter usesResultsOf finally when state skipReason
      taskRun { name status startTime completionTime durationSeconds
        steps { name image exitCode terminatedReason startedAt finishedAt durationSeconds } }
    }
  }
}"#;

#[handler]
pub async fn page(ui: Data<&Ui>, Path((namespace, name)): Path<(String, String)>) -> Response {
    respond(render(&ui, &namespace, &name).await)
}

async fn render(ui: &Ui, namespace: &str, name: &str) -> Result<Markup, PageError> {
    let data = ui.query(QUERY, json!({ "namespace": namespace, "name": name })).await?;
    let run = at(&data, &["pipelineRun"]);
    if run.is_null() {
        return Err(PageError::not_found(
            "Run not found",
            format!("There is no PipelineRun `{namespace}/{name}` in the graph."),
        ));
    }
    let tasks = list(run, &["pipelineTasks"]);
    let pipeline = s(run, &["pipeline", "name"]);
    let body = html! {
        p.hint { a href="/" { "Runs" } " / " (namespace) @if !pipeline.is_empty() { " / " (pipeline) } }
        h1 { (name) " " (status(s(run, &["status"]))) }
        @if !s(run, &["message"]).is_empty() { p.panel { b { (s(run, &["reason"])) } ": " (s(run, &["message"])) } }
        div.grid {
            (overview(ui, run, namespace, name))
            (commit_panel(at(run, &["commit"])))
            (neighbours(run, namespace, name))
        }
        h2 #tasks-heading { "Tasks" }
        @if tasks.is_empty() {
            p.muted { "No tasks known for this run (no pipeline spec and no TaskRuns observed)." }
        } @else {
            div.graph-tools data-zoom-for="dag-box" {
                button.quiet type="button" data-zoom="1.25" aria-label="Zoom in" { "+" }
                button.quiet type="button" data-zoom="0.8" aria-label="Zoom out" { "−" }
                button.quiet type="button" data-zoom="reset" { "Reset" }
                span.hint { "Solid: runAfter · dashed: uses results · colour: TaskRun status" }
            }
            div #dag-box .scroll.pan { (dag(tasks, namespace)) }
            (task_table(tasks))
            h2 { "Timeline" }
            div #timeline-box .scroll { (timeline(tasks)) }
            (steps_table(tasks))
        }
        div.side {
            div { h2 { "Params" } (values(list(run, &["params"]), "params")) }
            div { h2 { "Results" } (values(list(run, &["results"]), "results")) }
        }
        (outputs(run))
        h2 { "Labels" }
        @if list(run, &["labels"]).is_empty() { p.muted { "None." } } @else {
            table #labels { tbody { @for l in list(run, &["labels"]) { tr { td.mono { (s(l, &["key"])) } td.mono { (s(l, &["value"])) } } } } }
        }
    };
    Ok(shell(name, Nav::Runs, &format!("run:{namespace}/{name}"), body))
}

fn overview(ui: &Ui, run: &Value, namespace: &str, name: &str) -> Markup {
    let trigger = at(run, &["trigger"]);
    html! {
        section.panel aria-label="Overview" {
            dl.facts {
                dt { "Namespace" } dd { (namespace) }
                dt { "Pipeline" } dd { (s(run, &["pipeline", "name"])) }
                dt { "Started" } dd.mono { (time(s(run, &["startTime"]))) }
                dt { "Completed" } dd.mono { (time(s(run, &["completionTime"]))) }
                dt { "Duration" } dd { (duration(run["durationSeconds"].as_f64())) }
                @if !trigger.is_null() {
                    dt { "Trigger" } dd { (s(trigger, &["kind"])) " " span.muted { (s(trigger, &["eventListener"])) " " (s(trigger, &["trigger"])) } }
                }
                @if !s(run, &["signed"]).is_empty() { dt { "Signed (Chains)" } dd { (s(run, &["signed"])) } }
                @if run["deletedFromCluster"].as_bool() == Some(true) { dt { "Cluster" } dd { span.badge.deleted { "deleted from the cluster" } } }
                dt { "Observed from" } dd { (s(run, &["observedFrom"])) }
            }
            p {
                a #diff-link .button href={ (run_href(namespace, name)) "/diff" } { "Compare with previous run" }
                @if let Some(dashboard) = &ui.config().dashboard_url {
                    " " a #dashboard-link href={ (dashboard.trim_end_matches('/')) "/#/namespaces/" (segment(namespace)) "/pipelineruns/" (segment(name)) } { "Logs in Tekton Dashboard" }
                }
            }
        }
    }
}

fn commit_panel(commit: &Value) -> Markup {
    html! {
        section.panel aria-label="Commit" {
            @if commit.is_null() { p.muted { "No commit known." } } @else {
                @let sha = s(commit, &["sha"]);
                @let repo = s(commit, &["repository", "key"]);
                dl.facts {
                    dt { "Commit" } dd { a.mono href=(node_href(&format!("commit:{repo}@{sha}")).unwrap_or_default()) { (prefix(sha, 12)) } }
                    dt { "Repository" } dd {
                        a href=(node_href(&format!("repository:{repo}")).unwrap_or_default()) { (repo) }
                        " " a href=(s(commit, &["repository", "url"])) rel="noreferrer" { "↗" }
                    }
                    dt { "Author" } dd { (s(commit, &["author"])) " " span.muted { (s(commit, &["authorEmail"])) } }
                    dt { "Message" } dd { (s(commit, &["title"])) }
                    dt { "Committed" } dd.mono { (time(s(commit, &["timestamp"]))) }
                }
            }
        }
    }
}

fn run_link(namespace: &str, run: &Value) -> Markup {
    let name = s(run, &["name"]);
    html! { a href=(run_href(namespace, name)) { (name) } " " (status(s(run, &["status"]))) }
}

fn neighbours(run: &Value, namespace: &str, _name: &str) -> Markup {
    html! {
        section.panel aria-label="Related runs" {
            dl.facts {
                dt { "Previous" } dd #previous-run { @if at(run, &["previous"]).is_null() { span.muted { "—" } } @else { (run_link(namespace, at(run, &["previous"]))) } }
                dt { "Next" } dd #next-run { @if at(run, &["next"]).is_null() { span.muted { "—" } } @else { (run_link(namespace, at(run, &["next"]))) } }
                @if !at(run, &["rerunOf"]).is_null() { dt { "Re-run of" } dd { (run_link(namespace, at(run, &["rerunOf"]))) } }
                @if !list(run, &["reruns"]).is_empty() {
                    dt { "Re-runs" } dd { @for r in list(run, &["reruns"]) { div { (run_link(namespace, r)) } } }
                }
            }
        }
    }
}

fn svg_status(state: &str) -> Status {
    Status::from_str_lossy(if state == "NOT_OBSERVED" { "PENDING" } else { state })
}

fn dag(tasks: &[Value], namespace: &str) -> Markup {
    let names: Vec<&str> = tasks.iter().map(|t| s(t, &["name"])).collect();
    let nodes: Vec<DagNode> = tasks
        .iter()
        .map(|t| {
            let state = s(t, &["state"]);
            let task_run = s(t, &["taskRun", "name"]);
            DagNode {
                id: s(t, &["name"]).to_string(),
                label: s(t, &["name"]).to_string(),
                sublabel: Some(match t["taskRun"]["durationSeconds"].as_f64() {
                    Some(d) => format!("{} · {}", state.to_ascii_lowercase().replace('_', " "), duration(Some(d))),
                    None => state.to_ascii_lowercase().replace('_', " "),
                }),
                status: svg_status(state),
                href: (!task_run.is_empty()).then(|| format!("#taskrun-{}", segment(task_run))),
                finally: t["finally"].as_bool() == Some(true),
            }
        })
        .collect();
    let _ = namespace;
    let mut edges = Vec::new();
    for t in tasks {
        let to = s(t, &["name"]);
        for from in list(t, &["runAfter"]).iter().filter_map(Value::as_str) {
            if names.contains(&from) {
                edges.push(DagEdge { from: from.into(), to: to.into(), kind: DagEdgeKind::RunAfter });
            }
        }
        for from in list(t, &["usesResultsOf"]).iter().filter_map(Value::as_str) {
            let declared = list(t, &["runAfter"]).iter().any(|r| r.as_str() == Some(from));
            if names.contains(&from) && !declared {
                edges.push(DagEdge { from: from.into(), to: to.into(), kind: DagEdgeKind::UsesResults });
            }
        }
    }
    render_dag(&nodes, &edges)
}

/// The DAG's text twin: every task with what it waits for and how it ended.
fn task_table(tasks: &[Value]) -> Markup {
    html! {
        table #dag-list .nav aria-label="Tasks (text version of the task graph)" {
            thead { tr { th { "Task" } th { "State" } th { "Runs after" } th { "Uses results of" } th { "When" } th { "TaskRun" } th { "Duration" } } }
            tbody {
                @for t in tasks {
                    @let task_run = s(t, &["taskRun", "name"]);
                    tr data-task=(s(t, &["name"])) {
                        td { (s(t, &["name"])) @if t["finally"].as_bool() == Some(true) { " " span.badge.status-skipped { "finally" } }
                             div.hint { (s(t, &["task"])) } }
                        td { (status(s(t, &["state"]))) @if !s(t, &["skipReason"]).is_empty() { div.hint { (s(t, &["skipReason"])) } } }
                        td { (join(list(t, &["runAfter"]))) }
                        td { (join(list(t, &["usesResultsOf"]))) }
                        td.mono { @for w in list(t, &["when"]) { div { (value(w)) } } }
                        td { @if task_run.is_empty() { span.muted { "—" } } @else { a href={ "#taskrun-" (segment(task_run)) } { (task_run) } } }
                        td { (duration(t["taskRun"]["durationSeconds"].as_f64())) }
                    }
                }
            }
        }
    }
}

fn join(values: &[Value]) -> String {
    values.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")
}

fn millis(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| t.timestamp_millis())
}

fn timeline(tasks: &[Value]) -> Markup {
    let mut runs: Vec<&Value> = tasks.iter().filter(|t| !at(t, &["taskRun"]).is_null()).collect();
    runs.sort_by_key(|t| (millis(s(t, &["taskRun", "startTime"])).unwrap_or(i64::MAX), s(t, &["name"]).to_string()));
    let mut bars = Vec::new();
    for t in runs {
        let tr = at(t, &["taskRun"]);
        let Some(start) = millis(s(tr, &["startTime"])) else { continue };
        bars.push(Bar {
            label: s(t, &["name"]).to_string(),
            href: Some(format!("#taskrun-{}", segment(s(tr, &["name"])))),
            start_ms: start,
            end_ms: millis(s(tr, &["completionTime"])),
            status: Status::from_str_lossy(s(tr, &["status"])),
            depth: 0,
        });
        for step in list(tr, &["steps"]) {
            let Some(step_start) = millis(s(step, &["startedAt"])) else { continue };
            let failed = step["exitCode"].as_i64().is_some_and(|c| c != 0);
            let finished = millis(s(step, &["finishedAt"]));
            bars.push(Bar {
                label: s(step, &["name"]).to_string(),
                href: None,
                start_ms: step_start,
                end_ms: finished,
                status: match (failed, finished) {
                    (true, _) => Status::Failed,
                    (false, Some(_)) => Status::Succeeded,
                    (false, None) => Status::Running,
                },
                depth: 1,
            });
        }
    }
    if bars.is_empty() {
        return html! { p.muted.empty { "No start times known yet." } };
    }
    render_timeline(&bars, chrono::Utc::now().timestamp_millis())
}

/// Steps of every TaskRun with exit codes and reasons: also the timeline's text twin.
fn steps_table(tasks: &[Value]) -> Markup {
    html! {
        h2 { "Steps" }
        @for t in tasks.iter().filter(|t| !at(t, &["taskRun"]).is_null()) {
            @let tr = at(t, &["taskRun"]);
            section.panel id={ "taskrun-" (segment(s(tr, &["name"]))) } aria-label={ "TaskRun " (s(tr, &["name"])) } {
                b { (s(t, &["name"])) } " " (status(s(tr, &["status"]))) " " span.muted.mono { (s(tr, &["name"])) }
                span.hint { " · " (time(s(tr, &["startTime"]))) " · " (duration(tr["durationSeconds"].as_f64())) }
                @if !list(tr, &["steps"]).is_empty() {
                    table.steps {
                        thead { tr { th { "Step" } th { "Image" } th { "Exit" } th { "Reason" } th { "Started" } th { "Duration" } } }
                        tbody { @for step in list(tr, &["steps"]) {
                            @let code = step["exitCode"].as_i64();
                            tr class=@if code.is_some_and(|c| c != 0) { "removed" } @else { "" } {
                                td { (s(step, &["name"])) }
                                td.mono { (prefix(s(step, &["image"]), 60)) }
                                td { @match code { Some(c) => { (c) }, None => { "—" } } }
                                td { (s(step, &["terminatedReason"])) }
                                td.mono { (time(s(step, &["startedAt"]))) }
                                td { (duration(step["durationSeconds"].as_f64())) }
                            }
                        } }
                    }
                }
            }
        }
    }
}

fn values(items: &[Value], id: &str) -> Markup {
    html! {
        @if items.is_empty() { p.muted { "None." } } @else {
            table id=(id) { tbody { @for v in items { tr { td.mono { (s(v, &["name"])) } td.mono { (value(&v["value"])) } } } } }
        }
    }
}

fn outputs(run: &Value) -> Markup {
    html! {
        div.side {
            div {
                h2 { "Images produced" }
                @if list(run, &["images"]).is_empty() { p.muted { "None." } } @else {
                    ul #images { @for image in list(run, &["images"]) {
                        @let digest = s(image, &["digest"]);
                        li { a.mono href=(node_href(&format!("image:{digest}")).unwrap_or_default()) { (short_digest(digest)) } " " span.muted { (s(image, &["repository"])) } }
                    } }
                }
            }
            div {
                h2 { "Scans" }
                @if list(run, &["scans"]).is_empty() { p.muted { "None." } } @else {
                    table #scans {
                        thead { tr { th { "Image" } th { "Critical" } th { "High" } th { "Medium" } th { "Low" } th { "Source" } } }
                        tbody { @for scan in list(run, &["scans"]) {
                            @let v = at(scan, &["vulnerabilities"]);
                            tr {
                                td.mono { (short_digest(s(scan, &["imageDigest"]))) }
                                td { (v["critical"].as_i64().unwrap_or(0)) } td { (v["high"].as_i64().unwrap_or(0)) }
                                td { (v["medium"].as_i64().unwrap_or(0)) } td { (v["low"].as_i64().unwrap_or(0)) }
                                td.mono { (s(scan, &["source"])) }
                            }
                        } }
                    }
                }
            }
        }
    }
}
