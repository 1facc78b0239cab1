//! Browsing reads: run summaries, pipelines, Systems, repositories and search — what list pages need, aggregated
//! by the store rather than by loading every run.

use std::collections::{BTreeMap, BTreeSet};

use async_graphql::{Context, Enum, Error, Object, Result, SimpleObject};
use tekton_graph_schema::normalize::{digest_from_ref, repository_key};
use tekton_graph_schema::{Outcome, RunKey, RunKind};

use super::batch::RunBatch;
use super::run::{pipeline_run, pipeline_runs};
use super::{
    Commit, Image, PipelineRun, PipelineRunConnection, PipelineRunFilter, RunStatus, VulnerabilityCounts, load_run,
    load_runs, pr_key, run_connection, store,
};
use crate::model::{EdgeKind, NodeId, NodeKind};
use crate::store::{RunFilter, SummaryRow};
use crate::view::{self, Severities};

/// Most groups a summary or list answers at once.
const MAX_LIST: usize = 1000;

#[derive(Default)]
pub struct BrowseQueries;

#[Object]
impl BrowseQueries {
    /// PipelineRuns matching the filter, counted per status and per pipeline (success rate, median duration).
    async fn run_summary(&self, ctx: &Context<'_>, filter: Option<PipelineRunFilter>) -> Result<RunSummary> {
        let filter = filter.map(PipelineRunFilter::into_store).unwrap_or_default();
        Ok(RunSummary::of(store(ctx).run_summary(&filter).await?))
    }

    /// Pipelines that have runs (optionally in one namespace), by namespace and name, with their summary.
    async fn pipelines(&self, ctx: &Context<'_>, namespace: Option<String>) -> Result<Vec<PipelineSummary>> {
        let filter = RunFilter { namespace, ..Default::default() };
        Ok(RunSummary::of(store(ctx).run_summary(&filter).await?).pipelines)
    }

    /// Systems (the supply chains), by name.
    #[graphql(complexity = "list_cost(first, child_complexity)")]
    async fn systems(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 100)] first: i32,
        after: Option<String>,
    ) -> Result<Vec<System>> {
        let first = bounded(first, "first")?;
        let after = after.map(|a| NodeId::system(&a));
        let nodes = store(ctx).nodes(NodeKind::System, after.as_ref(), first).await?;
        Ok(nodes.into_iter().map(|n| System { name: n.key().to_string() }).collect())
    }

    /// A System: what belongs to it (repositories, pipelines, runs, images).
    async fn system(&self, ctx: &Context<'_>, name: String) -> Result<Option<System>> {
        let node = NodeId::system(&name);
        let found = store(ctx).existing(std::slice::from_ref(&node)).await?;
        Ok((!found.is_empty()).then_some(System { name }))
    }

    /// A repository by URL in any spelling (scheme, `.git`, host case).
    async fn repository(&self, ctx: &Context<'_>, url: String) -> Result<Option<Repository>> {
        let key = repository_key(&url);
        let node = NodeId::repository(&key);
        let found = store(ctx).existing(std::slice::from_ref(&node)).await?;
        Ok((!found.is_empty()).then(|| Repository { url: format!("https://{key}"), key }))
    }

    /// Finds what a text names: an image digest (`sha256:…`, `repo@sha256:…`), a commit (`repo@sha`, a SHA prefix
    /// of at least 7), a run (`namespace/name`), a pipeline, a System or a repository. Best match first.
    async fn search(&self, ctx: &Context<'_>, text: String) -> Result<Vec<SearchHit>> {
        search(ctx, text.trim()).await
    }
}

/// The complexity of a list field: what one element selects, `first` times (as many as it may return).
pub(super) fn list_cost(first: i32, child_complexity: usize) -> usize {
    let n = usize::try_from(first).unwrap_or(0).clamp(1, MAX_LIST);
    n.saturating_mul(child_complexity).saturating_add(1)
}

pub(super) fn bounded(n: i32, name: &str) -> Result<usize> {
    let n = usize::try_from(n).map_err(|_| Error::new(format!("`{name}` must not be negative")))?;
    Ok(n.min(MAX_LIST))
}

/// Counts of runs with one status.
#[derive(SimpleObject, Clone)]
pub struct StatusCount {
    status: RunStatus,
    runs: usize,
}

/// PipelineRuns counted per status and per pipeline.
#[derive(SimpleObject)]
pub struct RunSummary {
    total: usize,
    by_status: Vec<StatusCount>,
    pipelines: Vec<PipelineSummary>,
}

impl RunSummary {
    fn of(rows: Vec<SummaryRow>) -> Self {
        let mut by_status: BTreeMap<Outcome, usize> = BTreeMap::new();
        let mut pipelines: BTreeMap<(String, Option<String>), Vec<SummaryRow>> = BTreeMap::new();
        for row in rows {
            *by_status.entry(row.outcome).or_default() += row.runs;
            pipelines.entry((row.namespace.clone(), row.pipeline.clone())).or_default().push(row);
        }
        RunSummary {
            total: by_status.values().sum(),
            by_status: by_status.into_iter().map(|(o, runs)| StatusCount { status: o.into(), runs }).collect(),
            pipelines: pipelines
                .into_iter()
                .take(MAX_LIST)
                .map(|((ns, p), rows)| PipelineSummary::of(ns, p, rows))
                .collect(),
        }
    }
}

/// One pipeline's runs in a summary.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct PipelineSummary {
    namespace: String,
    /// `null` for runs with an inline `pipelineSpec` and no pipeline name.
    name: Option<String>,
    runs: usize,
    succeeded: usize,
    failed: usize,
    /// Succeeded over finished runs (succeeded, failed, cancelled, timed out); `null` when none finished.
    success_rate: Option<f64>,
    /// Median duration of the succeeded runs.
    median_duration_seconds: Option<f64>,
    by_status: Vec<StatusCount>,
    /// Status of the newest run.
    latest_status: RunStatus,
    #[graphql(skip)]
    latest: RunKey,
}

impl PipelineSummary {
    fn of(namespace: String, name: Option<String>, rows: Vec<SummaryRow>) -> Self {
        let count = |o: Outcome| rows.iter().filter(|r| r.outcome == o).map(|r| r.runs).sum::<usize>();
        let finished: usize = rows.iter().filter(|r| r.outcome.is_final()).map(|r| r.runs).sum();
        let succeeded = count(Outcome::Succeeded);
        let newest = rows.iter().max_by(|a, b| a.latest.cmp(&b.latest));
        PipelineSummary {
            runs: rows.iter().map(|r| r.runs).sum(),
            succeeded,
            failed: count(Outcome::Failed) + count(Outcome::TimedOut),
            success_rate: (finished > 0).then(|| succeeded as f64 / finished as f64),
            median_duration_seconds: rows
                .iter()
                .find(|r| r.outcome == Outcome::Succeeded)
                .and_then(|r| r.median_duration_seconds),
            by_status: rows.iter().map(|r| StatusCount { status: r.outcome.into(), runs: r.runs }).collect(),
            latest_status: newest.map(|r| r.outcome).unwrap_or_default().into(),
            latest: newest
                .map(|r| pr_key(&r.latest.namespace, &r.latest.name))
                .unwrap_or_else(|| pr_key(&namespace, "")),
            namespace,
            name,
        }
    }
}

#[async_graphql::ComplexObject]
impl PipelineSummary {
    /// The newest run of this pipeline within the summary's filter.
    async fn latest_run(&self, ctx: &Context<'_>) -> Result<Option<PipelineRun>> {
        Ok(load_run(ctx, self.latest.clone()).await?.map(pipeline_run))
    }
}

/// A System: the repositories, pipelines and runs that belong to one supply chain.
pub struct System {
    pub(super) name: String,
}

impl System {
    fn filter(&self) -> RunFilter {
        RunFilter { system: Some(self.name.clone()), ..Default::default() }
    }

    async fn members(&self, ctx: &Context<'_>, kind: NodeKind) -> Result<Vec<String>> {
        let node = NodeId::system(&self.name);
        let edges = store(ctx).edges(std::slice::from_ref(&node), Some(&[EdgeKind::BelongsTo])).await?;
        Ok(edges.into_iter().filter(|e| e.from.kind() == Some(kind)).map(|e| e.from.key().to_string()).collect())
    }

    /// The newest run of each of the System's pipelines.
    async fn latest_runs(&self, ctx: &Context<'_>) -> Result<Vec<PipelineRun>> {
        let summary = RunSummary::of(store(ctx).run_summary(&self.filter()).await?);
        let keys = summary.pipelines.into_iter().map(|p| p.latest).collect();
        Ok(pipeline_runs(load_runs(ctx, keys).await?))
    }
}

#[Object]
impl System {
    async fn name(&self) -> &str {
        &self.name
    }
    /// Repository keys that belong to this System.
    async fn repositories(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        self.members(ctx, NodeKind::Repository).await
    }
    /// Pipelines (`namespace/name`) that belong to this System.
    async fn pipelines(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        self.members(ctx, NodeKind::Pipeline).await
    }
    /// The System's runs per pipeline: counts, success rate, median duration and the newest run.
    async fn pipeline_summaries(&self, ctx: &Context<'_>) -> Result<Vec<PipelineSummary>> {
        Ok(RunSummary::of(store(ctx).run_summary(&self.filter()).await?).pipelines)
    }
    /// PipelineRuns of this System, newest first (at most `first`).
    #[graphql(complexity = "list_cost(first, child_complexity)")]
    async fn pipeline_runs(&self, ctx: &Context<'_>, #[graphql(default = 20)] first: i32) -> Result<Vec<PipelineRun>> {
        let page = store(ctx).pipeline_runs(&self.filter(), None, bounded(first, "first")?).await?;
        let keys = page.runs.into_iter().map(|(_, k)| k).collect();
        Ok(pipeline_runs(load_runs(ctx, keys).await?))
    }
    /// Images produced by the newest run of each of the System's pipelines: what the System runs now.
    async fn current_images(&self, ctx: &Context<'_>) -> Result<Vec<Image>> {
        current_images(ctx, &self.latest_runs(ctx).await?).await
    }
    /// Vulnerabilities over the latest scan of each current image.
    async fn current_vulnerabilities(&self, ctx: &Context<'_>) -> Result<VulnerabilityCounts> {
        let digests: Vec<String> =
            current_images(ctx, &self.latest_runs(ctx).await?).await?.into_iter().map(|i| i.0.digest).collect();
        Ok(Severities::sum(&view::latest_scans_of_images(store(ctx), &digests).await?).into())
    }
}

/// The images of `runs` (one batch), by digest.
async fn current_images(ctx: &Context<'_>, runs: &[PipelineRun]) -> Result<Vec<Image>> {
    let facts: Vec<_> = runs.iter().map(|r| r.0.clone()).collect();
    let batch = RunBatch::new(facts.clone());
    let mut out: Vec<Image> = Vec::new();
    for fact in &facts {
        let (infos, images) = batch.images(store(ctx), &fact.key()).await?;
        for info in infos {
            if !out.iter().any(|i| i.0.digest == info.digest) {
                out.push(Image(info, images.clone()));
            }
        }
    }
    out.sort_by(|a, b| a.0.digest.cmp(&b.0.digest));
    Ok(out)
}

/// A source repository.
pub struct Repository {
    /// Normalized key: host/path without scheme or `.git`.
    pub(super) key: String,
    /// The URL as the newest run wrote it.
    pub(super) url: String,
}

impl Repository {
    fn filter(&self) -> RunFilter {
        RunFilter { repository: Some(self.key.clone()), ..Default::default() }
    }
}

#[Object]
impl Repository {
    async fn key(&self) -> &str {
        &self.key
    }
    async fn url(&self) -> &str {
        &self.url
    }
    /// Pipelines that built this repository, with their summary and newest run.
    async fn pipelines(&self, ctx: &Context<'_>) -> Result<Vec<PipelineSummary>> {
        Ok(RunSummary::of(store(ctx).run_summary(&self.filter()).await?).pipelines)
    }
    /// PipelineRuns of this repository, newest first.
    #[graphql(complexity = "list_cost(first, child_complexity)")]
    async fn pipeline_runs(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> Result<PipelineRunConnection> {
        run_connection(ctx, self.filter(), bounded(first, "first")?, after).await
    }
    /// Commits most recently built, newest build first (looks at the newest 200 runs).
    #[graphql(complexity = "list_cost(first, child_complexity)")]
    async fn commits(&self, ctx: &Context<'_>, #[graphql(default = 10)] first: i32) -> Result<Vec<Commit>> {
        let first = bounded(first, "first")?;
        let page = store(ctx).pipeline_runs(&self.filter(), None, 200).await?;
        let runs = load_runs(ctx, page.runs.into_iter().map(|(_, k)| k).collect()).await?;
        let mut shas: Vec<String> = Vec::new();
        for run in &runs {
            if let Some(sha) = run.supply_chain.source.as_ref().and_then(|s| s.commit_sha.clone())
                && !shas.contains(&sha)
            {
                shas.push(sha);
            }
        }
        let mut out = Vec::new();
        for sha in shas.into_iter().take(first) {
            out.extend(view::commit(store(ctx), &self.key, &sha).await?.map(Commit));
        }
        Ok(out)
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum SearchHitKind {
    Image,
    Commit,
    PipelineRun,
    TaskRun,
    Pipeline,
    System,
    Repository,
}

/// Something a search text names.
#[derive(SimpleObject)]
pub struct SearchHit {
    kind: SearchHitKind,
    /// The node id (`image:sha256:…`, `pipelinerun:ns/name`, …).
    id: String,
    label: String,
}

fn hit(kind: SearchHitKind, id: &NodeId, label: impl Into<String>) -> SearchHit {
    SearchHit { kind, id: id.0.clone(), label: label.into() }
}

async fn search(ctx: &Context<'_>, text: &str) -> Result<Vec<SearchHit>> {
    let mut hits = Vec::new();
    if text.is_empty() {
        return Ok(hits);
    }
    let store = store(ctx);
    if let Some(digest) = digest_from_ref(text) {
        let node = NodeId::image(&digest);
        if !store.existing(std::slice::from_ref(&node)).await?.is_empty() {
            hits.push(hit(SearchHitKind::Image, &node, digest));
        }
        return Ok(hits);
    }
    if let Some((repo, sha)) = text.rsplit_once('@')
        && sha.len() >= 7
        && sha.chars().all(|c| c.is_ascii_hexdigit())
    {
        let repo_node = NodeId::repository(&repository_key(repo));
        let sha = sha.to_ascii_lowercase();
        for edge in store.edges(std::slice::from_ref(&repo_node), Some(&[EdgeKind::InRepository])).await? {
            let commit_sha = edge.from.key().rsplit_once('@').map(|(_, s)| s).unwrap_or_default();
            if commit_sha.starts_with(&sha) {
                hits.push(hit(SearchHitKind::Commit, &edge.from, edge.from.key()));
            }
        }
        return Ok(hits);
    }
    if let Some((namespace, name)) = text.split_once('/')
        && !namespace.is_empty()
        && !name.is_empty()
        && !name.contains('/')
    {
        for kind in [RunKind::PipelineRun, RunKind::TaskRun] {
            let key = RunKey { kind, namespace: namespace.into(), name: name.into() };
            if load_run(ctx, key.clone()).await?.is_some() {
                let hit_kind =
                    if kind == RunKind::PipelineRun { SearchHitKind::PipelineRun } else { SearchHitKind::TaskRun };
                hits.push(hit(hit_kind, &NodeId::run(&key), text));
            }
        }
        let pipeline = NodeId::pipeline(namespace, name);
        if !store.existing(std::slice::from_ref(&pipeline)).await?.is_empty() {
            hits.push(hit(SearchHitKind::Pipeline, &pipeline, text));
        }
    }
    let filter = RunFilter { pipeline: Some(text.to_string()), ..Default::default() };
    let pipelines: BTreeSet<String> = store.run_summary(&filter).await?.into_iter().map(|r| r.namespace).collect();
    for namespace in pipelines {
        hits.push(hit(SearchHitKind::Pipeline, &NodeId::pipeline(&namespace, text), format!("{namespace}/{text}")));
    }
    let system = NodeId::system(text);
    let repository = NodeId::repository(&repository_key(text));
    let found = store.existing(&[system.clone(), repository.clone()]).await?;
    if found.contains(&system) {
        hits.push(hit(SearchHitKind::System, &system, text));
    }
    if found.contains(&repository) {
        hits.push(hit(SearchHitKind::Repository, &repository, repository.key()));
    }
    Ok(hits)
}
