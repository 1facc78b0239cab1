//! What hangs off a set of runs — parent, TaskRuns, commit, images, scans, re-runs — read in at most two store calls
//! whatever the number of runs, so that a list of runs costs the same as one run.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use tekton_graph_schema::{RunFact, RunKey, RunKind};

use super::{Adjacency, parent_key};
use crate::model::{EdgeKind, NodeId};
use crate::store::{GraphStore, Result};

/// The graph around one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunLinks {
    /// A TaskRun's PipelineRun: the one its own object names, else the one that lists it as a child (`PART_OF`).
    pub parent: Option<RunKey>,
    /// A PipelineRun's TaskRuns (observed or only referenced), sorted.
    pub task_runs: Vec<RunKey>,
    /// The commit the run was built from: its own `BUILT_FROM`, else its parent's.
    pub commit: Option<NodeId>,
    /// Digests the run produced (a PipelineRun: it or its TaskRuns), sorted.
    pub images: BTreeSet<String>,
    /// Scans the run reported (a PipelineRun: it or its TaskRuns), sorted.
    pub scans: BTreeSet<NodeId>,
    /// PipelineRuns that re-run this one, sorted.
    pub reruns: Vec<RunKey>,
}

const RUN_KINDS: [EdgeKind; 5] =
    [EdgeKind::PartOf, EdgeKind::BuiltFrom, EdgeKind::Produced, EdgeKind::Reported, EdgeKind::RerunOf];

/// The links of every run in `runs`, in two store calls: the runs' own edges, then the edges of the TaskRuns and
/// parents that the first call found.
pub async fn links(store: &dyn GraphStore, runs: &[Arc<RunFact>]) -> Result<HashMap<RunKey, RunLinks>> {
    if runs.is_empty() {
        return Ok(HashMap::new());
    }
    let nodes: BTreeSet<NodeId> = runs.iter().map(|f| NodeId::run(&f.key())).collect();
    let mut graph = Adjacency::default();
    graph.add(store.edges(&nodes.iter().cloned().collect::<Vec<_>>(), Some(&RUN_KINDS)).await?);

    let parent_of = |fact: &RunFact, graph: &Adjacency| -> Option<RunKey> {
        if fact.kind != RunKind::TaskRun {
            return None;
        }
        parent_key(fact).or_else(|| {
            let node = NodeId::run(&fact.key());
            graph.outgoing(&node, EdgeKind::PartOf).filter_map(NodeId::run_key).min()
        })
    };
    let task_runs_of = |node: &NodeId, graph: &Adjacency| -> Vec<RunKey> {
        let mut keys: Vec<RunKey> = graph
            .incoming(node, EdgeKind::PartOf)
            .filter_map(NodeId::run_key)
            .filter(|k| k.kind == RunKind::TaskRun)
            .collect();
        keys.sort();
        keys.dedup();
        keys
    };
    let mut second: BTreeSet<NodeId> = BTreeSet::new();
    for fact in runs {
        let node = NodeId::run(&fact.key());
        match fact.kind {
            RunKind::PipelineRun => second.extend(task_runs_of(&node, &graph).iter().map(NodeId::run)),
            RunKind::TaskRun => {
                if graph.outgoing(&node, EdgeKind::BuiltFrom).next().is_none()
                    && let Some(parent) = parent_of(fact, &graph)
                {
                    second.insert(NodeId::run(&parent));
                }
            }
        }
    }
    let second: Vec<NodeId> = second.into_iter().filter(|n| !nodes.contains(n)).collect();
    if !second.is_empty() {
        let kinds = [EdgeKind::Produced, EdgeKind::Reported, EdgeKind::BuiltFrom];
        graph.add(store.edges(&second, Some(&kinds)).await?);
    }

    let mut out = HashMap::new();
    for fact in runs {
        let node = NodeId::run(&fact.key());
        let parent = parent_of(fact, &graph);
        let task_runs = if fact.kind == RunKind::PipelineRun { task_runs_of(&node, &graph) } else { Vec::new() };
        let commit = graph.outgoing(&node, EdgeKind::BuiltFrom).min().cloned().or_else(|| {
            let parent = NodeId::run(parent.as_ref()?);
            graph.outgoing(&parent, EdgeKind::BuiltFrom).min().cloned()
        });
        let mut producers = vec![node.clone()];
        producers.extend(task_runs.iter().map(NodeId::run));
        let images = producers
            .iter()
            .flat_map(|p| graph.outgoing(p, EdgeKind::Produced))
            .map(|image| image.key().to_string())
            .collect();
        let scans = producers.iter().flat_map(|p| graph.outgoing(p, EdgeKind::Reported)).cloned().collect();
        let mut reruns: Vec<RunKey> = graph.incoming(&node, EdgeKind::RerunOf).filter_map(NodeId::run_key).collect();
        reruns.sort();
        reruns.dedup();
        out.insert(fact.key(), RunLinks { parent, task_runs, commit, images, scans, reruns });
    }
    Ok(out)
}

/// The links of one run.
pub async fn links_of(store: &dyn GraphStore, fact: &Arc<RunFact>) -> Result<RunLinks> {
    Ok(links(store, std::slice::from_ref(fact)).await?.remove(&fact.key()).unwrap_or_default())
}
