//! Commits: the properties their runs reported, read for many commits at once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tekton_graph_schema::normalize::repository_key;
use tekton_graph_schema::{RunFact, RunKey, SourceFact};

use super::{links_of, load_facts, newest_first};
use crate::model::{EdgeKind, NodeId};
use crate::store::{GraphStore, Result};

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

    /// The commit from its node and the runs built from it; `None` when no run was observed. Where runs disagree
    /// on a property, the newest run's claim wins.
    pub fn from_runs(node: &NodeId, mut runs: Vec<Arc<RunFact>>) -> Option<Self> {
        if runs.is_empty() {
            return None;
        }
        let (repository, sha) = node.key().rsplit_once('@')?;
        newest_first(&mut runs);
        let claim = |pick: fn(&SourceFact) -> Option<&String>| {
            runs.iter().find_map(|r| r.supply_chain.source.as_ref().and_then(pick).cloned())
        };
        Some(CommitInfo {
            repository_url: claim(|s| s.repository_url.as_ref()),
            author: claim(|s| s.author.as_ref()),
            author_email: claim(|s| s.author_email.as_ref()),
            message: claim(|s| s.message.as_ref()),
            timestamp: claim(|s| s.timestamp.as_ref()),
            sha: sha.to_string(),
            repository: repository.to_string(),
            runs,
        })
    }
}

/// Commits by node id, in two store calls: their `BUILT_FROM` edges, then the facts of every run on them.
pub async fn commits(store: &dyn GraphStore, nodes: &[NodeId]) -> Result<HashMap<NodeId, CommitInfo>> {
    if nodes.is_empty() {
        return Ok(HashMap::new());
    }
    let edges = store.edges(nodes, Some(&[EdgeKind::BuiltFrom])).await?;
    let mut runs_of: BTreeMap<&NodeId, Vec<RunKey>> = BTreeMap::new();
    for edge in &edges {
        if let Some(key) = edge.from.run_key() {
            runs_of.entry(&edge.to).or_default().push(key);
        }
    }
    let keys: Vec<RunKey> = runs_of.values().flatten().cloned().collect();
    let facts: HashMap<RunKey, Arc<RunFact>> =
        load_facts(store, &keys).await?.into_iter().map(|f| (f.key(), f)).collect();
    Ok(runs_of
        .into_iter()
        .filter_map(|(node, keys)| {
            let runs = keys.iter().filter_map(|k| facts.get(k).cloned()).collect();
            Some((node.clone(), CommitInfo::from_runs(node, runs)?))
        })
        .collect())
}

/// Resolves a commit from its repository (any spelling) and SHA.
pub async fn commit(store: &dyn GraphStore, repo: &str, sha: &str) -> Result<Option<CommitInfo>> {
    let node = NodeId::commit(&repository_key(repo), sha);
    Ok(commits(store, std::slice::from_ref(&node)).await?.remove(&node))
}

/// The commit a run was built from: its own source, else its parent PipelineRun's (see [`super::RunLinks`]).
pub async fn commit_of_run(store: &dyn GraphStore, fact: &Arc<RunFact>) -> Result<Option<CommitInfo>> {
    let Some(node) = links_of(store, fact).await?.commit else { return Ok(None) };
    Ok(commits(store, std::slice::from_ref(&node)).await?.remove(&node))
}
