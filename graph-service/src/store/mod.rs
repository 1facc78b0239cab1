//! The one store contract every engine implements, and the shared types of its reads.
//!
//! The trait is deliberately small (bulk apply plus four batched reads): everything the API shows is derived
//! from these by shared code in [`crate::view`], so two engines that pass the same conformance suite give the same
//! answers. An engine that cannot answer one of these efficiently does not belong behind this trait.

pub mod embedded;
pub mod neighbourhood;
pub mod neo4j;
pub mod observe;
pub mod scoped;

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tekton_graph_schema::{Outcome, RunFact, RunKey, RunKind};

use crate::model::{Edge, EdgeKind, NodeId, NodeKind};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage engine failed: {0}")]
    Engine(String),
    #[error("stored data is corrupt at `{key}`: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("invalid cursor `{0}`")]
    InvalidCursor(String),
    /// The store refuses this input: writing it again cannot succeed.
    #[error("the store refuses the write: {0}")]
    Rejected(String),
}

impl StoreError {
    /// Whether trying the same write again cannot help: the input is refused, or stored data it needs cannot be
    /// read. A queue source then splits the batch to find the fact at fault and dead-letters it. Engine failures
    /// (a lost connection, a full disk, a timeout) are worth retrying.
    pub fn is_permanent(&self) -> bool {
        matches!(self, StoreError::Rejected(_) | StoreError::Corrupt { .. })
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What an apply did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ApplyStats {
    /// Facts that became the newest observation of their run.
    pub applied: usize,
    /// Facts ignored because an equal or newer observation was already stored.
    pub ignored: usize,
}

/// Which PipelineRuns to list. All set fields must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFilter {
    pub namespace: Option<String>,
    pub pipeline: Option<String>,
    pub outcome: Option<Outcome>,
    /// Repository key (see `normalize::repository_key`).
    pub repository: Option<String>,
    /// Runs whose sort time is at or after this.
    pub since: Option<DateTime<Utc>>,
    /// Runs whose sort time is before this.
    pub until: Option<DateTime<Utc>>,
    /// Runs that belong to this System (a `BELONGS_TO` edge to it).
    pub system: Option<String>,
    /// Runs started by the Tekton Triggers event with this id.
    pub trigger_event_id: Option<String>,
    /// Only the runs a caller may see (`None`: every run). Set by [`scoped::ScopedStore`], never by a client.
    pub visible: Option<Visibility>,
}

/// The PipelineRuns a caller may see: those in one of `namespaces` or belonging to one of `systems` (by their
/// `BELONGS_TO` edge). A TaskRun is visible with its namespace or with the PipelineRun it is part of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Visibility {
    pub namespaces: BTreeSet<String>,
    pub systems: BTreeSet<String>,
}

impl Visibility {
    /// True when a PipelineRun in `namespace` belonging to `system` is visible.
    pub fn allows(&self, namespace: &str, system: Option<&str>) -> bool {
        self.namespaces.contains(namespace) || system.is_some_and(|s| self.systems.contains(s))
    }

    /// The namespaces and the System node ids, as statement parameters.
    pub fn params(&self) -> (Vec<&str>, Vec<String>) {
        let systems = self.systems.iter().map(|s| NodeId::system(s).0).collect();
        (self.namespaces.iter().map(String::as_str).collect(), systems)
    }
}

/// How many observed runs a caller may see.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RunCounts {
    pub pipeline_runs: usize,
    pub task_runs: usize,
}

/// Position of a PipelineRun in the listing order: newest sort time first, then namespace and name descending.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RunPosition {
    /// Start time, else creation time, in milliseconds since the epoch (`i64::MIN` when neither is known).
    pub sort_millis: i64,
    pub namespace: String,
    pub name: String,
}

impl RunPosition {
    pub fn of(fact: &RunFact) -> Self {
        RunPosition {
            sort_millis: Self::sort_millis_of(fact),
            namespace: fact.namespace.clone(),
            name: fact.name.clone(),
        }
    }

    pub fn encode(&self) -> String {
        use base64::Engine;
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    pub fn decode(cursor: &str) -> Result<Self> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|_| StoreError::InvalidCursor(cursor.to_string()))?;
        serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor(cursor.to_string()))
    }

    /// Start time, else creation time, in milliseconds since the epoch (`i64::MIN` when neither is known).
    pub fn sort_millis_of(fact: &RunFact) -> i64 {
        let t = fact.status.start_time.or(fact.creation_timestamp);
        t.map(|t| t.timestamp_millis()).unwrap_or(i64::MIN)
    }
}

/// True when a sort time lies in the filter's `[since, until)`.
pub fn millis_in_range(millis: i64, filter: &RunFilter) -> bool {
    let since = filter.since.map(|t| t.timestamp_millis());
    let until = filter.until.map(|t| t.timestamp_millis());
    since.is_none_or(|s| millis >= s) && until.is_none_or(|u| millis < u)
}

/// A PipelineRun's place in its pipeline's listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelinePlace {
    pub pipeline: String,
    pub position: RunPosition,
}

impl PipelinePlace {
    /// `None` for TaskRuns and for PipelineRuns without a pipeline name (inline `pipelineSpec`).
    pub fn of(fact: &RunFact) -> Option<Self> {
        (fact.kind == RunKind::PipelineRun).then_some(())?;
        Some(PipelinePlace { pipeline: fact.pipeline.clone()?, position: RunPosition::of(fact) })
    }
}

/// Which neighbour [`GraphStore::neighbours`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Neighbour {
    Previous,
    Next,
}

/// One page of PipelineRuns in listing order.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPage {
    pub runs: Vec<(RunPosition, RunKey)>,
    pub has_next: bool,
}

/// Counts of what the store holds, for health and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StoreCounts {
    pub pipeline_runs: usize,
    pub task_runs: usize,
    pub nodes: usize,
    pub edges: usize,
}

/// One group of [`GraphStore::run_summary`]: the PipelineRuns of one pipeline (in one namespace) with one outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryRow {
    pub namespace: String,
    /// `None` for runs without a pipeline name (inline `pipelineSpec`).
    pub pipeline: Option<String>,
    pub outcome: Outcome,
    pub runs: usize,
    /// Median duration of the group's runs that have one: the interpolated 50th percentile (Cypher's
    /// `percentileCont`), so every engine computes the same number.
    pub median_duration_seconds: Option<f64>,
    /// The group's newest run in listing order.
    pub latest: RunPosition,
}

/// The 50th percentile with linear interpolation between the two middle values, as Cypher's `percentileCont`.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let position = 0.5 * (values.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    Some(values[low] + (values[high] - values[low]) * (position - low as f64))
}

/// Kinds of node that [`GraphStore::nodes`] lists: the hubs a user browses by (few, each with many members).
pub const LISTED_KINDS: [NodeKind; 3] = [NodeKind::System, NodeKind::Pipeline, NodeKind::Repository];

/// The id of the Tekton Triggers event that started the run, if one did.
pub fn trigger_event_id(fact: &RunFact) -> Option<&str> {
    fact.supply_chain.trigger.as_ref().and_then(|t| t.event_id.as_deref())
}

/// The store contract. Implementations must make `apply` atomic (all facts of a call or none) and keep, per run,
/// only the newest observation by [`RunFact::compare_observations`], CDEvent observations joined with the stored
/// CDEvent observation of their run inside the same atomic write ([`observe`]).
#[async_trait]
pub trait GraphStore: Send + Sync {
    /// The engine's name in metrics and logs (`embedded`, `neo4j`).
    fn engine(&self) -> &'static str {
        "other"
    }

    /// Applies facts atomically; older or equal observations are ignored.
    async fn apply(&self, facts: &[RunFact]) -> Result<ApplyStats>;

    /// The newest observation of each run, in the order of `keys`.
    async fn facts(&self, keys: &[RunKey]) -> Result<Vec<Option<RunFact>>>;

    /// The outcome of each run's newest observation, in the order of `keys` (`None`: not observed) — what a label
    /// or a badge shows, without reading whole facts. Engines that hold the outcome apart from the fact override it.
    async fn outcomes(&self, keys: &[RunKey]) -> Result<Vec<Option<Outcome>>> {
        Ok(self.facts(keys).await?.into_iter().map(|f| f.map(|f| f.status.outcome)).collect())
    }

    /// Every edge touching any of `nodes`, optionally only of the given kinds; sorted, without duplicates.
    async fn edges(&self, nodes: &[NodeId], kinds: Option<&[EdgeKind]>) -> Result<Vec<Edge>>;

    /// The edges a diff of `runs` reads ([`neighbourhood`]: their TaskRuns, commits and the commits' other runs,
    /// images, scans and the runs that reported them), sorted, without duplicates. Engines where a call is a round
    /// trip answer it in one; the default walks [`Self::edges`] four times.
    async fn diff_neighbourhood(&self, runs: &[NodeId]) -> Result<Vec<Edge>> {
        neighbourhood::walk(self, runs).await
    }

    /// PipelineRuns matching `filter`, in listing order, strictly after `after`, at most `first`.
    async fn pipeline_runs(&self, filter: &RunFilter, after: Option<&RunPosition>, first: usize) -> Result<RunPage>;

    /// For each place, in input order, the previous (latest earlier) or next (earliest later) observed PipelineRun
    /// of the same pipeline in the same namespace, in listing order: one call for a whole page of runs.
    /// With `visible`, only visible runs are neighbours (the caller's previous run skips what they may not see).
    async fn neighbours(
        &self,
        places: &[PipelinePlace],
        which: Neighbour,
        visible: Option<&Visibility>,
    ) -> Result<Vec<Option<RunKey>>>;

    /// Which of `nodes` exist (have at least one edge, or are an observed run).
    async fn existing(&self, nodes: &[NodeId]) -> Result<BTreeSet<NodeId>>;

    async fn counts(&self) -> Result<StoreCounts>;

    /// Observed runs a caller may see, by kind.
    async fn run_counts(&self, visible: &Visibility) -> Result<RunCounts>;

    /// PipelineRuns matching `filter`, grouped by (namespace, pipeline, outcome) and aggregated by the engine —
    /// never by loading every run. Sorted by namespace, pipeline, outcome.
    async fn run_summary(&self, filter: &RunFilter) -> Result<Vec<SummaryRow>>;

    /// Nodes of a [`LISTED_KINDS`] kind that exist (have an edge), sorted by id, strictly after `after`, at most
    /// `first`. Other kinds answer empty.
    async fn nodes(&self, kind: NodeKind, after: Option<&NodeId>, first: usize) -> Result<Vec<NodeId>>;
}
