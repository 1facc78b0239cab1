//! Read-side derivations shared by every store: node properties of derived nodes, run diffs and lineage.
//!
//! Everything here is computed from the store trait's four reads, so engines cannot drift apart in what they
//! answer. Where several runs claim a property (two runs of one commit reporting its author), the claim of the
//! newest run wins, and ties break on the run key: deterministic whatever the arrival order.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::Value;
use tekton_graph_schema::normalize::{digest_from_ref, repository_key};
use tekton_graph_schema::{ImageFact, RunFact, RunKey, RunKind, ScanFact, SourceFact};

use crate::model::{Edge, EdgeKind, NodeId, NodeKind, parent_run_name};
use crate::store::{GraphStore, Result, RunFilter, RunPosition, StoreError};

/// Newest first: sort time, then key (descending).
pub fn newest_first(facts: &mut [Arc<RunFact>]) {
    facts.sort_by(|a, b| (RunPosition::of(b), b.key()).cmp(&(RunPosition::of(a), a.key())));
}

/// Fetches facts for keys, dropping runs that were never observed.
pub async fn load_facts(store: &dyn GraphStore, keys: &[RunKey]) -> Result<Vec<Arc<RunFact>>> {
    Ok(store.facts(keys).await?.into_iter().flatten().map(Arc::new).collect())
}

/// Runs at the other end of `kind` edges of `node`.
pub async fn related_runs(store: &dyn GraphStore, node: &NodeId, kind: EdgeKind) -> Result<Vec<RunKey>> {
    let edges = store.edges(std::slice::from_ref(node), Some(&[kind])).await?;
    Ok(edges.iter().filter_map(|e| other_end(e, node).run_key()).collect())
}

fn other_end<'a>(edge: &'a Edge, node: &NodeId) -> &'a NodeId {
    if &edge.from == node { &edge.to } else { &edge.from }
}

/// A commit with the properties its runs reported.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitInfo {
    pub repository: String,
    pub repository_url: Option<String>,
    pub sha: String,
    pub author: Option<String>,
    pub author_email: Option<String>,
    pub message: Option<String>,
    pub timestamp: Option<String>,
    /// Runs built from this commit, newest first.
    pub runs: Vec<Arc<RunFact>>,
}

impl CommitInfo {
    pub fn node(&self) -> NodeId {
        NodeId::commit(&self.repository, &self.sha)
    }
}

/// Resolves a commit from its repository (any spelling) and SHA.
pub async fn commit(store: &dyn GraphStore, repo: &str, sha: &str) -> Result<Option<CommitInfo>> {
    let repository = repository_key(repo);
    let node = NodeId::commit(&repository, sha);
    let keys = related_runs(store, &node, EdgeKind::BuiltFrom).await?;
    let mut runs = load_facts(store, &keys).await?;
    if runs.is_empty() {
        return Ok(None);
    }
    newest_first(&mut runs);
    let claim = |pick: fn(&SourceFact) -> Option<&String>| {
        runs.iter().find_map(|r| r.supply_chain.source.as_ref().and_then(pick).cloned())
    };
    Ok(Some(CommitInfo {
        repository_url: claim(|s| s.repository_url.as_ref()),
        author: claim(|s| s.author.as_ref()),
        author_email: claim(|s| s.author_email.as_ref()),
        message: claim(|s| s.message.as_ref()),
        timestamp: claim(|s| s.timestamp.as_ref()),
        sha: sha.to_ascii_lowercase(),
        repository,
        runs,
    }))
}

/// The commit a run was built from: its own source, else its parent PipelineRun's.
pub async fn commit_of_run(store: &dyn GraphStore, fact: &RunFact) -> Result<Option<CommitInfo>> {
    if let Some((repo, sha)) = source_key(fact) {
        return commit(store, &repo, &sha).await;
    }
    if let Some(parent) = parent_key(fact) {
        let parents = load_facts(store, &[parent]).await?;
        if let Some((repo, sha)) = parents.first().and_then(|p| source_key(p)) {
            return commit(store, &repo, &sha).await;
        }
    }
    Ok(None)
}

fn source_key(fact: &RunFact) -> Option<(String, String)> {
    let s = fact.supply_chain.source.as_ref()?;
    Some((s.repository.clone()?, s.commit_sha.clone()?))
}

/// The owning PipelineRun of a TaskRun.
pub fn parent_key(fact: &RunFact) -> Option<RunKey> {
    (fact.kind == RunKind::TaskRun).then_some(())?;
    Some(RunKey { kind: RunKind::PipelineRun, namespace: fact.namespace.clone(), name: parent_run_name(fact)?.into() })
}

/// An image with what is known of where it came from.
#[derive(Debug, Clone)]
pub struct ImageInfo {
    pub digest: String,
    pub repository: Option<String>,
    pub tags: Vec<String>,
    pub urls: Vec<String>,
    /// Runs whose results name this image as an output, oldest first.
    pub producers: Vec<Arc<RunFact>>,
    /// Scan nodes that scanned this image.
    pub scans: Vec<NodeId>,
}

impl ImageInfo {
    /// The PipelineRun that built the image: the oldest producing PipelineRun, else the parent of the oldest
    /// producing TaskRun.
    pub fn built_by(&self) -> Option<RunKey> {
        let pr = self.producers.iter().find(|f| f.kind == RunKind::PipelineRun).map(|f| f.key());
        pr.or_else(|| self.producers.iter().find_map(|f| parent_key(f)))
    }

    /// The TaskRun that built the image (oldest producing TaskRun).
    pub fn task_run(&self) -> Option<RunKey> {
        self.producers.iter().find(|f| f.kind == RunKind::TaskRun).map(|f| f.key())
    }
}

/// Resolves an image by `sha256:…` or `repo@sha256:…`.
pub async fn image(store: &dyn GraphStore, reference: &str) -> Result<Option<ImageInfo>> {
    let Some(digest) = digest_from_ref(reference) else {
        return Ok(None);
    };
    let node = NodeId::image(&digest);
    let edges = store.edges(std::slice::from_ref(&node), Some(&[EdgeKind::Produced, EdgeKind::Scanned])).await?;
    if edges.is_empty() {
        return Ok(None);
    }
    let producer_keys: Vec<RunKey> =
        edges.iter().filter(|e| e.kind == EdgeKind::Produced).filter_map(|e| e.from.run_key()).collect();
    let scans: Vec<NodeId> = edges.iter().filter(|e| e.kind == EdgeKind::Scanned).map(|e| e.from.clone()).collect();
    let mut producers = load_facts(store, &producer_keys).await?;
    newest_first(&mut producers);
    producers.reverse();
    let claims: Vec<&ImageFact> =
        producers.iter().flat_map(|f| f.supply_chain.images.iter().filter(|i| i.digest == digest)).collect();
    let mut repository = claims.iter().rev().find_map(|i| i.repository.clone());
    if repository.is_none() {
        repository = scans_by_id(store, &scans).await?.into_iter().find_map(|s| s.report.image_repository);
    }
    let tags: BTreeSet<String> = claims.iter().filter_map(|i| i.tag.clone()).collect();
    let urls: BTreeSet<String> = claims.iter().filter_map(|i| i.url.clone()).collect();
    Ok(Some(ImageInfo {
        digest,
        repository,
        tags: tags.into_iter().collect(),
        urls: urls.into_iter().collect(),
        producers,
        scans,
    }))
}

/// A scan with the counts its runs reported.
#[derive(Debug, Clone)]
pub struct ScanInfo {
    pub id: NodeId,
    pub image_digest: Option<String>,
    pub report: ScanFact,
    pub pipeline_run: Option<RunKey>,
    pub task_run: Option<RunKey>,
    pub completion_time: Option<chrono::DateTime<chrono::Utc>>,
}

/// Resolves scan nodes. When a PipelineRun and its scan TaskRun both report the same scan, the TaskRun's report
/// (the detailed one) wins; among several, the one with unpatched counts, then the first by evidence name.
pub async fn scans_by_id(store: &dyn GraphStore, ids: &[NodeId]) -> Result<Vec<ScanInfo>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let edges = store.edges(ids, Some(&[EdgeKind::Reported])).await?;
    let keys: Vec<RunKey> = edges.iter().filter_map(|e| e.from.run_key()).collect();
    let facts: HashMap<RunKey, Arc<RunFact>> =
        load_facts(store, &keys).await?.into_iter().map(|f| (f.key(), f)).collect();
    let mut out = Vec::new();
    for id in ids {
        let reporters: Vec<&Arc<RunFact>> =
            edges.iter().filter(|e| &e.to == id).filter_map(|e| facts.get(&e.from.run_key()?)).collect();
        let digest = id.key().rsplit('/').next().filter(|d| *d != "-").map(str::to_string);
        let mut candidates: Vec<(&Arc<RunFact>, &ScanFact)> = reporters
            .iter()
            .flat_map(|f| f.supply_chain.scans.iter().filter(|s| s.image_digest == digest).map(move |s| (*f, s)))
            .collect();
        candidates.sort_by(|(fa, sa), (fb, sb)| {
            let rank = |f: &RunFact, s: &ScanFact| (f.kind == RunKind::TaskRun, s.unpatched.is_some());
            rank(fb, sb).cmp(&rank(fa, sa)).then(sa.evidence.cmp(&sb.evidence)).then(fa.key().cmp(&fb.key()))
        });
        let Some((fact, report)) = candidates.first() else {
            continue;
        };
        let pipeline_run = match fact.kind {
            RunKind::PipelineRun => Some(fact.key()),
            RunKind::TaskRun => parent_key(fact),
        };
        let task_run = reporters.iter().find(|f| f.kind == RunKind::TaskRun).map(|f| f.key());
        out.push(ScanInfo {
            id: id.clone(),
            image_digest: digest,
            report: (*report).clone(),
            pipeline_run,
            task_run,
            completion_time: fact.status.completion_time,
        });
    }
    Ok(out)
}

/// Scan nodes reported by a run (for a PipelineRun: by it or its TaskRuns).
pub async fn scans_of_run(store: &dyn GraphStore, fact: &RunFact) -> Result<Vec<ScanInfo>> {
    let mut nodes = vec![NodeId::run(&fact.key())];
    if fact.kind == RunKind::PipelineRun {
        nodes.extend(task_runs_of(store, &fact.key()).await?.iter().map(NodeId::run));
    }
    let edges = store.edges(&nodes, Some(&[EdgeKind::Reported])).await?;
    let ids: BTreeSet<NodeId> = edges.into_iter().filter(|e| nodes.contains(&e.from)).map(|e| e.to).collect();
    scans_by_id(store, &ids.into_iter().collect::<Vec<_>>()).await
}

/// TaskRuns that are part of a PipelineRun (observed or referenced), sorted by name.
pub async fn task_runs_of(store: &dyn GraphStore, pipeline_run: &RunKey) -> Result<Vec<RunKey>> {
    let mut keys = related_runs(store, &NodeId::run(pipeline_run), EdgeKind::PartOf).await?;
    keys.retain(|k| k.kind == RunKind::TaskRun);
    keys.sort();
    Ok(keys)
}

/// Images a run produced (for a PipelineRun: it or its TaskRuns), sorted by digest.
pub async fn images_of_run(store: &dyn GraphStore, fact: &RunFact) -> Result<Vec<String>> {
    let mut nodes = vec![NodeId::run(&fact.key())];
    if fact.kind == RunKind::PipelineRun {
        nodes.extend(task_runs_of(store, &fact.key()).await?.iter().map(NodeId::run));
    }
    let edges = store.edges(&nodes, Some(&[EdgeKind::Produced])).await?;
    let digests: BTreeSet<String> =
        edges.into_iter().filter(|e| nodes.contains(&e.from)).map(|e| e.to.key().to_string()).collect();
    Ok(digests.into_iter().collect())
}

/// The previous run of the same pipeline in the same namespace: the latest earlier start.
pub async fn previous_run(store: &dyn GraphStore, fact: &RunFact) -> Result<Option<RunKey>> {
    let Some(pipeline) = &fact.pipeline else {
        return Ok(None);
    };
    let filter =
        RunFilter { namespace: Some(fact.namespace.clone()), pipeline: Some(pipeline.clone()), ..Default::default() };
    let page = store.pipeline_runs(&filter, Some(&RunPosition::of(fact)), 1).await?;
    Ok(page.runs.into_iter().next().map(|(_, k)| k))
}

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

/// Task runs of a PipelineRun keyed by pipeline task name (TaskRun name when the task name is unknown).
pub async fn tasks_by_pipeline_task(store: &dyn GraphStore, run: &RunFact) -> Result<BTreeMap<String, Arc<RunFact>>> {
    let keys = task_runs_of(store, &run.key()).await?;
    let facts = load_facts(store, &keys).await?;
    Ok(facts.into_iter().map(|f| (f.pipeline_task.clone().unwrap_or_else(|| f.name.clone()), f)).collect())
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

/// Vulnerability totals by severity over a set of scans.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Severities {
    pub critical: i64,
    pub high: i64,
    pub medium: i64,
    pub low: i64,
    pub unknown: i64,
}

impl Severities {
    pub fn sum(scans: &[ScanInfo]) -> Self {
        scans.iter().fold(Severities::default(), |acc, s| Severities {
            critical: acc.critical + s.report.critical,
            high: acc.high + s.report.high,
            medium: acc.medium + s.report.medium,
            low: acc.low + s.report.low,
            unknown: acc.unknown + s.report.unknown,
        })
    }
}

/// Latest scan of each of the given images.
pub async fn latest_scans_of_images(store: &dyn GraphStore, digests: &[String]) -> Result<Vec<ScanInfo>> {
    let nodes: Vec<NodeId> = digests.iter().map(|d| NodeId::image(d)).collect();
    let edges = store.edges(&nodes, Some(&[EdgeKind::Scanned])).await?;
    let ids: Vec<NodeId> = edges.into_iter().map(|e| e.from).collect::<BTreeSet<_>>().into_iter().collect();
    let mut latest: BTreeMap<String, ScanInfo> = BTreeMap::new();
    for scan in scans_by_id(store, &ids).await? {
        let Some(digest) = scan.image_digest.clone() else {
            continue;
        };
        let newer =
            latest.get(&digest).is_none_or(|old| (scan.completion_time, &scan.id) > (old.completion_time, &old.id));
        if newer {
            latest.insert(digest, scan);
        }
    }
    Ok(latest.into_values().collect())
}

/// A node-centred lineage graph.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lineage {
    pub nodes: Vec<LineageNode>,
    pub edges: Vec<Edge>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LineageNode {
    pub id: NodeId,
    pub kind: NodeKind,
    pub label: String,
}

/// Most nodes a lineage answer holds; past this the walk stops expanding.
pub const LINEAGE_NODE_LIMIT: usize = 500;

/// Hub kinds are shown but not walked through: a Pipeline or System touches every run it ever had.
fn is_hub(kind: NodeKind) -> bool {
    matches!(kind, NodeKind::Pipeline | NodeKind::System | NodeKind::Repository | NodeKind::Trigger)
}

#[derive(Debug, thiserror::Error)]
pub enum RefError {
    #[error(
        "`{0}` is not a node reference: use an image digest (sha256:… or repo@sha256:…), a commit (repo@sha), a run (namespace/name) or a node id (kind:key)"
    )]
    Unrecognized(String),
    #[error("no node `{0}` in the graph")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Resolves a user's reference into a node id.
pub fn parse_ref(reference: &str) -> Result<NodeId, RefError> {
    let r = reference.trim();
    if let Some((prefix, rest)) = r.split_once(':')
        && let Some(kind) = NodeKind::ALL.into_iter().find(|k| k.prefix() == prefix)
    {
        return Ok(match kind {
            NodeKind::Image => NodeId::image(&digest_from_ref(rest).ok_or_else(|| RefError::Unrecognized(r.into()))?),
            NodeKind::Commit => {
                let (repo, sha) = rest.rsplit_once('@').ok_or_else(|| RefError::Unrecognized(r.into()))?;
                NodeId::commit(&repository_key(repo), sha)
            }
            NodeKind::Repository => NodeId::repository(&repository_key(rest)),
            _ => NodeId(r.to_string()),
        });
    }
    if let Some(digest) = digest_from_ref(r) {
        return Ok(NodeId::image(&digest));
    }
    if let Some((repo, sha)) = r.rsplit_once('@')
        && sha.len() >= 7
        && sha.chars().all(|c| c.is_ascii_hexdigit())
    {
        return Ok(NodeId::commit(&repository_key(repo), sha));
    }
    if let Some((ns, name)) = r.split_once('/')
        && !ns.is_empty()
        && !name.is_empty()
        && !name.contains('/')
    {
        let key = RunKey { kind: RunKind::PipelineRun, namespace: ns.into(), name: name.into() };
        return Ok(NodeId::run(&key));
    }
    Err(RefError::Unrecognized(r.to_string()))
}

/// Walks the graph breadth-first from `start` up to `depth` hops, not expanding hub nodes (other than the start).
pub async fn lineage(store: &dyn GraphStore, start: &NodeId, depth: usize) -> Result<Lineage, RefError> {
    if store.existing(std::slice::from_ref(start)).await?.is_empty() {
        return Err(RefError::NotFound(start.0.clone()));
    }
    let mut seen: BTreeSet<NodeId> = BTreeSet::from([start.clone()]);
    let mut edges: BTreeSet<Edge> = BTreeSet::new();
    let mut frontier = vec![start.clone()];
    for _ in 0..depth {
        let expand: Vec<NodeId> =
            frontier.iter().filter(|n| *n == start || !n.kind().is_some_and(is_hub)).cloned().collect();
        if expand.is_empty() || seen.len() >= LINEAGE_NODE_LIMIT {
            break;
        }
        let mut next = Vec::new();
        for edge in store.edges(&expand, None).await? {
            for end in [&edge.from, &edge.to] {
                if seen.len() < LINEAGE_NODE_LIMIT && seen.insert(end.clone()) {
                    next.push(end.clone());
                }
            }
            if seen.contains(&edge.from) && seen.contains(&edge.to) {
                edges.insert(edge);
            }
        }
        frontier = next;
    }
    let nodes = label_nodes(store, &seen).await?;
    Ok(Lineage { nodes, edges: edges.into_iter().collect() })
}

async fn label_nodes(store: &dyn GraphStore, ids: &BTreeSet<NodeId>) -> Result<Vec<LineageNode>> {
    let run_keys: Vec<RunKey> = ids.iter().filter_map(|n| n.run_key()).collect();
    let facts: HashMap<RunKey, Arc<RunFact>> =
        load_facts(store, &run_keys).await?.into_iter().map(|f| (f.key(), f)).collect();
    let mut nodes = Vec::new();
    for id in ids {
        let Some(kind) = id.kind() else { continue };
        let key = id.key();
        let label = match kind {
            NodeKind::PipelineRun | NodeKind::TaskRun => {
                let fact = id.run_key().and_then(|k| facts.get(&k));
                let name = key.split_once('/').map(|(_, n)| n).unwrap_or(key);
                match fact {
                    Some(f) => format!("{name} ({})", f.status.outcome.as_str()),
                    None => format!("{name} (not observed)"),
                }
            }
            NodeKind::Image => key[..key.len().min(19)].to_string(),
            NodeKind::Scan => {
                let mut parts = key.splitn(3, '/');
                let (_, run, digest) = (parts.next(), parts.next().unwrap_or(key), parts.next().unwrap_or("-"));
                format!("scan by {run} of {}", &digest[..digest.len().min(19)])
            }
            NodeKind::Commit => {
                let (repo, sha) = key.rsplit_once('@').unwrap_or((key, ""));
                format!("{} @ {}", repo, &sha[..sha.len().min(8)])
            }
            _ => key.to_string(),
        };
        nodes.push(LineageNode { id: id.clone(), kind, label });
    }
    Ok(nodes)
}
