//! Read-side derivations shared by every store: node properties of derived nodes, run links, diffs and lineage.
//!
//! Everything here is computed from the store trait's reads, so engines cannot drift apart in what they answer.
//! Reads are batched: each function takes many keys and makes a fixed number of store calls, so a page of a
//! hundred runs costs what one run costs. Where several runs claim a property (two runs of one commit reporting
//! its author), the claim of the newest run wins, and ties break on the run key: deterministic whatever the
//! arrival order.

mod commit;
mod diff;
mod image;
mod lineage;
mod links;
mod scan;

use std::collections::HashMap;
use std::sync::Arc;

use tekton_graph_schema::{RunFact, RunKey, RunKind};

pub use commit::{CommitInfo, commit, commit_of_run, commits};
pub use diff::{DiffError, RunDiff, TaskChange, TaskChangeKind, ValueChange, diff, diff_tasks, diff_values};
pub use image::{ImageInfo, image, images};
pub use lineage::{LINEAGE_NODE_LIMIT, Lineage, LineageNode, RefError, lineage, parse_ref};
pub use links::{RunLinks, links, links_of};
pub use scan::{ScanInfo, Severities, latest_per_image, latest_scans_of_images, scan_infos, scans_by_id, scans_of_run};

use crate::model::{Edge, EdgeKind, NodeId, parent_run_name};
use crate::store::{GraphStore, Neighbour, PipelinePlace, Result, RunPosition};

/// Newest first: sort time, then key (descending).
pub fn newest_first(facts: &mut [Arc<RunFact>]) {
    facts.sort_by(|a, b| (RunPosition::of(b), b.key()).cmp(&(RunPosition::of(a), a.key())));
}

/// Fetches facts for keys, dropping runs that were never observed.
pub async fn load_facts(store: &dyn GraphStore, keys: &[RunKey]) -> Result<Vec<Arc<RunFact>>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    Ok(store.facts(keys).await?.into_iter().flatten().map(Arc::new).collect())
}

/// The owning PipelineRun a TaskRun's own object names.
pub fn parent_key(fact: &RunFact) -> Option<RunKey> {
    (fact.kind == RunKind::TaskRun).then_some(())?;
    Some(RunKey { kind: RunKind::PipelineRun, namespace: fact.namespace.clone(), name: parent_run_name(fact)?.into() })
}

/// The PipelineRun a TaskRun is part of, as the graph holds it: the TaskRun's own owner, else the `PART_OF` edge a
/// PipelineRun contributed by listing it as a child (a TaskRun object need not name its owner). The graph and the
/// read model must agree, so the edge is the answer whenever the fact alone does not know.
pub async fn parent_of(store: &dyn GraphStore, fact: &Arc<RunFact>) -> Result<Option<RunKey>> {
    if fact.kind != RunKind::TaskRun {
        return Ok(None);
    }
    if let Some(own) = parent_key(fact) {
        return Ok(Some(own));
    }
    Ok(links_of(store, fact).await?.parent)
}

/// TaskRuns that are part of a PipelineRun (observed or referenced), sorted by name.
pub async fn task_runs_of(store: &dyn GraphStore, pipeline_run: &Arc<RunFact>) -> Result<Vec<RunKey>> {
    Ok(links_of(store, pipeline_run).await?.task_runs)
}

/// Images a run produced (for a PipelineRun: it or its TaskRuns), sorted by digest.
pub async fn images_of_run(store: &dyn GraphStore, fact: &Arc<RunFact>) -> Result<Vec<String>> {
    Ok(links_of(store, fact).await?.images.into_iter().collect())
}

/// The previous run of the same pipeline in the same namespace: the latest earlier start.
pub async fn previous_run(store: &dyn GraphStore, fact: &RunFact) -> Result<Option<RunKey>> {
    Ok(neighbours(store, std::slice::from_ref(fact), Neighbour::Previous).await?.into_values().next())
}

/// The previous or next run of each PipelineRun's pipeline, by the run's key, in one store call. Runs without a
/// neighbour (or without a pipeline) are absent.
pub async fn neighbours<F: std::borrow::Borrow<RunFact>>(
    store: &dyn GraphStore,
    facts: &[F],
    which: Neighbour,
) -> Result<HashMap<RunKey, RunKey>> {
    let (keys, places): (Vec<RunKey>, Vec<PipelinePlace>) =
        facts.iter().filter_map(|f| Some((f.borrow().key(), PipelinePlace::of(f.borrow())?))).unzip();
    if places.is_empty() {
        return Ok(HashMap::new());
    }
    let found = store.neighbours(&places, which, None).await?;
    Ok(keys.into_iter().zip(found).filter_map(|(k, n)| Some((k, n?))).collect())
}

/// Edges by node, as read so far: lets batched reads answer "which edges of kind K leave (or reach) node N"
/// without another store call.
#[derive(Default)]
pub(crate) struct Adjacency {
    edges: HashMap<NodeId, Vec<Edge>>,
}

impl Adjacency {
    pub(crate) fn add(&mut self, edges: Vec<Edge>) {
        for edge in edges {
            if edge.from != edge.to {
                self.edges.entry(edge.to.clone()).or_default().push(edge.clone());
            }
            self.edges.entry(edge.from.clone()).or_default().push(edge);
        }
    }

    pub(crate) fn outgoing<'a>(&'a self, node: &'a NodeId, kind: EdgeKind) -> impl Iterator<Item = &'a NodeId> + 'a {
        self.edges.get(node).into_iter().flatten().filter(move |e| e.kind == kind && &e.from == node).map(|e| &e.to)
    }

    pub(crate) fn incoming<'a>(&'a self, node: &'a NodeId, kind: EdgeKind) -> impl Iterator<Item = &'a NodeId> + 'a {
        self.edges.get(node).into_iter().flatten().filter(move |e| e.kind == kind && &e.to == node).map(|e| &e.from)
    }
}
