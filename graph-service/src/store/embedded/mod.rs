//! The embedded default store: a durable fact table in `redb` under an in-memory graph.
//!
//! Why this shape: every graph answer is derived from the newest observation of each run, so the only state that
//! must survive a restart is that set of facts. `redb` (pure Rust, ACID, one file) holds it, one row per run; an
//! apply is one write transaction, so a batch is all-or-nothing and durable before the call returns. The graph
//! itself — interned node ids, reference-counted adjacency, a small record per run with what listings, filters and
//! summaries read, and the listing indexes ([`graph`]) — lives in memory and is rebuilt from the table at start-up,
//! which keeps graph reads at hash-map speed without a query engine of our own. Facts stay in the table and are
//! read (and decoded) when asked for: they are most of the bytes, and a page needs a few dozen of them.

mod adjacency;
mod graph;
mod run;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Mutex, RwLock};
use std::time::Instant;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tekton_graph_schema::{Outcome, RunFact, RunKey, RunKind};

use self::graph::MemoryGraph;
use self::run::text;
use super::{
    ApplyStats, GraphStore, Neighbour, PipelinePlace, Result, RunCounts, RunFilter, RunPage, RunPosition, StoreCounts,
    StoreError, SummaryRow, Visibility, median, observe,
};
use crate::model::{Edge, EdgeKind, NodeId, NodeKind, ProjectionConfig};

/// Newest observation of each run: key `Kind/namespace/name`, value the fact's JSON.
const FACTS: TableDefinition<&str, &[u8]> = TableDefinition::new("facts_v1");

/// Pages of the fact table `redb` keeps in memory (its default is 1 GiB). Reads beyond it go to the operating
/// system's page cache, which the kernel can reclaim, instead of the process's own memory.
/// `serve --fact-cache-mib` sets it.
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

fn engine<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Engine(e.to_string())
}

fn corrupt(key: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt { key: key.to_string(), reason: e.to_string() }
}

/// The embedded store. Cheap to share behind an `Arc`.
pub struct EmbeddedStore {
    db: Database,
    config: ProjectionConfig,
    graph: RwLock<MemoryGraph>,
    /// Serializes applies so the durable table and the memory graph change in the same order.
    writer: Mutex<()>,
}

impl EmbeddedStore {
    /// A store that keeps nothing on disk (tests, benchmarks, the demo): the same table, in memory.
    pub fn in_memory(config: ProjectionConfig) -> Self {
        let db = || -> std::result::Result<Database, redb::Error> {
            let db =
                Database::builder().set_cache_size(0).create_with_backend(redb::backends::InMemoryBackend::new())?;
            let txn = db.begin_write()?;
            txn.open_table(FACTS)?;
            txn.commit()?;
            Ok(db)
        };
        // An in-memory database has no file to fail on; only running out of memory could stop it.
        let db = db().unwrap_or_else(|e| panic!("an in-memory redb database: {e}"));
        EmbeddedStore { db, config, graph: RwLock::default(), writer: Mutex::new(()) }
    }

    /// Opens (or creates) the store under `data_dir` and rebuilds the graph from the stored facts.
    pub fn open(data_dir: &Path, config: ProjectionConfig) -> Result<Self> {
        Self::open_with_cache(data_dir, config, DEFAULT_CACHE_BYTES)
    }

    /// [`EmbeddedStore::open`] with `cache_bytes` of the fact table kept in memory.
    pub fn open_with_cache(data_dir: &Path, config: ProjectionConfig, cache_bytes: usize) -> Result<Self> {
        let started = Instant::now();
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Engine(format!("cannot create data dir {}: {e}", data_dir.display())))?;
        let path = data_dir.join("graph.redb");
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .create(&path)
            .map_err(|e| StoreError::Engine(format!("{}: {e}", path.display())))?;
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
            let fact: RunFact = serde_json::from_slice(value.value()).map_err(|e| corrupt(key.value(), e))?;
            graph.insert(&fact, &config);
        }
        drop(table);
        drop(txn);
        tracing::info!(
            runs = graph.runs.len(),
            seconds = started.elapsed().as_secs_f64(),
            path = %path.display(),
            "rebuilt the embedded graph from its fact table"
        );
        Ok(EmbeddedStore { db, config, graph: RwLock::new(graph), writer: Mutex::new(()) })
    }

    /// At most `first` runs of `candidates` that match `filter`, and whether more follow.
    fn page<'a>(
        graph: &MemoryGraph,
        candidates: impl Iterator<Item = (&'a RunPosition, &'a u32)>,
        filter: &RunFilter,
        first: usize,
    ) -> RunPage {
        let mut runs = Vec::new();
        for (position, node) in candidates {
            if !graph.runs.get(node).is_some_and(|r| r.matches(&graph.strings, filter)) {
                continue;
            }
            if runs.len() == first {
                return RunPage { runs, has_next: true };
            }
            runs.push((position.clone(), pipeline_run_key(position)));
        }
        RunPage { runs, has_next: false }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, MemoryGraph> {
        self.graph.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes, in one transaction, the facts of the batch the graph must take (see [`super::observe`]): each run's
    /// observation in the batch against the stored one, read from the table under the writer lock, so the stored
    /// observations it joins cannot change before the write. Returns them and how many inputs it ignores.
    fn persist(&self, facts: &[RunFact]) -> Result<(Vec<RunFact>, usize)> {
        let txn = self.db.begin_write().map_err(engine)?;
        let mut winners = Vec::new();
        {
            let mut table = txn.open_table(FACTS).map_err(engine)?;
            for (key, fact) in observe::of_batch(facts) {
                let key = key.to_string();
                let json = serde_json::to_vec(fact.as_ref()).map_err(engine)?;
                let stored = table.get(key.as_str()).map_err(engine)?.map(|v| v.value().to_vec());
                let winner = match stored {
                    None => Some((fact, json)),
                    // A replay of what is stored: nothing to decode.
                    Some(stored) if stored == json => None,
                    Some(stored) => {
                        let stored: RunFact = serde_json::from_slice(&stored).map_err(|e| corrupt(&key, e))?;
                        match observe::observed_after(&stored, fact) {
                            Some(std::borrow::Cow::Borrowed(fact)) => Some((std::borrow::Cow::Borrowed(fact), json)),
                            Some(joined) => {
                                let json = serde_json::to_vec(joined.as_ref()).map_err(engine)?;
                                Some((joined, json))
                            }
                            None => None,
                        }
                    }
                };
                if let Some((fact, json)) = winner {
                    table.insert(key.as_str(), json.as_slice()).map_err(engine)?;
                    winners.push(fact.into_owned());
                }
            }
        }
        txn.commit().map_err(engine)?;
        let ignored = facts.len() - winners.len();
        Ok((winners, ignored))
    }
}

/// The key of a listed PipelineRun.
fn pipeline_run_key(position: &RunPosition) -> RunKey {
    RunKey { kind: RunKind::PipelineRun, namespace: position.namespace.clone(), name: position.name.clone() }
}

#[async_trait]
impl GraphStore for EmbeddedStore {
    fn engine(&self) -> &'static str {
        "embedded"
    }

    async fn apply(&self, facts: &[RunFact]) -> Result<ApplyStats> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let (winners, ignored) = self.persist(facts)?;
        let mut graph = self.graph.write().unwrap_or_else(|p| p.into_inner());
        for fact in &winners {
            graph.insert(fact, &self.config);
        }
        Ok(ApplyStats { applied: winners.len(), ignored })
    }

    async fn facts(&self, keys: &[RunKey]) -> Result<Vec<Option<RunFact>>> {
        let txn = self.db.begin_read().map_err(engine)?;
        let table = txn.open_table(FACTS).map_err(engine)?;
        keys.iter()
            .map(|key| {
                let key = key.to_string();
                let Some(json) = table.get(key.as_str()).map_err(engine)? else { return Ok(None) };
                serde_json::from_slice(json.value()).map(Some).map_err(|e| corrupt(&key, e))
            })
            .collect()
    }

    async fn outcomes(&self, keys: &[RunKey]) -> Result<Vec<Option<Outcome>>> {
        let graph = self.read();
        let outcome = |key: &RunKey| Some(graph.runs.get(&graph.node(&NodeId::run(key))?)?.outcome);
        Ok(keys.iter().map(outcome).collect())
    }

    async fn edges(&self, nodes: &[NodeId], kinds: Option<&[EdgeKind]>) -> Result<Vec<Edge>> {
        let graph = self.read();
        let mut out = BTreeSet::new();
        for node in nodes {
            let Some(index) = graph.node(node) else { continue };
            out.extend(graph.edges_of(index).filter(|e| kinds.is_none_or(|ks| ks.contains(&e.kind))));
        }
        Ok(out.into_iter().collect())
    }

    async fn pipeline_runs(&self, filter: &RunFilter, after: Option<&RunPosition>, first: usize) -> Result<RunPage> {
        let graph = self.read();
        let Some(listing) = graph.listing_for(filter) else { return Ok(RunPage { runs: Vec::new(), has_next: false }) };
        Ok(match after {
            Some(after) => Self::page(&graph, listing.range(..after.clone()).rev(), filter, first),
            None => Self::page(&graph, listing.iter().rev(), filter, first),
        })
    }

    async fn neighbours(
        &self,
        places: &[PipelinePlace],
        which: Neighbour,
        visible: Option<&Visibility>,
    ) -> Result<Vec<Option<RunKey>>> {
        use std::ops::Bound::{Excluded, Unbounded};
        let graph = self.read();
        let shown = |(_, node): &(&RunPosition, &u32)| {
            visible.is_none_or(|v| graph.runs.get(*node).is_some_and(|r| r.visible(&graph.strings, v)))
        };
        Ok(places
            .iter()
            .map(|place| {
                let listing = graph.pipeline_listing(&place.position.namespace, &place.pipeline)?;
                let found = match which {
                    Neighbour::Previous => listing.range(..&place.position).rev().find(shown),
                    Neighbour::Next => listing.range((Excluded(&place.position), Unbounded)).find(shown),
                };
                found.map(|(position, _)| pipeline_run_key(position))
            })
            .collect())
    }

    async fn existing(&self, nodes: &[NodeId]) -> Result<BTreeSet<NodeId>> {
        let graph = self.read();
        Ok(nodes
            .iter()
            .filter(|n| graph.node(n).is_some_and(|i| graph.has_edges(i) || graph.runs.contains_key(&i)))
            .cloned()
            .collect())
    }

    async fn counts(&self) -> Result<StoreCounts> {
        let graph = self.read();
        let pipeline_runs = graph.runs.values().filter(|r| r.kind == RunKind::PipelineRun).count();
        Ok(StoreCounts {
            pipeline_runs,
            task_runs: graph.runs.len() - pipeline_runs,
            nodes: graph.node_count(),
            edges: graph.edge_count(),
        })
    }

    async fn run_counts(&self, visible: &Visibility) -> Result<RunCounts> {
        let graph = self.read();
        let mut counts = RunCounts::default();
        for (&node, record) in &graph.runs {
            match record.kind {
                RunKind::PipelineRun if record.visible(&graph.strings, visible) => counts.pipeline_runs += 1,
                RunKind::TaskRun if graph.task_run_visible(node, record, visible) => counts.task_runs += 1,
                _ => {}
            }
        }
        Ok(counts)
    }

    async fn run_summary(&self, filter: &RunFilter) -> Result<Vec<SummaryRow>> {
        // Borrowed group keys and records: no allocation per run, so a summary of 200k runs is one pass over the
        // index.
        type Group<'a> = (usize, Vec<f64>, &'a RunPosition);
        let graph = self.read();
        let Some(listing) = graph.listing_for(filter) else { return Ok(Vec::new()) };
        let bound = |t: Option<chrono::DateTime<chrono::Utc>>| RunPosition {
            sort_millis: t.map(|t| t.timestamp_millis()).unwrap_or(i64::MIN),
            namespace: String::new(),
            name: String::new(),
        };
        let runs: Box<dyn Iterator<Item = (&RunPosition, &u32)>> = match filter.until {
            Some(until) => Box::new(listing.range(bound(filter.since)..bound(Some(until)))),
            None => Box::new(listing.range(bound(filter.since)..)),
        };
        let strings = &graph.strings;
        let mut groups: BTreeMap<(&str, Option<&str>, Outcome), Group<'_>> = BTreeMap::new();
        for (position, node) in runs {
            let Some(record) = graph.runs.get(node).filter(|r| r.matches(strings, filter)) else { continue };
            let group_key =
                (text(strings, record.namespace), record.pipeline.map(|p| text(strings, p)), record.outcome);
            let group = groups.entry(group_key).or_insert_with(|| (0, Vec::new(), position));
            group.0 += 1;
            group.1.extend(record.duration_seconds);
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
