//! The Runs page (home): PipelineRuns newest first with filters, a summary and cursor paging.

use maud::{Markup, html};
use poem::web::{Data, Query};
use poem::{Response, handler};
use serde::Deserialize;
use serde_json::{Value, json};

use super::format::{duration, prefix, short_digest, status, time};
use super::layout::{Nav, empty, shell};
use super::{PageError, Ui, at, list, node_href, query_string, respond, run_href, s};

pub const QUERY: &str = r#"
query Runs($filter: PipelineRunFilter, $first: Int!, $after: String) {
  pipelineRuns(filter: $filter, first: $first, after: $after) {
    edges { node {
      namespace name status startTime durationSeconds deletedFromCluster
      pipeline { name }
      commit { sha author title repository { key url } }
      images { digest repository }
      scans { critical high }
      rerunOf { name }
      previous { status }
    } }
    pageInfo { hasNextPage endCursor }
  }
}"#;

/// The newest matching run's start, which anchors the summary's default window: one listing seek, read before the
/// page and the summary so that those two run at the same time.
pub const NEWEST: &str = r#"
query Newest($filter: PipelineRunFilter) {
  newest: pipelineRuns(filter: $filter, first: 1) { edges { node { startTime } } }
}"#;

/// The summary on top, over a time range (`since`/`until`, else the window up to the newest run).
pub const SUMMARY: &str = r#"
query Summary($filter: PipelineRunFilter) {
  runSummary(filter: $filter) {
    total
    byStatus { status runs }
    pipelines { namespace name runs successRate medianDurationSeconds latestStatus }
  }
}"#;

/// Without a chosen range, the summary covers this many days up to the newest matching run: a bounded read
/// however long the history, and the recent picture a team looks for.
const SUMMARY_DAYS: i64 = 7;

const STATUSES: [&str; 7] = ["SUCCEEDED", "FAILED", "RUNNING", "PENDING", "CANCELLED", "TIMED_OUT", "UNKNOWN"];

/// The page's URL state.
#[derive(Debug, Default, Deserialize)]
pub struct RunsParams {
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    pipeline: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    repository: String,
    #[serde(default)]
    system: String,
    /// A date (`2024-05-15`) or an RFC 3339 time.
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    after: String,
}

impl RunsParams {
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.namespace.as_str()),
            ("pipeline", &self.pipeline),
            ("status", &self.status),
            ("repository", &self.repository),
            ("system", &self.system),
            ("since", &self.since),
            ("until", &self.until),
        ]
    }

    /// The pairs of the page after this one.
    fn next_page<'a>(&'a self, cursor: &'a str) -> Vec<(&'static str, &'a str)> {
        let mut pairs = self.pairs();
        pairs.push(("after", cursor));
        pairs
    }

    fn filter(&self) -> Result<Value, PageError> {
        let mut filter = serde_json::Map::new();
        for (key, value) in self.pairs() {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            let value = match key {
                "status" if !STATUSES.contains(&value) => {
                    return Err(PageError::bad_request(format!("unknown status `{value}`")));
                }
                "since" | "until" => json!(parse_time(key, value)?),
                _ => json!(value),
            };
            filter.insert(key.to_string(), value);
        }
        Ok(Value::Object(filter))
    }
}

fn parse_time(key: &str, text: &str) -> Result<String, PageError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&chrono::Utc).to_rfc3339());
    }
    match chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(d) => Ok(format!("{d}T00:00:00Z")),
        Err(_) => {
            Err(PageError::bad_request(format!("`{key}`: `{text}` is not a date (YYYY-MM-DD) or an RFC 3339 time")))
        }
    }
}

/// Rows per page.
const PAGE_SIZE: i64 = 50;

#[handler]
pub async fn page(ui: Data<&Ui>, params: Query<RunsParams>) -> Response {
    respond(render(&ui, &params).await)
}

async fn render(ui: &Ui, params: &RunsParams) -> Result<Markup, PageError> {
    let after = (!params.after.is_empty()).then_some(params.after.as_str());
    let filter = params.filter()?;
    let chosen_range = filter.get("since").is_some() || filter.get("until").is_some();
    let newest = match chosen_range {
        true => Value::Null,
        false => ui.query(NEWEST, json!({ "filter": filter })).await?,
    };
    let (summary_filter, window) = summary_window(filter.clone(), newest_start(&newest));
    let (data, summary) = futures::try_join!(
        ui.query(QUERY, json!({ "filter": filter, "first": PAGE_SIZE, "after": after })),
        ui.query(SUMMARY, json!({ "filter": summary_filter })),
    )?;
    let runs = list(&data, &["pipelineRuns", "edges"]);
    let page_info = at(&data, &["pipelineRuns", "pageInfo"]);
    let summary = at(&summary, &["runSummary"]);
    let body = html! {
        h1 { "Pipeline runs" }
        (filters(params))
        (summary_panel(summary, window.as_deref()))
        @if runs.is_empty() {
            (empty(if params.after.is_empty() { "No PipelineRuns match. Send facts to POST /events, or clear the filters." } else { "No more runs." }))
        } @else {
            div.scroll {
                table #runs .nav {
                    caption.skip-link { "PipelineRuns, newest first" }
                    thead { tr {
                        th { "Status" } th { "Run" } th { "Pipeline" } th { "Namespace" } th { "Started" }
                        th { "Duration" } th { "Commit" } th { "Images" } th { "Scans" }
                    } }
                    tbody { @for edge in runs { (row(&edge["node"])) } }
                }
            }
        }
        nav.pager aria-label="Pages" {
            @if !params.after.is_empty() {
                a #first-page href={ "/" (query_string(&params.pairs())) } { "← Newest" }
            }
            @if page_info["hasNextPage"].as_bool() == Some(true) {
                a #next-page rel="next" href={ "/" (query_string(&params.next_page(s(page_info, &["endCursor"])))) } { "Older →" }
            }
        }
    };
    Ok(shell("Pipeline runs", Nav::Runs, "all", body))
}

fn filters(params: &RunsParams) -> Markup {
    let text = |name: &'static str, label: &'static str, value: &str, hint: &'static str| {
        html! { label { (label) input type="text" name=(name) value=(value) placeholder=(hint); } }
    };
    html! {
        form #filters .filters method="get" action="/" aria-label="Filters" {
            (text("namespace", "Namespace", &params.namespace, "any"))
            (text("pipeline", "Pipeline", &params.pipeline, "any"))
            label { "Status" select name="status" {
                option value="" { "any" }
                @for st in STATUSES {
                    option value=(st) selected[params.status == st] { (st.to_ascii_lowercase().replace('_', " ")) }
                }
            } }
            (text("repository", "Repository", &params.repository, "github.com/org/repo"))
            (text("system", "System", &params.system, "any"))
            label { "Since" input type="text" name="since" value=(params.since) placeholder="YYYY-MM-DD"; }
            label { "Until" input type="text" name="until" value=(params.until) placeholder="YYYY-MM-DD"; }
            button type="submit" { "Filter" }
            a href="/" { "Clear" }
        }
    }
}

fn newest_start(data: &Value) -> &str {
    list(data, &["newest", "edges"]).first().map(|e| s(e, &["node", "startTime"])).unwrap_or_default()
}

/// The summary's filter: the page's, limited to the last [`SUMMARY_DAYS`] up to the newest run when the user chose
/// no range; and the text that says so.
fn summary_window(mut filter: Value, newest: &str) -> (Value, Option<String>) {
    if filter.get("since").is_some() || filter.get("until").is_some() {
        return (filter, None);
    }
    let Ok(newest) = chrono::DateTime::parse_from_rfc3339(newest) else { return (filter, None) };
    let since = newest.to_utc() - chrono::Duration::days(SUMMARY_DAYS);
    filter["since"] = json!(since.to_rfc3339());
    let text = format!(
        "the {SUMMARY_DAYS} days up to the newest run ({} – {})",
        since.format("%Y-%m-%d %H:%M"),
        newest.to_utc().format("%Y-%m-%d %H:%M UTC")
    );
    (filter, Some(text))
}

fn summary_panel(summary: &Value, window: Option<&str>) -> Markup {
    let pipelines = list(summary, &["pipelines"]);
    html! {
        section #summary aria-label="Summary" {
            p.hint #summary-range {
                "Summary of " @match window { Some(w) => { (w) "; set Since/Until for another range." }, None => { "the chosen range." } }
            }
            div.summary {
                div.stat { b { (summary["total"].as_u64().unwrap_or(0)) } span.muted { "runs" } }
                @for st in list(summary, &["byStatus"]) {
                    div.stat { b { (st["runs"].as_u64().unwrap_or(0)) } (status(s(st, &["status"]))) }
                }
            }
            @if !pipelines.is_empty() {
                details.panel open[pipelines.len() <= 8] {
                    summary { "Per pipeline (" (pipelines.len()) ")" }
                    table #pipeline-summary {
                        thead { tr { th { "Pipeline" } th { "Namespace" } th { "Runs" } th { "Success rate" } th { "Median (succeeded)" } th { "Latest" } } }
                        tbody {
                            @for p in pipelines {
                                @let name = s(p, &["name"]);
                                @let ns = s(p, &["namespace"]);
                                tr {
                                    td { @if name.is_empty() { span.muted { "(inline spec)" } } @else {
                                        a href={ "/" (query_string(&[("namespace", ns), ("pipeline", name)])) } { (name) } } }
                                    td { (ns) }
                                    td { (p["runs"].as_u64().unwrap_or(0)) }
                                    td { @match p["successRate"].as_f64() { Some(r) => { (format!("{:.0}%", r * 100.0)) }, None => { "—" } } }
                                    td { (duration(p["medianDurationSeconds"].as_f64())) }
                                    td { (status(s(p, &["latestStatus"]))) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn row(run: &Value) -> Markup {
    let ns = s(run, &["namespace"]);
    let name = s(run, &["name"]);
    let pipeline = s(run, &["pipeline", "name"]);
    let commit = at(run, &["commit"]);
    let regression = s(run, &["status"]) == "FAILED" && s(run, &["previous", "status"]) == "SUCCEEDED";
    let critical: i64 = list(run, &["scans"]).iter().filter_map(|x| x["critical"].as_i64()).sum();
    let high: i64 = list(run, &["scans"]).iter().filter_map(|x| x["high"].as_i64()).sum();
    html! {
        tr data-run={ (ns) "/" (name) } {
            td { (status(s(run, &["status"]))) }
            td {
                a href=(run_href(ns, name)) { (name) }
                @if !at(run, &["rerunOf"]).is_null() { " " span.badge.rerun title={ "Re-run of " (s(run, &["rerunOf", "name"])) } { "rerun" } }
                @if regression { " " span.badge.regression title="Failed after the previous run succeeded" { "regression" } }
                @if run["deletedFromCluster"].as_bool() == Some(true) { " " span.badge.deleted { "pruned" } }
            }
            td { @if pipeline.is_empty() { span.muted { "—" } } @else {
                a href={ "/" (query_string(&[("namespace", ns), ("pipeline", pipeline)])) } { (pipeline) } } }
            td { (ns) }
            td.mono { (time(s(run, &["startTime"]))) }
            td { (duration(run["durationSeconds"].as_f64())) }
            td {
                @if commit.is_null() { span.muted { "—" } } @else {
                    @let sha = s(commit, &["sha"]);
                    @let repo = s(commit, &["repository", "key"]);
                    a.mono href=(node_href(&format!("commit:{repo}@{sha}")).unwrap_or_default()) { (prefix(sha, 8)) }
                    " " span.muted { (s(commit, &["author"])) }
                    div.hint { (prefix(s(commit, &["title"]), 80)) }
                }
            }
            td {
                @for image in list(run, &["images"]) {
                    @let digest = s(image, &["digest"]);
                    div { a.mono href=(node_href(&format!("image:{digest}")).unwrap_or_default()) title=(s(image, &["repository"])) { (short_digest(digest)) } }
                }
            }
            td {
                @if list(run, &["scans"]).is_empty() { span.muted { "—" } } @else {
                    span title="critical / high" { span class=@if critical > 0 { "delta-up" } @else { "" } { (critical) "C" } " " (high) "H" }
                }
            }
        }
    }
}
