//! The GraphQL schema. Resolvers call the store trait (through [`crate::view`]), never an engine directly.

mod batch;
mod browse;
mod commit;
mod dag;
mod diff;
mod image;
mod lineage;
mod run;
mod scan;

pub use batch::{FactLoader, ImageBatch, RunBatch};
pub use browse::{BrowseQueries, Repository, System};
pub use commit::Commit;
pub use diff::RunDiff;
pub use image::Image;
pub use lineage::{Lineage, LineageEdge, LineageNode};
pub use run::{PipelineRun, RunStatus, TaskRun};
pub use scan::{Scan, VulnerabilityCounts};

use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::{
    Context, EmptyMutation, EmptySubscription, Error, InputObject, MergedObject, Object, Result, Schema, SimpleObject,
};
use chrono::{DateTime, Utc};
use tekton_graph_schema::normalize::repository_key;
use tekton_graph_schema::{Outcome, RunFact, RunKey, RunKind};

use crate::store::scoped::ScopedStore;
use crate::store::{GraphStore, RunFilter, RunPosition, Visibility};
use crate::view;

pub type GraphSchema = Schema<QueryRoot, EmptyMutation, EmptySubscription>;

/// Limits the schema enforces on every query (the web UI's own queries included).
#[derive(Debug, Clone)]
pub struct SchemaOptions {
    pub max_depth: usize,
    /// Each field costs 1; a list field costs `first` times what it selects.
    pub max_complexity: usize,
    pub max_aliases: usize,
    pub introspection: bool,
}

impl Default for SchemaOptions {
    fn default() -> Self {
        SchemaOptions::from(&crate::edge::GraphqlLimits::default())
    }
}

impl From<&crate::edge::GraphqlLimits> for SchemaOptions {
    fn from(limits: &crate::edge::GraphqlLimits) -> Self {
        SchemaOptions {
            max_depth: limits.max_depth,
            max_complexity: limits.max_complexity,
            max_aliases: limits.max_aliases,
            introspection: limits.introspection,
        }
    }
}

/// Builds the schema over a store, with the default limits.
pub fn build_schema(store: Arc<dyn GraphStore>) -> GraphSchema {
    build_schema_with(store, &SchemaOptions::default())
}

/// Builds the schema over a store.
pub fn build_schema_with(store: Arc<dyn GraphStore>, options: &SchemaOptions) -> GraphSchema {
    let loader = fact_loader(&store);
    let builder = Schema::build(QueryRoot::default(), EmptyMutation, EmptySubscription)
        .data(store)
        .data(loader)
        .limit_depth(options.max_depth)
        .limit_complexity(options.max_complexity)
        .extension(crate::edge::AliasLimit(options.max_aliases));
    let builder = if options.introspection { builder } else { builder.disable_introspection() };
    builder.finish()
}

/// Batches run lookups by key over a store. No batching delay: keys requested in the same poll still form one
/// batch, and async-graphql's default 1 ms wait per level was most of a lineage query's latency on the embedded
/// store (benches/query_latency.rs).
fn fact_loader(store: &Arc<dyn GraphStore>) -> Arc<DataLoader<FactLoader>> {
    Arc::new(DataLoader::new(FactLoader { store: store.clone() }, tokio::spawn).delay(std::time::Duration::ZERO))
}

/// What one caller's GraphQL requests read through, as request data that takes the place of the schema's own
/// store: the store seen through the caller's visibility ([`ScopedStore`]) and a run loader over it. An unscoped
/// caller needs none (the schema's store is theirs).
#[derive(Clone)]
pub struct CallerReads {
    store: Arc<dyn GraphStore>,
    loader: Arc<DataLoader<FactLoader>>,
    visible: Arc<Visibility>,
}

impl CallerReads {
    /// `None` for a caller who may see everything.
    pub fn of(store: &Arc<dyn GraphStore>, visible: Option<Visibility>) -> Option<Self> {
        let visible = visible?;
        let scoped: Arc<dyn GraphStore> = Arc::new(ScopedStore::new(store.clone(), visible.clone()));
        Some(CallerReads { loader: fact_loader(&scoped), store: scoped, visible: Arc::new(visible) })
    }

    pub fn store(&self) -> &Arc<dyn GraphStore> {
        &self.store
    }

    pub fn request(self, request: async_graphql::Request) -> async_graphql::Request {
        request.data(self.store).data(self.loader).data(self.visible)
    }

    pub fn batch(self, batch: async_graphql::BatchRequest) -> async_graphql::BatchRequest {
        batch.data(self.store).data(self.loader).data(self.visible)
    }
}

/// The SDL of the schema, as checked in under `schema/graphql/schema.graphql`.
pub fn sdl() -> String {
    Schema::build(QueryRoot::default(), EmptyMutation, EmptySubscription).finish().sdl()
}

fn store<'a>(ctx: &Context<'a>) -> &'a dyn GraphStore {
    ctx.data_unchecked::<Arc<dyn GraphStore>>().as_ref()
}

async fn load_run(ctx: &Context<'_>, key: RunKey) -> Result<Option<Arc<RunFact>>> {
    let loader = ctx.data_unchecked::<Arc<DataLoader<FactLoader>>>();
    loader.load_one(key).await.map_err(|e| Error::new(e.to_string()))
}

async fn load_runs(ctx: &Context<'_>, keys: Vec<RunKey>) -> Result<Vec<Arc<RunFact>>> {
    let loader = ctx.data_unchecked::<Arc<DataLoader<FactLoader>>>();
    let found = loader.load_many(keys.clone()).await.map_err(|e| Error::new(e.to_string()))?;
    Ok(keys.iter().filter_map(|k| found.get(k).cloned()).collect())
}

fn pr_key(namespace: &str, name: &str) -> RunKey {
    RunKey { kind: RunKind::PipelineRun, namespace: namespace.to_string(), name: name.to_string() }
}

/// Every query: runs and what hangs off them, and the browsing reads of list pages.
#[derive(MergedObject, Default)]
pub struct QueryRoot(RunQueries, BrowseQueries);

#[derive(Default)]
pub struct RunQueries;

/// One page of PipelineRuns as a connection.
async fn run_connection(
    ctx: &Context<'_>,
    filter: RunFilter,
    first: usize,
    after: Option<String>,
) -> Result<PipelineRunConnection> {
    let after = after.map(|c| RunPosition::decode(&c)).transpose()?;
    let page = store(ctx).pipeline_runs(&filter, after.as_ref(), first).await?;
    let end_cursor = page.runs.last().map(|(p, _)| p.encode());
    let keys: Vec<RunKey> = page.runs.iter().map(|(_, k)| k.clone()).collect();
    let cursors: Vec<String> = page.runs.iter().map(|(p, _)| p.encode()).collect();
    let runs = run::pipeline_runs(load_runs(ctx, keys).await?);
    let edges = cursors.into_iter().zip(runs).map(|(cursor, node)| PipelineRunEdge { cursor, node });
    Ok(PipelineRunConnection {
        edges: edges.collect(),
        page_info: PageInfo { has_next_page: page.has_next, end_cursor },
    })
}

#[Object]
impl RunQueries {
    /// An image by digest: `sha256:…` or `repository@sha256:…`.
    async fn image(&self, ctx: &Context<'_>, digest: String) -> Result<Option<Image>> {
        Ok(view::image(store(ctx), &digest).await?.map(image::image))
    }

    /// A commit by repository URL (any spelling: scheme, `.git`, host case) and SHA.
    async fn commit(&self, ctx: &Context<'_>, repo: String, sha: String) -> Result<Option<Commit>> {
        Ok(view::commit(store(ctx), &repo, &sha).await?.map(Commit))
    }

    async fn pipeline_run(&self, ctx: &Context<'_>, namespace: String, name: String) -> Result<Option<PipelineRun>> {
        Ok(load_run(ctx, pr_key(&namespace, &name)).await?.map(run::pipeline_run))
    }

    async fn task_run(&self, ctx: &Context<'_>, namespace: String, name: String) -> Result<Option<TaskRun>> {
        let key = RunKey { kind: RunKind::TaskRun, namespace, name };
        Ok(load_run(ctx, key).await?.map(run::task_run))
    }

    /// PipelineRuns, newest first (by start time), as a cursor connection.
    #[graphql(complexity = "browse::list_cost(first, child_complexity)")]
    async fn pipeline_runs(
        &self,
        ctx: &Context<'_>,
        filter: Option<PipelineRunFilter>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> Result<PipelineRunConnection> {
        let filter = filter.map(PipelineRunFilter::into_store).unwrap_or_default();
        run_connection(ctx, filter, browse::bounded(first, "first")?, after).await
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
        let base = match against {
            Some(other) => Some(pr_key(&namespace, &other)),
            None => view::previous_run(store(ctx), &head).await?,
        };
        match view::diff(store(ctx), head, base).await {
            Ok(diff) => Ok(Some(diff.into())),
            Err(view::DiffError::Store(e)) => Err(e.into()),
            Err(missing) => Err(Error::new(missing.to_string())),
        }
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

    /// Counts of what the graph holds: the runs the caller may see; nodes and edges only for a caller who may see
    /// everything.
    async fn stats(&self, ctx: &Context<'_>) -> Result<Stats> {
        if let Some(visible) = ctx.data_opt::<Arc<Visibility>>() {
            let c = store(ctx).run_counts(visible).await?;
            return Ok(Stats { pipeline_runs: c.pipeline_runs, task_runs: c.task_runs, nodes: None, edges: None });
        }
        let c = store(ctx).counts().await?;
        Ok(Stats { pipeline_runs: c.pipeline_runs, task_runs: c.task_runs, nodes: Some(c.nodes), edges: Some(c.edges) })
    }
}

#[derive(SimpleObject)]
pub struct Stats {
    pipeline_runs: usize,
    task_runs: usize,
    /// Nodes with an edge; `null` for a caller whose scope is limited.
    nodes: Option<usize>,
    /// `null` for a caller whose scope is limited.
    edges: Option<usize>,
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
    /// Belongs to this System.
    system: Option<String>,
    /// Started by the Tekton Triggers event with this id (label `triggers.tekton.dev/triggers-eventid`): what an
    /// EventListener answered as `eventID`.
    trigger_event_id: Option<String>,
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
            system: self.system,
            trigger_event_id: self.trigger_event_id,
            visible: None,
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
