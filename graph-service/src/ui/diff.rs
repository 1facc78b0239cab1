//! The Diff page: a run against the previous run of its pipeline (or one the user picks), side by side.

use maud::{Markup, html};
use poem::web::{Data, Path, Query};
use poem::{Response, handler};
use serde::Deserialize;
use serde_json::{Value, json};

use super::format::{count_delta, delta, duration, prefix, short_digest, status, time, value};
use super::layout::{Nav, shell};
use super::{PageError, Ui, at, list, node_href, respond, run_href, s};

pub const QUERY: &str = r#"
query Diff($namespace: String!, $name: String!, $against: String) {
  diff(namespace: $namespace, name: $name, against: $against) {
    base { name status startTime durationSeconds pipeline { name } }
    head { name status startTime durationSeconds pipeline { name } }
    commitChanged statusChanged durationDeltaSeconds
    commits { before { sha author title repository { key } } after { sha author title repository { key } } }
    params { key before after }
    results { key before after }
    tasks { pipelineTask change statusBefore statusAfter durationBeforeSeconds durationAfterSeconds durationDeltaSeconds }
    images { added removed unchanged }
    scans {
      before { critical high medium low total }
      after { critical high medium low total }
      delta { critical high medium low total }
    }
  }
}"#;

const OTHERS: &str = r#"
query Others($namespace: String!, $pipeline: String!) {
  pipelineRuns(filter: { namespace: $namespace, pipeline: $pipeline }, first: 30) { edges { node { name status startTime } } }
}"#;

#[derive(Debug, Default, Deserialize)]
pub struct DiffParams {
    #[serde(default)]
    against: String,
}

#[handler]
pub async fn page(
    ui: Data<&Ui>,
    Path((namespace, name)): Path<(String, String)>,
    params: Query<DiffParams>,
) -> Response {
    respond(render(&ui, &namespace, &name, &params.against).await)
}

async fn render(ui: &Ui, namespace: &str, name: &str, against: &str) -> Result<Markup, PageError> {
    let against = (!against.is_empty()).then_some(against);
    let data = ui.query(QUERY, json!({ "namespace": namespace, "name": name, "against": against })).await;
    let data = match data {
        Err(e) if against.is_some() => {
            return Err(PageError::not_found("Nothing to compare with", e.detail));
        }
        other => other?,
    };
    let diff = at(&data, &["diff"]);
    if diff.is_null() {
        return Err(PageError::not_found(
            "Run not found",
            format!("There is no PipelineRun `{namespace}/{name}` in the graph."),
        ));
    }
    let pipeline = s(diff, &["head", "pipeline", "name"]);
    let others = if pipeline.is_empty() {
        Vec::new()
    } else {
        let data = ui.query(OTHERS, json!({ "namespace": namespace, "pipeline": pipeline })).await?;
        list(&data, &["pipelineRuns", "edges"])
            .iter()
            .map(|e| e["node"].clone())
            .filter(|n| s(n, &["name"]) != name)
            .collect()
    };
    let base = at(diff, &["base"]);
    let body = html! {
        p.hint { a href="/" { "Runs" } " / " a href=(run_href(namespace, name)) { (name) } " / diff" }
        h1 { "What changed in " (name) }
        form #against-form .filters method="get" {
            label { "Compare with"
                select name="against" {
                    option value="" { "previous run of " (if pipeline.is_empty() { "the pipeline" } else { pipeline }) }
                    @for other in &others {
                        @let other_name = s(other, &["name"]);
                        option value=(other_name) selected[against == Some(other_name)] { (other_name) " (" (s(other, &["status"]).to_ascii_lowercase()) ", " (time(s(other, &["startTime"]))) ")" }
                    }
                }
            }
            button type="submit" { "Compare" }
        }
        @if base.is_null() {
            p.panel #no-base { "This is the first run of its pipeline: there is nothing earlier to compare with." }
        } @else {
            section #diff aria-label="Differences" {
                (headline(diff, namespace))
                (commits(diff))
                (tasks(diff))
                div.side {
                    div { h2 { "Params" } (values(list(diff, &["params"]), "param-diff")) }
                    div { h2 { "Results" } (values(list(diff, &["results"]), "result-diff")) }
                }
                (images(diff))
                (vulnerabilities(diff))
            }
        }
    };
    Ok(shell(&format!("Diff {name}"), Nav::Runs, &format!("run:{namespace}/{name}"), body))
}

fn headline(diff: &Value, namespace: &str) -> Markup {
    let side = |run: &Value, label: &str| {
        html! {
            div.panel {
                div.hint { (label) }
                b { a href=(run_href(namespace, s(run, &["name"]))) { (s(run, &["name"])) } } " " (status(s(run, &["status"])))
                div.mono.hint { (time(s(run, &["startTime"]))) " · " (duration(run["durationSeconds"].as_f64())) }
            }
        }
    };
    let changed_tasks = list(diff, &["tasks"]).iter().filter(|t| s(t, &["change"]) != "UNCHANGED").count();
    html! {
        div.side { (side(at(diff, &["base"]), "Before")) (side(at(diff, &["head"]), "After")) }
        ul #diff-summary .panel {
            li class=@if diff["statusChanged"].as_bool() == Some(true) { "changed" } @else { "" } {
                "Status: " @if diff["statusChanged"].as_bool() == Some(true) { (status(s(diff, &["base", "status"]))) " → " (status(s(diff, &["head", "status"]))) } @else { "unchanged" }
            }
            li { "Duration: " (delta(diff["durationDeltaSeconds"].as_f64())) }
            li class=@if diff["commitChanged"].as_bool() == Some(true) { "changed" } @else { "" } {
                "Commit: " @if diff["commitChanged"].as_bool() == Some(true) { "changed" } @else { "same" }
            }
            li { "Tasks changed: " (changed_tasks) }
            li { "Params changed: " (list(diff, &["params"]).len()) " · results changed: " (list(diff, &["results"]).len()) }
            li { "New images: " (list(diff, &["images", "added"]).len()) }
            li { "Vulnerabilities: critical " (count_delta(diff["scans"]["delta"]["critical"].as_i64().unwrap_or(0)))
                 ", high " (count_delta(diff["scans"]["delta"]["high"].as_i64().unwrap_or(0))) }
        }
    }
}

fn commit_side(commit: &Value) -> Markup {
    html! {
        @if commit.is_null() { span.muted { "no commit" } } @else {
            @let sha = s(commit, &["sha"]);
            @let repo = s(commit, &["repository", "key"]);
            a.mono href=(node_href(&format!("commit:{repo}@{sha}")).unwrap_or_default()) { (prefix(sha, 12)) }
            " " (s(commit, &["author"])) div.hint { (s(commit, &["title"])) }
        }
    }
}

fn commits(diff: &Value) -> Markup {
    let changed = diff["commitChanged"].as_bool() == Some(true);
    html! {
        h2 { "Commit" }
        table #commit-diff { tbody { tr class=@if changed { "changed" } @else { "" } {
            td { (commit_side(at(diff, &["commits", "before"]))) }
            td { "→" }
            td { (commit_side(at(diff, &["commits", "after"]))) }
        } } }
    }
}

fn tasks(diff: &Value) -> Markup {
    let rows = list(diff, &["tasks"]);
    html! {
        h2 { "Tasks" }
        @if rows.is_empty() { p.muted { "No tasks observed in either run." } } @else {
            table #task-diff {
                thead { tr { th { "Task" } th { "Change" } th { "Before" } th { "After" } th { "Duration before" } th { "Duration after" } th { "Δ" } } }
                tbody { @for t in rows {
                    @let change = s(t, &["change"]);
                    tr data-task=(s(t, &["pipelineTask"])) class=(match change { "ADDED" => "added", "REMOVED" => "removed", "STATUS_CHANGED" => "changed", _ => "" }) {
                        td { (s(t, &["pipelineTask"])) }
                        td { (change.to_ascii_lowercase().replace('_', " ")) }
                        td { (status(s(t, &["statusBefore"]))) }
                        td { (status(s(t, &["statusAfter"]))) }
                        td { (duration(t["durationBeforeSeconds"].as_f64())) }
                        td { (duration(t["durationAfterSeconds"].as_f64())) }
                        td { (delta(t["durationDeltaSeconds"].as_f64())) }
                    }
                } }
            }
        }
    }
}

fn values(rows: &[Value], id: &str) -> Markup {
    html! {
        @if rows.is_empty() { p.muted { "No changes." } } @else {
            table id=(id) {
                thead { tr { th { "Name" } th { "Before" } th { "After" } } }
                tbody { @for row in rows {
                    tr.changed {
                        td.mono { (s(row, &["key"])) }
                        td.mono.removed { (value(&row["before"])) }
                        td.mono.added { (value(&row["after"])) }
                    }
                } }
            }
        }
    }
}

fn images(diff: &Value) -> Markup {
    let group = |key: &str, class: &str, label: &str| {
        html! {
            @for digest in list(diff, &["images", key]).iter().filter_map(Value::as_str) {
                tr class=(class) { td { (label) } td { a.mono href=(node_href(&format!("image:{digest}")).unwrap_or_default()) { (short_digest(digest)) } } }
            }
        }
    };
    html! {
        h2 { "Images" }
        table #image-diff { tbody {
            (group("added", "added", "new"))
            (group("removed", "removed", "no longer produced"))
            (group("unchanged", "", "same"))
        } }
    }
}

fn vulnerabilities(diff: &Value) -> Markup {
    let scans = at(diff, &["scans"]);
    html! {
        h2 { "Vulnerabilities" }
        table #vulnerability-diff {
            thead { tr { th {} th { "Critical" } th { "High" } th { "Medium" } th { "Low" } th { "Total" } } }
            tbody {
                @for (label, key) in [("Before", "before"), ("After", "after")] {
                    tr { td { (label) } @for sev in ["critical", "high", "medium", "low", "total"] { td { (scans[key][sev].as_i64().unwrap_or(0)) } } }
                }
                tr { td { "Δ" } @for sev in ["critical", "high", "medium", "low", "total"] { td { (count_delta(scans["delta"][sev].as_i64().unwrap_or(0))) } } }
            }
        }
        p.hint { "Over the latest scan of each image the run produced." }
    }
}
