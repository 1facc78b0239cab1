//! The embedded default store: an in-memory projection over a durable fact table in `redb`.
//!
//! Why this shape: every graph answer is derived from the newest observation of each run, so the only state that
//! must survive a restart is that set of facts. `redb` (pure Rust, ACID, one file) holds it, one row per run; an
//! apply is one write transaction, so a batch is all-or-nothing and durable before the call returns. The graph
//! itself (adjacency with per-run contributions, listing indexes) lives in memory and is rebuilt from the table at
//! start-up, which keeps reads at hash-map speed without a query engine of our own.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tekton_graph_schema::{RunFact, RunKey, RunKind};

use std::collections::BTreeMap;

use tekton_graph_schema::Outcome;

use super::{
    ApplyStats, GraphStore, LISTED_KINDS, Neighbour, PipelinePlace, Result, RunCounts, RunFilter, RunPage, RunPosition,
    StoreCounts, StoreError, SummaryRow, Visibility, fact_matches, median, observe,
};
use crate::model::{Edge, EdgeKind, NodeId, NodeKind, ProjectionConfig, project};

/// Newest observation of each run: key `Kind/namespace/name`, value the fact's JSON.
const FACTS: TableDefinition<&str, &[u8]> = TableDefinition::new("facts_v1");

fn engine<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Engine(e.to_string())
}

/// The embedded store. Cheap to share behind an `Arc`.
pub struct EmbeddedStore {
    db: Option<Database>,
    config: ProjectionConfig,
    graph: RwLock<MemoryGraph>,
    /// Serializes applies so the durable table and the memory graph change in the same order.
    writer: Mutex<()>,
}

impl EmbeddedStore {
    /// A store that keeps nothing on disk (tests, benchmarks).
    pub fn in_memory(config: ProjectionConfig) -> Self {
        EmbeddedStore { db: None, config, graph: RwLock::default(), writer: Mutex::new(()) }
    }

    /// Opens (or creates) the store under `data_dir` and rebuilds the graph from the stored facts.
    pub fn open(data_dir: &Path, config: ProjectionConfig) -> Result<Self> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Engine(format!("cannot create data dir {}: {e}", data_dir.display())))?;
        let path = data_dir.join("graph.redb");
        let db = Database::create(&path).map_err(|e| StoreError::Engine(format!("{}: {e}", path.display())))?;
        let mut graph = MemoryGraph::default();
        {
            let txn = db.begin_write().map_err(engine)?;
            txn.open_table(FACTS).map_err(engine)?;
            txn.commit().map_err(engine)?;
        }
        let txn = db.begin_read().map_err(engine)?;
        let table = txn.open_table(FACTS).map_err(engine)?;
        for row in table.iter().map_err(engine)? {
            let (key, value) = row.map_err(engine)?;
            let fact: RunFact = serde_json::from_slice(value.value())
                .map_err(|e| StoreError::Corrupt { key: key.value().to_string(), reason: e.to_string() })?;
            graph.insert(Arc::new(fact), &config);
        }
        drop(table);
        drop(txn);
        Ok(EmbeddedStore { db: Some(db), config, graph: RwLock::new(graph), writer: Mutex::new(()) })
    }

    /// At most `first` runs of `candidates` that match `filter`, and whether more follow.
    fn page<'a>(
        &self,
        candidates: Box<dyn Iterator<Item = (&'a RunPosition, &'a Arc<RunFact>)> + 'a>,
        filter: &RunFilter,
        first: usize,
    ) -> RunPage {
        let mut runs = Vec::new();
        for (position, fact) in candidates {
            if !self.matches(fact, filter) {
                continue;
            }
            if runs.len() == first {
                return RunPage { runs, has_next: true };
            }
            runs.push((position.clone(), fact.key()));
        }
        RunPage { runs, has_next: false }
    }

    /// The whole filter, System and visibility included (a run belongs to the System its projection names).
    fn matches(&self, fact: &RunFact, filter: &RunFilter) -> bool {
        fact_matches(fact, filter)
            && filter.system.as_ref().is_none_or(|s| self.config.system_of(fact).as_ref() == Some(s))
            && filter.visible.as_ref().is_none_or(|v| self.visible(fact, v))
    }

    /// Whether a PipelineRun is visible (TaskRuns: see [`MemoryGraph::task_run_visible`]).
    fn visible(&self, fact: &RunFact, visible: &Visibility) -> bool {
        visible.allows(&fact.namespace, self.config.system_of(fact).as_deref())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, MemoryGraph> {
        self.graph.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Picks, per run, the winning observation among the batch and what is stored.
    /// The facts of the batch the graph must take (see [`super::observe`]), and how many inputs it ignores.
    /// Called under the writer lock: the stored observations it joins cannot change before the write.
    fn winners(&self, facts: &[RunFact]) -> (Vec<Arc<RunFact>>, usize) {
        let graph = self.read();
        let winners: Vec<Arc<RunFact>> = observe::of_batch(facts)
            .into_iter()
            .filter_map(|(key, fact)| match graph.facts.get(&key) {
                None => Some(fact),
                Some(stored) => observe::observed_after(stored, fact),
            })
            .map(|fact| Arc::new(fact.into_owned()))
            .collect();
        let ignored = facts.len() - winners.len();
        (winners, ignored)
    }

    fn persist(&self, winners: &[Arc<RunFact>]) -> Result<()> {
        let Some(db) = &self.db else { return Ok(()) };
        let txn = db.begin_write().map_err(engine)?;
        {
            let mut table = txn.open_table(FACTS).map_err(engine)?;
            for fact in winners {
                let json = serde_json::to_vec(fact.as_ref()).map_err(engine)?;
                table.insert(fact.key().to_string().as_str(), json.as_slice()).map_err(engine)?;
            }
        }
        txn.commit().map_err(engine)
    }
}

#[async_trait]
impl GraphStore for EmbeddedStore {
    fn engine(&self) -> &'static str {
        "embedded"
    }

    async fn apply(&self, facts: &[RunFact]) -> Result<ApplyStats> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let (winners, ignored) = self.winners(facts);
        self.persist(&winners)?;
        let mut graph = self.graph.write().unwrap_or_else(|p| p.into_inner());
        for fact in &winners {
            graph.insert(fact.clone(), &self.config);
        }
        Ok(ApplyStats { applied: winners.len(), ignored })
    }

    async fn facts(&self, keys: &[RunKey]) -> Result<Vec<Option<RunFact>>> {
        let graph = self.read();
        Ok(keys.iter().map(|k| graph.facts.get(k).map(|f| f.as_ref().clone())).collect())
    }

    async fn edges(&self, nodes: &[NodeId], kinds: Option<&[EdgeKind]>) -> Result<Vec<Edge>> {
        let graph = self.read();
        let mut out = BTreeSet::new();
        for node in nodes {
            let Some(&index) = graph.ids.get(node) else {
                continue;
            };
            for &(kind, other, outgoing) in graph.adjacency[index as usize].keys() {
                if kinds.is_some_and(|ks| !ks.contains(&kind)) {
                    continue;
                }
                let other = graph.names[other as usize].clone();
                let edge = if outgoing {
                    Edge { from: node.clone(), kind, to: other }
                } else {
                    Edge { from: other, kind, to: node.clone() }
                };
                out.insert(edge);
            }
        }
        Ok(out.into_iter().collect())
    }

    async fn pipeline_runs(&self, filter: &RunFilter, after: Option<&RunPosition>, first: usize) -> Result<RunPage> {
        let graph = self.read();
        let Some(listing) = graph.listing_for(filter) else { return Ok(RunPage { runs: Vec::new(), has_next: false }) };
        let candidates: Box<dyn Iterator<Item = (&RunPosition, &Arc<RunFact>)>> = match after {
            Some(after) => Box::new(listing.range(..after.clone()).rev()),
            None => Box::new(listing.iter().rev()),
        };
        Ok(self.page(candidates, filter, first))
    }

    async fn neighbours(
        &self,
        places: &[PipelinePlace],
        which: Neighbour,
        visible: Option<&Visibility>,
    ) -> Result<Vec<Option<RunKey>>> {
        use std::ops::Bound::{Excluded, Unbounded};
        let graph = self.read();
        let shown = |fact: &&Arc<RunFact>| visible.is_none_or(|v| self.visible(fact, v));
        Ok(places
            .iter()
            .map(|place| {
                let listing = graph.by_pipeline.get(&(place.position.namespace.clone(), place.pipeline.clone()))?;
                let found = match which {
                    Neighbour::Previous => listing.range(..&place.position).map(|(_, f)| f).rev().find(shown),
                    Neighbour::Next => {
                        listing.range((Excluded(&place.position), Unbounded)).map(|(_, f)| f).find(shown)
                    }
                };
                found.map(|fact| fact.key())
            })
            .collect())
    }

    async fn existing(&self, nodes: &[NodeId]) -> Result<BTreeSet<NodeId>> {
        let graph = self.read();
        Ok(nodes
            .iter()
            .filter(|n| {
                graph.ids.get(*n).is_some_and(|&i| !graph.adjacency[i as usize].is_empty())
                    || n.run_key().is_some_and(|k| graph.facts.contains_key(&k))
            })
            .cloned()
            .collect())
    }

    async fn counts(&self) -> Result<StoreCounts> {
        let graph = self.read();
        let pipeline_runs = graph.facts.keys().filter(|k| k.kind == RunKind::PipelineRun).count();
        let nodes = graph.adjacency.iter().filter(|a| !a.is_empty()).count();
        let edges = graph.adjacency.iter().map(|a| a.keys().filter(|(_, _, out)| *out).count()).sum();
        Ok(StoreCounts { pipeline_runs, task_runs: graph.facts.len() - pipeline_runs, nodes, edges })
    }

    async fn run_counts(&self, visible: &Visibility) -> Result<RunCounts> {
        let graph = self.read();
        let mut counts = RunCounts::default();
        for fact in graph.facts.values() {
            match fact.kind {
                RunKind::PipelineRun if self.visible(fact, visible) => counts.pipeline_runs += 1,
                RunKind::TaskRun if graph.task_run_visible(fact, visible, &self.config) => counts.task_runs += 1,
                _ => {}
            }
        }
        Ok(counts)
    }

    async fn run_summary(&self, filter: &RunFilter) -> Result<Vec<SummaryRow>> {
        // Borrowed group keys and the listing's facts: no allocation per run, so a summary of 200k runs is one
        // pass over the index.
        type Group<'a> = (usize, Vec<f64>, &'a RunPosition);
        let graph = self.read();
        let Some(listing) = graph.listing_for(filter) else { return Ok(Vec::new()) };
        let bound = |t: Option<chrono::DateTime<chrono::Utc>>| RunPosition {
            sort_millis: t.map(|t| t.timestamp_millis()).unwrap_or(i64::MIN),
            namespace: String::new(),
            name: String::new(),
        };
        let runs: Box<dyn Iterator<Item = (&RunPosition, &Arc<RunFact>)>> = match filter.until {
            Some(until) => Box::new(listing.range(bound(filter.since)..bound(Some(until)))),
            None => Box::new(listing.range(bound(filter.since)..)),
        };
        let mut groups: BTreeMap<(&str, Option<&str>, Outcome), Group<'_>> = BTreeMap::new();
        for (position, fact) in runs {
            if !self.matches(fact, filter) {
                continue;
            }
            let group_key = (fact.namespace.as_str(), fact.pipeline.as_deref(), fact.status.outcome);
            let group = groups.entry(group_key).or_insert_with(|| (0, Vec::new(), position));
            group.0 += 1;
            group.1.extend(fact.duration_seconds());
            group.2 = group.2.max(position);
        }
        Ok(groups
            .into_iter()
            .map(|((namespace, pipeline, outcome), (runs, mut durations, latest))| SummaryRow {
                namespace: namespace.to_string(),
                pipeline: pipeline.map(str::to_string),
                outcome,
                runs,
                median_duration_seconds: median(&mut durations),
                latest: latest.clone(),
            })
            .collect())
    }

    async fn nodes(&self, kind: NodeKind, after: Option<&NodeId>, first: usize) -> Result<Vec<NodeId>> {
        let graph = self.read();
        let Some(set) = graph.listed.get(&kind) else { return Ok(Vec::new()) };
        let nodes: Box<dyn Iterator<Item = &NodeId>> = match after {
            Some(after) => {
                Box::new(set.range::<NodeId, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded)))
            }
            None => Box::new(set.iter()),
        };
        Ok(nodes.take(first).cloned().collect())
    }
}

/// Adjacency entry: edge kind, the other node, and whether the edge leaves this node.
type AdjacencyKey = (EdgeKind, u32, bool);

/// The in-memory graph. Node ids are interned to `u32`; each edge is reference-counted by the runs whose newest
/// observation contributes it, so replacing an observation removes exactly what it alone contributed.
#[derive(Default)]
struct MemoryGraph {
    facts: HashMap<RunKey, Arc<RunFact>>,
    contributed: HashMap<RunKey, Vec<Edge>>,
    ids: HashMap<NodeId, u32>,
    names: Vec<NodeId>,
    adjacency: Vec<HashMap<AdjacencyKey, u32>>,
    /// All PipelineRuns in listing order.
    listing: BTreeMap<RunPosition, Arc<RunFact>>,
    /// PipelineRuns per (namespace, pipeline) in listing order.
    by_pipeline: HashMap<(String, String), BTreeMap<RunPosition, Arc<RunFact>>>,
    /// Existing nodes of the listed kinds (Systems, Pipelines, Repositories), sorted.
    listed: HashMap<NodeKind, BTreeSet<NodeId>>,
}

impl MemoryGraph {
    fn insert(&mut self, fact: Arc<RunFact>, config: &ProjectionConfig) {
        let key = fact.key();
        if let Some(old) = self.facts.remove(&key) {
            self.unindex_run(&old);
        }
        for edge in self.contributed.remove(&key).unwrap_or_default() {
            self.change_edge(&edge, false);
        }
        let edges = project(&fact, config);
        for edge in &edges {
            self.change_edge(edge, true);
        }
        self.contributed.insert(key.clone(), edges);
        self.index_run(&fact);
        self.facts.insert(key, fact);
    }

    /// A TaskRun is visible with its namespace, or with a visible PipelineRun it is part of (by `PART_OF`).
    fn task_run_visible(&self, fact: &RunFact, visible: &Visibility, config: &ProjectionConfig) -> bool {
        if visible.namespaces.contains(&fact.namespace) {
            return true;
        }
        let Some(&index) = self.ids.get(&NodeId::run(&fact.key())) else { return false };
        self.adjacency[index as usize].keys().filter(|(kind, _, out)| *kind == EdgeKind::PartOf && *out).any(
            |&(_, parent, _)| {
                let parent = self.names[parent as usize].run_key().and_then(|k| self.facts.get(&k));
                parent.is_some_and(|p| visible.allows(&p.namespace, config.system_of(p).as_deref()))
            },
        )
    }

    fn index_run(&mut self, fact: &Arc<RunFact>) {
        if fact.kind != RunKind::PipelineRun {
            return;
        }
        let position = RunPosition::of(fact);
        if let Some(pipeline) = &fact.pipeline {
            let runs = self.by_pipeline.entry((fact.namespace.clone(), pipeline.clone())).or_default();
            runs.insert(position.clone(), fact.clone());
        }
        self.listing.insert(position, fact.clone());
    }

    /// The listing index a filter reads: one pipeline's, when the filter names namespace and pipeline (`None` when
    /// that pipeline has no runs), else all runs.
    fn listing_for(&self, filter: &RunFilter) -> Option<&BTreeMap<RunPosition, Arc<RunFact>>> {
        match (&filter.namespace, &filter.pipeline) {
            (Some(ns), Some(p)) => self.by_pipeline.get(&(ns.clone(), p.clone())),
            _ => Some(&self.listing),
        }
    }

    fn unindex_run(&mut self, fact: &RunFact) {
        if fact.kind != RunKind::PipelineRun {
            return;
        }
        let position = RunPosition::of(fact);
        if let Some(pipeline) = &fact.pipeline
            && let Some(set) = self.by_pipeline.get_mut(&(fact.namespace.clone(), pipeline.clone()))
        {
            set.remove(&position);
        }
        self.listing.remove(&position);
    }

    /// Keeps `listed` in step with which nodes of the listed kinds exist.
    fn list_node(&mut self, node: u32, exists: bool) {
        let id = &self.names[node as usize];
        let Some(kind) = id.kind().filter(|k| LISTED_KINDS.contains(k)) else { return };
        let set = self.listed.entry(kind).or_default();
        if exists {
            set.insert(id.clone());
        } else {
            set.remove(id);
        }
    }

    fn intern(&mut self, id: &NodeId) -> u32 {
        if let Some(&i) = self.ids.get(id) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(id.clone());
        self.adjacency.push(HashMap::new());
        self.ids.insert(id.clone(), i);
        i
    }

    fn change_edge(&mut self, edge: &Edge, add: bool) {
        let from = self.intern(&edge.from);
        let to = self.intern(&edge.to);
        for (node, key) in [(from, (edge.kind, to, true)), (to, (edge.kind, from, false))] {
            let entries = &mut self.adjacency[node as usize];
            let was_empty = entries.is_empty();
            if add {
                *entries.entry(key).or_insert(0) += 1;
            } else if let Some(count) = entries.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    entries.remove(&key);
                }
            }
            let is_empty = entries.is_empty();
            if was_empty != is_empty {
                self.list_node(node, !is_empty);
            }
        }
    }
}
