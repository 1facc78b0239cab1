//! What changed between two PipelineRuns: commit, params, results, tasks, images and vulnerabilities.
//!
//! The diff reads the graph around both runs in one store call ([`GraphStore::diff_neighbourhood`]: TaskRuns,
//! commits, images, scans and their reports) and every fact it needs in a second.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::Value;
use tekton_graph_schema::{RunFact, RunKey, RunKind};

use super::{Adjacency, CommitInfo, ScanInfo, Severities, latest_per_image, load_facts, scan_infos};
use crate::model::{Edge, EdgeKind, NodeId};
use crate::store::{GraphStore, StoreError};

/// One key whose value differs between two runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueChange {
    pub key: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Compares named values (params or results) by name; only changed keys are returned, sorted.
pub fn diff_values(
    before: &[tekton_graph_schema::NamedValue],
    after: &[tekton_graph_schema::NamedValue],
) -> Vec<ValueChange> {
    let b: BTreeMap<&str, &Value> = before.iter().map(|v| (v.name.as_str(), &v.value)).collect();
    let a: BTreeMap<&str, &Value> = after.iter().map(|v| (v.name.as_str(), &v.value)).collect();
    let keys: BTreeSet<&str> = b.keys().chain(a.keys()).copied().collect();
    keys.into_iter()
        .filter(|k| b.get(k) != a.get(k))
        .map(|k| ValueChange {
            key: k.to_string(),
            before: b.get(k).map(|v| (*v).clone()),
            after: a.get(k).map(|v| (*v).clone()),
        })
        .collect()
}

/// How one pipeline task changed between two runs.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskChange {
    pub pipeline_task: String,
    pub change: TaskChangeKind,
    pub before: Option<Arc<RunFact>>,
    pub after: Option<Arc<RunFact>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskChangeKind {
    Added,
    Removed,
    StatusChanged,
    Unchanged,
}

impl TaskChange {
    pub fn duration_delta_seconds(&self) -> Option<f64> {
        Some(self.after.as_ref()?.duration_seconds()? - self.before.as_ref()?.duration_seconds()?)
    }
}

/// Compares the tasks of two PipelineRuns by pipeline task name.
pub fn diff_tasks(before: &BTreeMap<String, Arc<RunFact>>, after: &BTreeMap<String, Arc<RunFact>>) -> Vec<TaskChange> {
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .map(|name| {
            let (b, a) = (before.get(name).cloned(), after.get(name).cloned());
            let change = match (&b, &a) {
                (None, _) => TaskChangeKind::Added,
                (_, None) => TaskChangeKind::Removed,
                (Some(b), Some(a)) if b.status.outcome != a.status.outcome => TaskChangeKind::StatusChanged,
                _ => TaskChangeKind::Unchanged,
            };
            TaskChange { pipeline_task: name.clone(), change, before: b, after: a }
        })
        .collect()
}

/// Everything that differs between a PipelineRun (head) and an earlier one (base).
#[derive(Debug, Clone)]
pub struct RunDiff {
    pub base: Option<Arc<RunFact>>,
    pub head: Arc<RunFact>,
    pub commit_before: Option<CommitInfo>,
    pub commit_after: Option<CommitInfo>,
    pub params: Vec<ValueChange>,
    pub results: Vec<ValueChange>,
    pub tasks: Vec<TaskChange>,
    /// Digests produced by each run (a PipelineRun: or its TaskRuns), sorted.
    pub images_before: Vec<String>,
    pub images_after: Vec<String>,
    /// Totals over the latest scan of each image the run produced.
    pub severities_before: Severities,
    pub severities_after: Severities,
}

impl RunDiff {
    pub fn commit_changed(&self) -> bool {
        let key = |c: &Option<CommitInfo>| c.as_ref().map(CommitInfo::node);
        self.base.is_some() && key(&self.commit_before) != key(&self.commit_after)
    }

    pub fn status_changed(&self) -> bool {
        self.base.as_ref().is_some_and(|b| b.status.outcome != self.head.status.outcome)
    }

    pub fn duration_delta_seconds(&self) -> Option<f64> {
        Some(self.head.duration_seconds()? - self.base.as_ref()?.duration_seconds()?)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("no PipelineRun `{}/{}` to diff against", .0.namespace, .0.name)]
    MissingBase(RunKey),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Compares `head` with the PipelineRun `base` (when there is one).
pub async fn diff(store: &dyn GraphStore, head: Arc<RunFact>, base: Option<RunKey>) -> Result<RunDiff, DiffError> {
    let runs: Vec<NodeId> = std::iter::once(head.key()).chain(base.clone()).map(|k| NodeId::run(&k)).collect();
    let mut graph = Adjacency::default();
    graph.add(store.diff_neighbourhood(&runs).await?);
    let side = |run: &NodeId| Side::of(&graph, run);
    let after = side(&runs[0]);
    let before = runs.get(1).map(side).unwrap_or_default();

    let mut keys: Vec<RunKey> = base.iter().cloned().collect();
    keys.extend(before.task_runs.iter().chain(&after.task_runs).cloned());
    for commit in before.commit.iter().chain(&after.commit) {
        keys.extend(graph.incoming(commit, EdgeKind::BuiltFrom).filter_map(NodeId::run_key));
    }
    let scan_ids: Vec<NodeId> = before.scans(&graph).into_iter().chain(after.scans(&graph)).collect();
    keys.extend(scan_ids.iter().flat_map(|s| graph.incoming(s, EdgeKind::Reported).filter_map(NodeId::run_key)));
    keys.sort();
    keys.dedup();
    let facts: HashMap<RunKey, Arc<RunFact>> =
        load_facts(store, &keys).await?.into_iter().map(|f| (f.key(), f)).collect();
    let base = match base {
        Some(key) => Some(facts.get(&key).cloned().ok_or(DiffError::MissingBase(key))?),
        None => None,
    };
    let reported: Vec<Edge> = scan_ids
        .iter()
        .flat_map(|s| {
            graph.incoming(s, EdgeKind::Reported).map(|from| Edge {
                from: from.clone(),
                kind: EdgeKind::Reported,
                to: s.clone(),
            })
        })
        .collect();
    let scans = scan_infos(&scan_ids, &reported, &facts);
    let commit = |node: &Option<NodeId>| {
        let node = node.as_ref()?;
        let runs =
            graph.incoming(node, EdgeKind::BuiltFrom).filter_map(|r| facts.get(&r.run_key()?).cloned()).collect();
        CommitInfo::from_runs(node, runs)
    };
    let empty = Vec::new();
    Ok(RunDiff {
        commit_before: base.as_ref().and_then(|_| commit(&before.commit)),
        commit_after: commit(&after.commit),
        params: diff_values(base.as_ref().map(|b| &b.params).unwrap_or(&empty), &head.params),
        results: diff_values(base.as_ref().map(|b| &b.results).unwrap_or(&empty), &head.results),
        tasks: diff_tasks(&before.tasks(&facts), &after.tasks(&facts)),
        severities_before: Severities::sum(&latest_of(&scans, &before.images)),
        severities_after: Severities::sum(&latest_of(&scans, &after.images)),
        images_before: before.images.into_iter().collect(),
        images_after: after.images.into_iter().collect(),
        base,
        head,
    })
}

/// The latest scan of each of `images` among `scans`.
fn latest_of(scans: &[ScanInfo], images: &BTreeSet<String>) -> Vec<ScanInfo> {
    let mine = scans.iter().filter(|s| s.image_digest.as_ref().is_some_and(|d| images.contains(d))).cloned();
    latest_per_image(mine.collect())
}

/// One run's side of the diff, as far as the graph has been read.
#[derive(Debug, Default)]
struct Side {
    task_runs: Vec<RunKey>,
    commit: Option<NodeId>,
    images: BTreeSet<String>,
}

impl Side {
    fn of(graph: &Adjacency, run: &NodeId) -> Side {
        let mut task_runs: Vec<RunKey> = graph
            .incoming(run, EdgeKind::PartOf)
            .filter_map(NodeId::run_key)
            .filter(|k| k.kind == RunKind::TaskRun)
            .collect();
        task_runs.sort();
        task_runs.dedup();
        let producers: Vec<NodeId> = std::iter::once(run.clone()).chain(task_runs.iter().map(NodeId::run)).collect();
        let images =
            producers.iter().flat_map(|p| graph.outgoing(p, EdgeKind::Produced)).map(|i| i.key().to_string()).collect();
        Side { commit: graph.outgoing(run, EdgeKind::BuiltFrom).min().cloned(), task_runs, images }
    }

    fn scans(&self, graph: &Adjacency) -> Vec<NodeId> {
        let images: Vec<NodeId> = self.images.iter().map(|d| NodeId::image(d)).collect();
        let scans: BTreeSet<NodeId> =
            images.iter().flat_map(|i| graph.incoming(i, EdgeKind::Scanned)).cloned().collect();
        scans.into_iter().collect()
    }

    /// The observed TaskRuns by pipeline task name (the TaskRun's name when unknown).
    fn tasks(&self, facts: &HashMap<RunKey, Arc<RunFact>>) -> BTreeMap<String, Arc<RunFact>> {
        self.task_runs
            .iter()
            .filter_map(|k| facts.get(k).cloned())
            .map(|f| (f.pipeline_task.clone().unwrap_or_else(|| f.name.clone()), f))
            .collect()
    }
}
