//! The GraphQL schema. Resolvers call the store trait (through [`crate::view`]), never an engine directly.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{
    Context, EmptyMutation, EmptySubscription, Enum, Error, InputObject, Json, Object, Result, Schema, SimpleObject,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use tekton_graph_schema::normalize::repository_key;
use tekton_graph_schema::{NamedValue, Outcome, RunFact, RunKey, RunKind};

use crate::model::{EdgeKind, NodeId};
use crate::store::{GraphStore, RunFilter, RunPosition, StoreError};
use crate::view::{self, CommitInfo, ImageInfo, ScanInfo, Severities, TaskChange, TaskChangeKind, ValueChange};

pub type GraphSchema = Schema<QueryRoot, EmptyMutation, EmptySubscription>;

/// Builds the schema over a store.
pub fn build_schema(store: Arc<dyn GraphStore>) -> GraphSchema {
    // No batching delay: keys requested in the same poll still form one batch, and async-graphql's default 1 ms
    // wait per level was most of a lineage query's latency on the embedded store (benches/query_latency.rs).
    let loader = DataLoader::new(FactLoader { store: store.clone() }, tokio::spawn).delay(std::time::Duration::ZERO);
    Schema::build(QueryRoot, EmptyMutation, EmptySubscription).data(store).data(loader).finish()
}

/// The SDL of the schema, as checked in under `schema/graphql/schema.graphql`.
pub fn sdl() -> String {
    Schema::build(QueryRoot, EmptyMutation, EmptySubscription).finish().sdl()
}

/// Batches run lookups of one GraphQL request level into one store call.
pub struct FactLoader {
    store: Arc<dyn GraphStore>,
}

impl Loader<RunKey> for FactLoader {
    type Value = Arc<RunFact>;
    type Error = Arc<StoreError>;

    async fn load(&self, keys: &[RunKey]) -> Result<HashMap<RunKey, Self::Value>, Self::Error> {
        let facts = self.store.facts(keys).await.map_err(Arc::new)?;
        Ok(keys.iter().cloned().zip(facts).filter_map(|(k, f)| Some((k, Arc::new(f?)))).collect())
    }
}

fn store<'a>(ctx: &Context<'a>) -> &'a dyn GraphStore {
    ctx.data_unchecked::<Arc<dyn GraphStore>>().as_ref()
}

async fn load_run(ctx: &Context<'_>, key: RunKey) -> Result<Option<Arc<RunFact>>> {
    let loader = ctx.data_unchecked::<DataLoader<FactLoader>>();
    loader.load_one(key).await.map_err(|e| Error::new(e.to_string()))
}

async fn load_runs(ctx: &Context<'_>, keys: Vec<RunKey>) -> Result<Vec<Arc<RunFact>>> {
    let loader = ctx.data_unchecked::<DataLoader<FactLoader>>();
    let found = loader.load_many(keys.clone()).await.map_err(|e| Error::new(e.to_string()))?;
    Ok(keys.iter().filter_map(|k| found.get(k).cloned()).collect())
}

fn pr_key(namespace: &str, name: &str) -> RunKey {
    RunKey { kind: RunKind::PipelineRun, namespace: namespace.to_string(), name: name.to_string() }
}

pub struct QueryRoot;

#[Object]
impl QueryRoot {
    /// An image by digest: `sha256:…` or `repository@sha256:…`.
    async fn image(&self, ctx: &Context<'_>, digest: String) -> Result<Option<Image>> {
        Ok(view::image(store(ctx), &digest).await?.map(Image))
    }

    /// A commit by repository URL (any spelling: scheme, `.git`, host case) and SHA.
    async fn commit(&self, ctx: &Context<'_>, repo: String, sha: String) -> Result<Option<Commit>> {
        Ok(view::commit(store(ctx), &repo, &sha).await?.map(Commit))
    }

    async fn pipeline_run(&self, ctx: &Context<'_>, namespace: String, name: String) -> Result<Option<PipelineRun>> {
        Ok(load_run(ctx, pr_key(&namespace, &name)).await?.map(pipeline_run))
    }

    async fn task_run(&self, ctx: &Context<'_>, namespace: String, name: String) -> Result<Option<TaskRun>> {
        let key = RunKey { kind: RunKind::TaskRun, namespace, name };
        Ok(load_run(ctx, key).await?.map(task_run))
    }

    /// PipelineRuns, newest first (by start time), as a cursor connection.
    async fn pipeline_runs(
        &self,
        ctx: &Context<'_>,
        filter: Option<PipelineRunFilter>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> Result<PipelineRunConnection> {
        let first = usize::try_from(first).map_err(|_| Error::new("`first` must not be negative"))?.min(1000);
        let after = after.map(|c| RunPosition::decode(&c)).transpose()?;
        let filter = filter.map(PipelineRunFilter::into_store).unwrap_or_default();
        let page = store(ctx).pipeline_runs(&filter, after.as_ref(), first).await?;
        let end_cursor = page.runs.last().map(|(p, _)| p.encode());
        let keys: Vec<RunKey> = page.runs.iter().map(|(_, k)| k.clone()).collect();
        let cursors: Vec<String> = page.runs.iter().map(|(p, _)| p.encode()).collect();
        let facts = load_runs(ctx, keys).await?;
        let edges = cursors.into_iter().zip(facts).map(|(cursor, f)| PipelineRunEdge { cursor, node: pipeline_run(f) });
        Ok(PipelineRunConnection {
            edges: edges.collect(),
            page_info: PageInfo { has_next_page: page.has_next, end_cursor },
        })
    }

    /// What changed between a PipelineRun and another run (default: the previous run of the same pipeline in the
    /// same namespace, the latest earlier start).
    async fn diff(
        &self,
        ctx: &Context<'_>,
        namespace: String,
        name: String,
        against: Option<String>,
    ) -> Result<Option<RunDiff>> {
        let Some(head) = load_run(ctx, pr_key(&namespace, &name)).await? else {
            return Ok(None);
        };
        let base_key = match against {
            Some(other) => Some(pr_key(&namespace, &other)),
            None => view::previous_run(store(ctx), &head).await?,
        };
        let base = match base_key {
            Some(key) => {
                let missing = format!("no PipelineRun `{}/{}` to diff against", key.namespace, key.name);
                Some(load_run(ctx, key).await?.ok_or_else(|| Error::new(missing))?)
            }
            None => None,
        };
        Ok(Some(RunDiff::compute(store(ctx), base, head).await?))
    }

    /// A node-centred lineage graph around an image digest, commit (`repo@sha`), run (`namespace/name`) or node id.
    async fn lineage(&self, ctx: &Context<'_>, r#ref: String, #[graphql(default = 4)] depth: i32) -> Result<Lineage> {
        let depth = usize::try_from(depth).map_err(|_| Error::new("`depth` must not be negative"))?.min(10);
        let start = view::parse_ref(&r#ref)?;
        let lineage = view::lineage(store(ctx), &start, depth).await?;
        Ok(Lineage {
            root: start.0,
            nodes: lineage
                .nodes
                .into_iter()
                .map(|n| LineageNode { id: n.id.0, kind: n.kind.as_str().to_string(), label: n.label })
                .collect(),
            edges: lineage
                .edges
                .into_iter()
                .map(|e| LineageEdge { from: e.from.0, to: e.to.0, kind: e.kind.as_str().to_string() })
                .collect(),
        })
    }

    /// A System: what belongs to it (repositories, pipelines, runs, images).
    async fn system(&self, ctx: &Context<'_>, name: String) -> Result<Option<System>> {
        let node = NodeId::system(&name);
        let edges = store(ctx).edges(std::slice::from_ref(&node), Some(&[EdgeKind::BelongsTo])).await?;
        if edges.is_empty() {
            return Ok(None);
        }
        Ok(Some(System { name, members: edges.into_iter().map(|e| e.from).collect() }))
    }

    /// Counts of what the graph holds.
    async fn stats(&self, ctx: &Context<'_>) -> Result<Stats> {
        let c = store(ctx).counts().await?;
        Ok(Stats { pipeline_runs: c.pipeline_runs, task_runs: c.task_runs, nodes: c.nodes, edges: c.edges })
    }
}

#[derive(SimpleObject)]
pub struct Stats {
    pipeline_runs: usize,
    task_runs: usize,
    nodes: usize,
    edges: usize,
}

/// Outcome of a run.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum RunStatus {
    Unknown,
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    TimedOut,
}

impl From<Outcome> for RunStatus {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Unknown => RunStatus::Unknown,
            Outcome::Pending => RunStatus::Pending,
            Outcome::Running => RunStatus::Running,
            Outcome::Succeeded => RunStatus::Succeeded,
            Outcome::Failed => RunStatus::Failed,
            Outcome::Cancelled => RunStatus::Cancelled,
            Outcome::TimedOut => RunStatus::TimedOut,
        }
    }
}

impl From<RunStatus> for Outcome {
    fn from(s: RunStatus) -> Self {
        match s {
            RunStatus::Unknown => Outcome::Unknown,
            RunStatus::Pending => Outcome::Pending,
            RunStatus::Running => Outcome::Running,
            RunStatus::Succeeded => Outcome::Succeeded,
            RunStatus::Failed => Outcome::Failed,
            RunStatus::Cancelled => Outcome::Cancelled,
            RunStatus::TimedOut => Outcome::TimedOut,
        }
    }
}

#[derive(InputObject, Default)]
pub struct PipelineRunFilter {
    namespace: Option<String>,
    pipeline: Option<String>,
    status: Option<RunStatus>,
    /// Repository URL in any spelling.
    repository: Option<String>,
    /// Started at or after.
    since: Option<DateTime<Utc>>,
    /// Started before.
    until: Option<DateTime<Utc>>,
}

impl PipelineRunFilter {
    fn into_store(self) -> RunFilter {
        RunFilter {
            namespace: self.namespace,
            pipeline: self.pipeline,
            outcome: self.status.map(Outcome::from),
            repository: self.repository.map(|r| repository_key(&r)),
            since: self.since,
            until: self.until,
        }
    }
}

#[derive(SimpleObject)]
pub struct PipelineRunConnection {
    edges: Vec<PipelineRunEdge>,
    page_info: PageInfo,
}

#[derive(SimpleObject)]
pub struct PipelineRunEdge {
    cursor: String,
    node: PipelineRun,
}

#[derive(SimpleObject)]
pub struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

/// A param or result value: a string, an array or an object.
#[derive(SimpleObject, Clone)]
pub struct KeyValue {
    name: String,
    value: Json<Value>,
}

fn key_values(values: &[NamedValue]) -> Vec<KeyValue> {
    values.iter().map(|v| KeyValue { name: v.name.clone(), value: Json(v.value.clone()) }).collect()
}

#[derive(SimpleObject, Clone)]
pub struct Label {
    key: String,
    value: String,
}

#[derive(SimpleObject)]
pub struct Pipeline {
    namespace: String,
    name: String,
}

#[derive(SimpleObject)]
pub struct Trigger {
    kind: Option<String>,
    event_listener: Option<String>,
    trigger: Option<String>,
    event_id: Option<String>,
}

/// Declares the GraphQL object of a run kind: the fields every run has, plus the kind's own `$extra` methods.
/// (A macro rather than a flattened object: async-graphql registers a flattened type once, and the recursion
/// PipelineRun → Image → TaskRun would see it half-registered.)
macro_rules! run_object {
    ($ty:ident { $($extra:tt)* }) => {
#[Object]
impl $ty {
        async fn uid(&self) -> Option<&str> {
            self.0.uid.as_deref()
        }
        async fn namespace(&self) -> &str {
            &self.0.namespace
        }
        async fn name(&self) -> &str {
            &self.0.name
        }
        async fn status(&self) -> RunStatus {
            self.0.status.outcome.into()
        }
        async fn reason(&self) -> Option<&str> {
            self.0.status.reason.as_deref()
        }
        async fn message(&self) -> Option<&str> {
            self.0.status.message.as_deref()
        }
        async fn start_time(&self) -> Option<DateTime<Utc>> {
            self.0.status.start_time
        }
        async fn completion_time(&self) -> Option<DateTime<Utc>> {
            self.0.status.completion_time
        }
        async fn duration_seconds(&self) -> Option<f64> {
            self.0.duration_seconds()
        }
        async fn params(&self) -> Vec<KeyValue> {
            key_values(&self.0.params)
        }
        async fn results(&self) -> Vec<KeyValue> {
            key_values(&self.0.results)
        }
        async fn labels(&self) -> Vec<Label> {
            self.0.labels.iter().map(|(k, v)| Label { key: k.clone(), value: v.clone() }).collect()
        }
        /// The commit this run was built from (for a TaskRun: its own, else its PipelineRun's).
        async fn commit(&self, ctx: &Context<'_>) -> Result<Option<Commit>> {
            Ok(view::commit_of_run(store(ctx), &self.0).await?.map(Commit))
        }
        /// Images this run produced (a PipelineRun includes its TaskRuns' images).
        async fn images(&self, ctx: &Context<'_>) -> Result<Vec<Image>> {
            images_by_digest(ctx, view::images_of_run(store(ctx), &self.0).await?).await
        }
        /// Vulnerability scans this run reported (a PipelineRun includes its TaskRuns' scans).
        async fn scans(&self, ctx: &Context<'_>) -> Result<Vec<Scan>> {
            Ok(view::scans_of_run(store(ctx), &self.0).await?.into_iter().map(Scan).collect())
        }
        /// `chains.tekton.dev/signed`: `true` or `failed`.
        async fn signed(&self) -> Option<&str> {
            self.0.supply_chain.signed.as_deref()
        }
        /// True once the harvester saw the object deleted from the cluster (pruned runs stay in the graph).
        async fn deleted_from_cluster(&self) -> bool {
            self.0.deleted_at.is_some()
        }
        /// When the harvester saw the object deleted.
        async fn deleted_at(&self) -> Option<DateTime<Utc>> {
            self.0.deleted_at
        }
        /// Where this observation came from: `object` (watch, file, Tekton CloudEvent), `cdEvent` or
        /// `embeddedStatus`.
        async fn observed_from(&self) -> &'static str {
            match self.0.observed_from {
                tekton_graph_schema::ObservedFrom::Object => "object",
                tekton_graph_schema::ObservedFrom::CdEvent => "cdEvent",
                tekton_graph_schema::ObservedFrom::EmbeddedStatus => "embeddedStatus",
            }
        }
        $($extra)*
}
    };
}

async fn images_by_digest(ctx: &Context<'_>, digests: Vec<String>) -> Result<Vec<Image>> {
    let mut out = Vec::new();
    for digest in digests {
        if let Some(info) = view::image(store(ctx), &digest).await? {
            out.push(Image(info));
        }
    }
    Ok(out)
}

/// A PipelineRun as last observed.
pub struct PipelineRun(Arc<RunFact>);

fn pipeline_run(fact: Arc<RunFact>) -> PipelineRun {
    PipelineRun(fact)
}

run_object!(PipelineRun {
    async fn pipeline(&self) -> Option<Pipeline> {
        let name = self.0.pipeline.clone()?;
        Some(Pipeline { namespace: self.0.namespace.clone(), name })
    }

    /// TaskRuns of this PipelineRun that were observed, by name.
    async fn task_runs(&self, ctx: &Context<'_>) -> Result<Vec<TaskRun>> {
        let keys = view::task_runs_of(store(ctx), &self.0.key()).await?;
        Ok(load_runs(ctx, keys).await?.into_iter().map(task_run).collect())
    }

    /// The previous run of the same pipeline in the same namespace (latest earlier start).
    async fn previous(&self, ctx: &Context<'_>) -> Result<Option<PipelineRun>> {
        match view::previous_run(store(ctx), &self.0).await? {
            Some(key) => Ok(load_run(ctx, key).await?.map(pipeline_run)),
            None => Ok(None),
        }
    }

    /// The run this one re-runs (`dashboard.tekton.dev/rerunOf`), if observed.
    async fn rerun_of(&self, ctx: &Context<'_>) -> Result<Option<PipelineRun>> {
        let Some(original) = &self.0.supply_chain.rerun_of else { return Ok(None) };
        Ok(load_run(ctx, pr_key(&self.0.namespace, original)).await?.map(pipeline_run))
    }

    /// Runs that re-run this one.
    async fn reruns(&self, ctx: &Context<'_>) -> Result<Vec<PipelineRun>> {
        let node = NodeId::run(&self.0.key());
        let edges = store(ctx).edges(std::slice::from_ref(&node), Some(&[EdgeKind::RerunOf])).await?;
        let keys = edges.into_iter().filter(|e| e.to == node).filter_map(|e| e.from.run_key()).collect();
        Ok(load_runs(ctx, keys).await?.into_iter().map(pipeline_run).collect())
    }

    async fn trigger(&self) -> Option<Trigger> {
        let t = self.0.supply_chain.trigger.as_ref()?;
        Some(Trigger {
            kind: t.kind.clone(),
            event_listener: t.event_listener.clone(),
            trigger: t.trigger.clone(),
            event_id: t.event_id.clone(),
        })
    }
});

/// A TaskRun as last observed.
pub struct TaskRun(Arc<RunFact>);

fn task_run(fact: Arc<RunFact>) -> TaskRun {
    TaskRun(fact)
}

#[derive(SimpleObject)]
pub struct Step {
    name: String,
    image: Option<String>,
    image_id: Option<String>,
    digest: Option<String>,
    exit_code: Option<i64>,
    terminated_reason: Option<String>,
}

run_object!(TaskRun {
    /// The pipeline task this TaskRun executed.
    async fn pipeline_task(&self) -> Option<&str> {
        self.0.pipeline_task.as_deref()
    }

    async fn task(&self) -> Option<&str> {
        self.0.task.as_deref()
    }

    async fn steps(&self) -> Vec<Step> {
        self.0
            .steps
            .iter()
            .map(|s| Step {
                name: s.name.clone(),
                image: s.image.clone(),
                image_id: s.image_id.clone(),
                digest: s.digest.clone(),
                exit_code: s.exit_code,
                terminated_reason: s.terminated_reason.clone(),
            })
            .collect()
    }

    async fn pipeline_run(&self, ctx: &Context<'_>) -> Result<Option<PipelineRun>> {
        match view::parent_key(&self.0) {
            Some(key) => Ok(load_run(ctx, key).await?.map(pipeline_run)),
            None => Ok(None),
        }
    }
});

pub struct Commit(CommitInfo);

#[derive(SimpleObject)]
pub struct Repository {
    /// Normalized key: host/path without scheme or `.git`.
    key: String,
    /// The URL as the newest run wrote it.
    url: String,
}

#[Object]
impl Commit {
    async fn sha(&self) -> &str {
        &self.0.sha
    }
    async fn repository(&self) -> Repository {
        let url = self.0.repository_url.clone().unwrap_or_else(|| format!("https://{}", self.0.repository));
        Repository { key: self.0.repository.clone(), url }
    }
    async fn author(&self) -> Option<&str> {
        self.0.author.as_deref()
    }
    async fn author_email(&self) -> Option<&str> {
        self.0.author_email.as_deref()
    }
    async fn message(&self) -> Option<&str> {
        self.0.message.as_deref()
    }
    /// Commit time as reported (RFC 3339).
    async fn timestamp(&self) -> Option<&str> {
        self.0.timestamp.as_deref()
    }
    /// PipelineRuns built from this commit, newest first.
    async fn pipeline_runs(&self) -> Vec<PipelineRun> {
        self.0.runs.iter().filter(|r| r.kind == RunKind::PipelineRun).cloned().map(pipeline_run).collect()
    }
    /// Images built from this commit.
    async fn images(&self, ctx: &Context<'_>) -> Result<Vec<Image>> {
        let mut digests = std::collections::BTreeSet::new();
        for run in self.0.runs.iter().filter(|r| r.kind == RunKind::PipelineRun) {
            digests.extend(view::images_of_run(store(ctx), run).await?);
        }
        images_by_digest(ctx, digests.into_iter().collect()).await
    }
}

pub struct Image(ImageInfo);

#[Object]
impl Image {
    async fn digest(&self) -> &str {
        &self.0.digest
    }
    async fn repository(&self) -> Option<&str> {
        self.0.repository.as_deref()
    }
    async fn tags(&self) -> &[String] {
        &self.0.tags
    }
    /// Full references as the runs wrote them.
    async fn urls(&self) -> &[String] {
        &self.0.urls
    }
    /// The PipelineRun that built this image (the oldest that reported it).
    async fn built_by(&self, ctx: &Context<'_>) -> Result<Option<PipelineRun>> {
        match self.0.built_by() {
            Some(key) => Ok(load_run(ctx, key).await?.map(pipeline_run)),
            None => Ok(None),
        }
    }
    /// The TaskRun that built this image.
    async fn task_run(&self, ctx: &Context<'_>) -> Result<Option<TaskRun>> {
        match self.0.task_run() {
            Some(key) => Ok(load_run(ctx, key).await?.map(task_run)),
            None => Ok(None),
        }
    }
    /// Every run that reported this image as an output, oldest first.
    async fn produced_by(&self) -> Vec<RunRef> {
        self.0.producers.iter().map(|f| RunRef::of(f)).collect()
    }
    /// The commit the image was built from.
    async fn commit(&self, ctx: &Context<'_>) -> Result<Option<Commit>> {
        for producer in &self.0.producers {
            if let Some(commit) = view::commit_of_run(store(ctx), producer).await? {
                return Ok(Some(Commit(commit)));
            }
        }
        Ok(None)
    }
    /// Vulnerability scans of this image, newest first.
    async fn scans(&self, ctx: &Context<'_>) -> Result<Vec<Scan>> {
        let mut scans = view::scans_by_id(store(ctx), &self.0.scans).await?;
        scans.sort_by(|a, b| (b.completion_time, &b.id).cmp(&(a.completion_time, &a.id)));
        Ok(scans.into_iter().map(Scan).collect())
    }
}

/// A reference to a run of either kind.
#[derive(SimpleObject)]
pub struct RunRef {
    kind: String,
    namespace: String,
    name: String,
    status: RunStatus,
}

impl RunRef {
    fn of(f: &RunFact) -> Self {
        RunRef {
            kind: f.kind.as_str().to_string(),
            namespace: f.namespace.clone(),
            name: f.name.clone(),
            status: f.status.outcome.into(),
        }
    }
}

pub struct Scan(ScanInfo);

#[derive(SimpleObject, Clone, Copy, Default)]
pub struct VulnerabilityCounts {
    critical: i64,
    high: i64,
    medium: i64,
    low: i64,
    unknown: i64,
    total: i64,
}

impl From<Severities> for VulnerabilityCounts {
    fn from(s: Severities) -> Self {
        VulnerabilityCounts {
            critical: s.critical,
            high: s.high,
            medium: s.medium,
            low: s.low,
            unknown: s.unknown,
            total: s.critical + s.high + s.medium + s.low + s.unknown,
        }
    }
}

fn counts_of(s: &tekton_graph_schema::ScanFact) -> VulnerabilityCounts {
    Severities { critical: s.critical, high: s.high, medium: s.medium, low: s.low, unknown: s.unknown }.into()
}

#[Object]
impl Scan {
    async fn id(&self) -> &str {
        &self.0.id.0
    }
    async fn image_digest(&self) -> Option<&str> {
        self.0.image_digest.as_deref()
    }
    async fn vulnerabilities(&self) -> VulnerabilityCounts {
        counts_of(&self.0.report)
    }
    /// Vulnerabilities without a fix, when the scanner reported them.
    async fn unpatched(&self) -> Option<VulnerabilityCounts> {
        self.0.report.unpatched.as_deref().map(counts_of)
    }
    async fn critical(&self) -> i64 {
        self.0.report.critical
    }
    async fn high(&self) -> i64 {
        self.0.report.high
    }
    /// The result the counts came from.
    async fn source(&self) -> &str {
        &self.0.report.evidence
    }
    async fn completion_time(&self) -> Option<DateTime<Utc>> {
        self.0.completion_time
    }
    async fn pipeline_run(&self, ctx: &Context<'_>) -> Result<Option<PipelineRun>> {
        match self.0.pipeline_run.clone() {
            Some(key) => Ok(load_run(ctx, key).await?.map(pipeline_run)),
            None => Ok(None),
        }
    }
    async fn task_run(&self, ctx: &Context<'_>) -> Result<Option<TaskRun>> {
        match self.0.task_run.clone() {
            Some(key) => Ok(load_run(ctx, key).await?.map(task_run)),
            None => Ok(None),
        }
    }
}

/// A key whose value differs between base and head.
#[derive(SimpleObject)]
pub struct ValueDiff {
    key: String,
    before: Option<Json<Value>>,
    after: Option<Json<Value>>,
}

impl From<ValueChange> for ValueDiff {
    fn from(c: ValueChange) -> Self {
        ValueDiff { key: c.key, before: c.before.map(Json), after: c.after.map(Json) }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum TaskChangeType {
    Added,
    Removed,
    StatusChanged,
    Unchanged,
}

#[derive(SimpleObject)]
pub struct TaskDiff {
    pipeline_task: String,
    change: TaskChangeType,
    status_before: Option<RunStatus>,
    status_after: Option<RunStatus>,
    duration_before_seconds: Option<f64>,
    duration_after_seconds: Option<f64>,
    duration_delta_seconds: Option<f64>,
}

impl From<TaskChange> for TaskDiff {
    fn from(c: TaskChange) -> Self {
        let change = match c.change {
            TaskChangeKind::Added => TaskChangeType::Added,
            TaskChangeKind::Removed => TaskChangeType::Removed,
            TaskChangeKind::StatusChanged => TaskChangeType::StatusChanged,
            TaskChangeKind::Unchanged => TaskChangeType::Unchanged,
        };
        TaskDiff {
            duration_delta_seconds: c.duration_delta_seconds(),
            pipeline_task: c.pipeline_task,
            change,
            status_before: c.before.as_ref().map(|f| f.status.outcome.into()),
            status_after: c.after.as_ref().map(|f| f.status.outcome.into()),
            duration_before_seconds: c.before.as_ref().and_then(|f| f.duration_seconds()),
            duration_after_seconds: c.after.as_ref().and_then(|f| f.duration_seconds()),
        }
    }
}

#[derive(SimpleObject)]
pub struct CommitChange {
    before: Option<Commit>,
    after: Option<Commit>,
}

#[derive(SimpleObject)]
pub struct ImageDiff {
    /// Digests produced by head but not by base.
    added: Vec<String>,
    /// Digests produced by base but not by head.
    removed: Vec<String>,
    unchanged: Vec<String>,
}

#[derive(SimpleObject)]
pub struct VulnerabilityDiff {
    /// Totals over the latest scan of each image base produced.
    before: VulnerabilityCounts,
    /// Totals over the latest scan of each image head produced.
    after: VulnerabilityCounts,
    /// after − before, per severity.
    delta: VulnerabilityCounts,
}

/// What changed between two PipelineRuns.
#[derive(SimpleObject)]
pub struct RunDiff {
    /// The earlier run (absent when head has no previous run).
    base: Option<PipelineRun>,
    head: PipelineRun,
    commit_changed: bool,
    commits: CommitChange,
    params: Vec<ValueDiff>,
    results: Vec<ValueDiff>,
    tasks: Vec<TaskDiff>,
    images: ImageDiff,
    duration_delta_seconds: Option<f64>,
    status_changed: bool,
    scans: VulnerabilityDiff,
}

impl RunDiff {
    async fn compute(store: &dyn GraphStore, base: Option<Arc<RunFact>>, head: Arc<RunFact>) -> Result<Self> {
        let empty = RunFact { ..(*head).clone() };
        let base_fact = base.clone().unwrap_or_else(|| Arc::new(RunFact { params: vec![], results: vec![], ..empty }));
        let commit_before = match &base {
            Some(b) => view::commit_of_run(store, b).await?,
            None => None,
        };
        let commit_after = view::commit_of_run(store, &head).await?;
        let tasks_before = match &base {
            Some(b) => view::tasks_by_pipeline_task(store, b).await?,
            None => Default::default(),
        };
        let tasks_after = view::tasks_by_pipeline_task(store, &head).await?;
        let images_before = match &base {
            Some(b) => view::images_of_run(store, b).await?,
            None => vec![],
        };
        let images_after = view::images_of_run(store, &head).await?;
        let sev_before = Severities::sum(&view::latest_scans_of_images(store, &images_before).await?);
        let sev_after = Severities::sum(&view::latest_scans_of_images(store, &images_after).await?);
        let delta = Severities {
            critical: sev_after.critical - sev_before.critical,
            high: sev_after.high - sev_before.high,
            medium: sev_after.medium - sev_before.medium,
            low: sev_after.low - sev_before.low,
            unknown: sev_after.unknown - sev_before.unknown,
        };
        let commit_key = |c: &Option<CommitInfo>| c.as_ref().map(|c| c.node());
        Ok(RunDiff {
            commit_changed: base.is_some() && commit_key(&commit_before) != commit_key(&commit_after),
            status_changed: base.as_ref().is_some_and(|b| b.status.outcome != head.status.outcome),
            duration_delta_seconds: base.as_ref().and_then(|b| Some(head.duration_seconds()? - b.duration_seconds()?)),
            params: view::diff_values(&base_fact.params, &head.params).into_iter().map(Into::into).collect(),
            results: view::diff_values(&base_fact.results, &head.results).into_iter().map(Into::into).collect(),
            tasks: view::diff_tasks(&tasks_before, &tasks_after).into_iter().map(Into::into).collect(),
            images: ImageDiff {
                added: images_after.iter().filter(|d| !images_before.contains(d)).cloned().collect(),
                removed: images_before.iter().filter(|d| !images_after.contains(d)).cloned().collect(),
                unchanged: images_after.iter().filter(|d| images_before.contains(d)).cloned().collect(),
            },
            scans: VulnerabilityDiff { before: sev_before.into(), after: sev_after.into(), delta: delta.into() },
            commits: CommitChange { before: commit_before.map(Commit), after: commit_after.map(Commit) },
            base: base.map(pipeline_run),
            head: pipeline_run(head),
        })
    }
}

#[derive(SimpleObject)]
pub struct Lineage {
    /// Id of the node the graph is centred on.
    root: String,
    nodes: Vec<LineageNode>,
    edges: Vec<LineageEdge>,
}

#[derive(SimpleObject)]
pub struct LineageNode {
    id: String,
    kind: String,
    label: String,
}

#[derive(SimpleObject)]
pub struct LineageEdge {
    from: String,
    to: String,
    kind: String,
}

pub struct System {
    name: String,
    members: Vec<NodeId>,
}

#[Object]
impl System {
    async fn name(&self) -> &str {
        &self.name
    }
    /// Repository keys that belong to this system.
    async fn repositories(&self) -> Vec<String> {
        self.members_of(crate::model::NodeKind::Repository)
    }
    /// Pipelines (`namespace/name`) that belong to this system.
    async fn pipelines(&self) -> Vec<String> {
        self.members_of(crate::model::NodeKind::Pipeline)
    }
    /// PipelineRuns of this system, newest first (at most `first`).
    async fn pipeline_runs(&self, ctx: &Context<'_>, #[graphql(default = 20)] first: i32) -> Result<Vec<PipelineRun>> {
        let keys: Vec<RunKey> = self.members.iter().filter_map(|n| n.run_key()).collect();
        let mut runs = load_runs(ctx, keys).await?;
        view::newest_first(&mut runs);
        runs.truncate(usize::try_from(first).unwrap_or(0));
        Ok(runs.into_iter().map(pipeline_run).collect())
    }
}

impl System {
    fn members_of(&self, kind: crate::model::NodeKind) -> Vec<String> {
        self.members.iter().filter(|n| n.kind() == Some(kind)).map(|n| n.key().to_string()).collect()
    }
}
