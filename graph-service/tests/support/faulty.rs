//! A store that fails on purpose, for the sources' fault tests: transient failures first, and a permanent refusal
//! of named runs (as a store refuses a fact it cannot write).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use graph_service::model::{Edge, EdgeKind, NodeId, NodeKind, ProjectionConfig};
use graph_service::store::embedded::EmbeddedStore;
use graph_service::store::{
    ApplyStats, GraphStore, Neighbour, PipelinePlace, Result as StoreResult, RunCounts, RunFilter, RunPage,
    RunPosition, StoreCounts, StoreError, SummaryRow, Visibility,
};
use tekton_graph_schema::{RunFact, RunKey};

/// Delegates to an in-memory store, failing the first `fail_first` applies (transiently), and refusing for good
/// every apply that holds a run named in `refused` (as a store refuses a fact it cannot write), whole.
pub struct FlakyStore {
    pub inner: EmbeddedStore,
    pub fail_first: usize,
    pub refused: Vec<String>,
    /// Applies tried, failed ones included.
    pub calls: AtomicUsize,
    /// Facts of the applies that went in.
    pub facts_applied: AtomicUsize,
}

impl FlakyStore {
    pub fn new(fail_first: usize) -> Self {
        FlakyStore {
            inner: EmbeddedStore::in_memory(ProjectionConfig::default()),
            fail_first,
            refused: Vec::new(),
            calls: AtomicUsize::new(0),
            facts_applied: AtomicUsize::new(0),
        }
    }

    pub fn refusing(names: &[&str]) -> Self {
        FlakyStore { refused: names.iter().map(|n| n.to_string()).collect(), ..FlakyStore::new(0) }
    }
}

#[async_trait]
impl GraphStore for FlakyStore {
    async fn apply(&self, facts: &[RunFact]) -> StoreResult<ApplyStats> {
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.fail_first {
            return Err(StoreError::Engine("injected failure".into()));
        }
        if let Some(bad) = facts.iter().find(|f| self.refused.contains(&f.name)) {
            return Err(StoreError::Rejected(format!("run `{}` cannot be written", bad.name)));
        }
        let stats = self.inner.apply(facts).await?;
        self.facts_applied.fetch_add(facts.len(), Ordering::SeqCst);
        Ok(stats)
    }
    async fn facts(&self, keys: &[RunKey]) -> StoreResult<Vec<Option<RunFact>>> {
        self.inner.facts(keys).await
    }
    async fn edges(&self, nodes: &[NodeId], kinds: Option<&[EdgeKind]>) -> StoreResult<Vec<Edge>> {
        self.inner.edges(nodes, kinds).await
    }
    async fn pipeline_runs(
        &self,
        filter: &RunFilter,
        after: Option<&RunPosition>,
        first: usize,
    ) -> StoreResult<RunPage> {
        self.inner.pipeline_runs(filter, after, first).await
    }
    async fn existing(&self, nodes: &[NodeId]) -> StoreResult<BTreeSet<NodeId>> {
        self.inner.existing(nodes).await
    }
    async fn counts(&self) -> StoreResult<StoreCounts> {
        self.inner.counts().await
    }
    async fn neighbours(
        &self,
        places: &[PipelinePlace],
        which: Neighbour,
        visible: Option<&Visibility>,
    ) -> StoreResult<Vec<Option<RunKey>>> {
        self.inner.neighbours(places, which, visible).await
    }
    async fn run_counts(&self, visible: &Visibility) -> StoreResult<RunCounts> {
        self.inner.run_counts(visible).await
    }
    async fn run_summary(&self, filter: &RunFilter) -> StoreResult<Vec<SummaryRow>> {
        self.inner.run_summary(filter).await
    }
    async fn nodes(&self, kind: NodeKind, after: Option<&NodeId>, first: usize) -> StoreResult<Vec<NodeId>> {
        self.inner.nodes(kind, after, first).await
    }
}
