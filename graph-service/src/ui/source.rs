//! The Commit and Repository pages: runs built from a commit and their images; a repository's pipelines, recent
//! commits and latest status.

use maud::{Markup, html};
use poem::web::{Data, Query};
use poem::{Response, handler};
use serde::Deserialize;
use serde_json::{Value, json};

use super::format::{duration, prefix, short_digest, status, time};
use super::layout::{Nav, empty, shell};
use super::{PageError, Ui, at, list, node_href, query_string, respond, run_href, s};

const COMMIT: &str = r#"
query Commit($repo: String!, $sha: String!) {
  commit(repo: $repo, sha: $sha) {
    sha author authorEmail message timestamp repository { key url }
    pipelineRuns { namespace name status startTime durationSeconds pipeline { name } }
    images { digest repository tags }
  }
}"#;

const REPOSITORY: &str = r#"
query Repository($url: String!) {
  repository(url: $url) {
    key url
    pipelines { namespace name runs successRate medianDurationSeconds latestStatus latestRun { name startTime } }
    commits(first: 15) { sha author title timestamp }
    pipelineRuns(first: 20) { edges { node { namespace name status startTime durationSeconds pipeline { name } } } }
  }
}"#;

#[derive(Debug, Default, Deserialize)]
pub struct CommitParams {
    #[serde(default)]
    repo: String,
    #[serde(default)]
    sha: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct RepositoryParams {
    #[serde(default)]
    url: String,
}

#[handler]
pub async fn commit_page(ui: Data<&Ui>, params: Query<CommitParams>) -> Response {
    respond(commit(&ui, &params).await)
}

#[handler]
pub async fn repository_page(ui: Data<&Ui>, params: Query<RepositoryParams>) -> Response {
    respond(repository(&ui, &params.url).await)
}

pub fn runs_table(runs: &[Value], id: &str) -> Markup {
    html! {
        @if runs.is_empty() { (empty("No runs.")) } @else {
            table id=(id) .nav {
                thead { tr { th { "Status" } th { "Run" } th { "Pipeline" } th { "Namespace" } th { "Started" } th { "Duration" } } }
                tbody { @for run in runs {
                    tr data-run={ (s(run, &["namespace"])) "/" (s(run, &["name"])) } {
                        td { (status(s(run, &["status"]))) }
                        td { a href=(run_href(s(run, &["namespace"]), s(run, &["name"]))) { (s(run, &["name"])) } }
                        td { (s(run, &["pipeline", "name"])) }
                        td { (s(run, &["namespace"])) }
                        td.mono { (time(s(run, &["startTime"]))) }
                        td { (duration(run["durationSeconds"].as_f64())) }
                    }
                } }
            }
        }
    }
}

async fn commit(ui: &Ui, params: &CommitParams) -> Result<Markup, PageError> {
    if params.repo.is_empty() || params.sha.is_empty() {
        return Err(PageError::bad_request("a commit page needs `repo` and `sha`"));
    }
    let data = ui.query(COMMIT, json!({ "repo": params.repo, "sha": params.sha })).await?;
    let commit = at(&data, &["commit"]);
    if commit.is_null() {
        return Err(PageError::not_found(
            "Commit not found",
            format!("No run was built from `{}@{}`.", params.repo, params.sha),
        ));
    }
    let repo = s(commit, &["repository", "key"]);
    let sha = s(commit, &["sha"]);
    let body = html! {
        p.hint { a href=(node_href(&format!("repository:{repo}")).unwrap_or_default()) { (repo) } " / commit" }
        h1.mono { (prefix(sha, 12)) }
        section.panel {
            dl.facts {
                dt { "SHA" } dd.mono { (sha) }
                dt { "Repository" } dd { a href=(node_href(&format!("repository:{repo}")).unwrap_or_default()) { (repo) } " " a href=(s(commit, &["repository", "url"])) rel="noreferrer" { "↗" } }
                dt { "Author" } dd { (s(commit, &["author"])) " " span.muted { (s(commit, &["authorEmail"])) } }
                dt { "Committed" } dd.mono { (time(s(commit, &["timestamp"]))) }
                dt { "Message" } dd { pre.mono { (s(commit, &["message"])) } }
            }
        }
        h2 { "Runs built from this commit" }
        (runs_table(list(commit, &["pipelineRuns"]), "commit-runs"))
        h2 { "Images" }
        @if list(commit, &["images"]).is_empty() { p.muted { "None." } } @else {
            ul #commit-images { @for image in list(commit, &["images"]) {
                @let digest = s(image, &["digest"]);
                li { a.mono href=(node_href(&format!("image:{digest}")).unwrap_or_default()) { (short_digest(digest)) } " " span.muted { (s(image, &["repository"])) } }
            } }
        }
    };
    Ok(shell(&format!("Commit {}", prefix(sha, 8)), Nav::Runs, "", body))
}

async fn repository(ui: &Ui, url: &str) -> Result<Markup, PageError> {
    if url.is_empty() {
        return Err(PageError::bad_request("a repository page needs `url`"));
    }
    let data = ui.query(REPOSITORY, json!({ "url": url })).await?;
    let repo = at(&data, &["repository"]);
    if repo.is_null() {
        return Err(PageError::not_found("Repository not found", format!("No run built `{url}`.")));
    }
    let key = s(repo, &["key"]);
    let runs: Vec<Value> = list(repo, &["pipelineRuns", "edges"]).iter().map(|e| e["node"].clone()).collect();
    let body = html! {
        p.hint { a href="/" { "Runs" } " / repository" }
        h1 { (key) " " a href=(s(repo, &["url"])) rel="noreferrer" { "↗" } }
        h2 { "Pipelines" }
        table #repository-pipelines {
            thead { tr { th { "Pipeline" } th { "Namespace" } th { "Runs" } th { "Success rate" } th { "Median" } th { "Latest" } } }
            tbody { @for p in list(repo, &["pipelines"]) {
                tr {
                    td { a href={ "/" (query_string(&[("namespace", s(p, &["namespace"])), ("pipeline", s(p, &["name"])), ("repository", key)])) } { (s(p, &["name"])) } }
                    td { (s(p, &["namespace"])) }
                    td { (p["runs"].as_u64().unwrap_or(0)) }
                    td { @match p["successRate"].as_f64() { Some(r) => { (format!("{:.0}%", r * 100.0)) }, None => { "—" } } }
                    td { (duration(p["medianDurationSeconds"].as_f64())) }
                    td { (status(s(p, &["latestStatus"]))) " " a href=(run_href(s(p, &["namespace"]), s(p, &["latestRun", "name"]))) { (s(p, &["latestRun", "name"])) } }
                }
            } }
        }
        h2 { "Recent commits" }
        table #repository-commits { tbody { @for c in list(repo, &["commits"]) {
            tr {
                td { a.mono href=(node_href(&format!("commit:{key}@{}", s(c, &["sha"]))).unwrap_or_default()) { (prefix(s(c, &["sha"]), 8)) } }
                td { (s(c, &["author"])) } td { (s(c, &["title"])) } td.mono { (time(s(c, &["timestamp"]))) }
            }
        } } }
        h2 { "Recent runs" }
        (runs_table(&runs, "repository-runs"))
    };
    Ok(shell(key, Nav::Runs, "all", body))
}
