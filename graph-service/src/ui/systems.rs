//! The Systems pages: every supply chain with its repositories, pipelines, latest status, images and current
//! vulnerabilities; a page per System.

use maud::{Markup, html};
use poem::web::{Data, Path};
use poem::{Response, handler};
use serde_json::{Value, json};

use super::format::{duration, short_digest, status, time};
use super::layout::{Nav, empty, shell};
use super::source::runs_table;
use super::{PageError, Ui, at, list, node_href, query_string, respond, run_href, s, segment};

const FIELDS: &str = r#"
  name repositories
  pipelineSummaries { namespace name runs successRate medianDurationSeconds latestStatus latestRun { name startTime } }
  currentImages { digest repository }
  currentVulnerabilities { critical high medium low total }
"#;

#[handler]
pub async fn list_page(ui: Data<&Ui>) -> Response {
    respond(list_systems(&ui).await)
}

#[handler]
pub async fn page(ui: Data<&Ui>, Path(name): Path<String>) -> Response {
    respond(system(&ui, &name).await)
}

async fn list_systems(ui: &Ui) -> Result<Markup, PageError> {
    let query = format!("query Systems {{ systems(first: 200) {{ {FIELDS} }} }}");
    let data = ui.query(&query, json!({})).await?;
    let systems = list(&data, &["systems"]);
    let body = html! {
        h1 { "Systems" }
        p.hint { "A System is a supply chain: the repositories, pipelines and images that belong together (the run label set by --system-label, else the repository)." }
        @if systems.is_empty() { (empty("No Systems yet: they appear once runs with a repository (or the System label) are ingested.")) }
        div #systems .grid { @for sys in systems { (card(sys)) } }
    };
    Ok(shell("Systems", Nav::Systems, "all", body))
}

fn vulnerabilities(v: &Value) -> Markup {
    html! {
        span.vulns title="critical / high / medium / low over the latest scan of each current image" {
            span class=@if v["critical"].as_i64().unwrap_or(0) > 0 { "delta-up" } @else { "" } { (v["critical"].as_i64().unwrap_or(0)) " critical" }
            " · " (v["high"].as_i64().unwrap_or(0)) " high · " (v["medium"].as_i64().unwrap_or(0)) " medium · " (v["low"].as_i64().unwrap_or(0)) " low"
        }
    }
}

fn pipelines_table(sys: &Value) -> Markup {
    html! {
        table.pipelines {
            thead { tr { th { "Pipeline" } th { "Latest" } th { "Runs" } th { "Success" } th { "Median" } } }
            tbody { @for p in list(sys, &["pipelineSummaries"]) {
                tr {
                    td { a href={ "/" (query_string(&[("namespace", s(p, &["namespace"])), ("pipeline", s(p, &["name"])), ("system", s(sys, &["name"]))])) } { (s(p, &["name"])) } div.hint { (s(p, &["namespace"])) } }
                    td { (status(s(p, &["latestStatus"]))) " " a href=(run_href(s(p, &["namespace"]), s(p, &["latestRun", "name"]))) { (s(p, &["latestRun", "name"])) } div.hint { (time(s(p, &["latestRun", "startTime"]))) } }
                    td { (p["runs"].as_u64().unwrap_or(0)) }
                    td { @match p["successRate"].as_f64() { Some(r) => { (format!("{:.0}%", r * 100.0)) }, None => { "—" } } }
                    td { (duration(p["medianDurationSeconds"].as_f64())) }
                }
            } }
        }
    }
}

fn card(sys: &Value) -> Markup {
    let name = s(sys, &["name"]);
    html! {
        section.panel.system data-system=(name) {
            h2 { a href={ "/systems/" (segment(name)) } { (name) } }
            p { (vulnerabilities(at(sys, &["currentVulnerabilities"]))) }
            (pipelines_table(sys))
            p.hint { (list(sys, &["repositories"]).len()) " repositories · " (list(sys, &["currentImages"]).len()) " current images" }
        }
    }
}

async fn system(ui: &Ui, name: &str) -> Result<Markup, PageError> {
    let query = format!(
        "query System($name: String!) {{ system(name: $name) {{ {FIELDS} pipelineRuns(first: 20) {{ namespace name status startTime durationSeconds pipeline {{ name }} }} }} }}"
    );
    let data = ui.query(&query, json!({ "name": name })).await?;
    let sys = at(&data, &["system"]);
    if sys.is_null() {
        return Err(PageError::not_found("System not found", format!("There is no System `{name}`.")));
    }
    let body = html! {
        p.hint { a href="/systems" { "Systems" } " / " (name) }
        h1 { (name) }
        p.panel { (vulnerabilities(at(sys, &["currentVulnerabilities"]))) }
        div.side {
            div {
                h2 { "Repositories" }
                ul #system-repositories { @for r in list(sys, &["repositories"]).iter().filter_map(Value::as_str) {
                    li { a href=(node_href(&format!("repository:{r}")).unwrap_or_default()) { (r) } }
                } }
            }
            div {
                h2 { "Current images" }
                ul #system-images { @for image in list(sys, &["currentImages"]) {
                    @let digest = s(image, &["digest"]);
                    li { a.mono href=(node_href(&format!("image:{digest}")).unwrap_or_default()) { (short_digest(digest)) } " " span.muted { (s(image, &["repository"])) } }
                } }
            }
        }
        h2 { "Pipelines" }
        (pipelines_table(sys))
        h2 { "Recent runs" }
        (runs_table(list(sys, &["pipelineRuns"]), "system-runs"))
    };
    Ok(shell(name, Nav::Systems, "all", body))
}
