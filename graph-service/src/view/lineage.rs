//! Lineage: a node-centred walk of the graph, and the references users type to start one.

use std::collections::{BTreeSet, HashMap};

use tekton_graph_schema::normalize::{digest_from_ref, repository_key};
use tekton_graph_schema::{Outcome, RunKey, RunKind};

use crate::model::{Edge, NodeId, NodeKind};
use crate::store::{GraphStore, Result, StoreError};

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
    let outcomes: HashMap<RunKey, Outcome> = store
        .outcomes(&run_keys)
        .await?
        .into_iter()
        .zip(&run_keys)
        .filter_map(|(outcome, key)| Some((key.clone(), outcome?)))
        .collect();
    let mut nodes = Vec::new();
    for id in ids {
        let Some(kind) = id.kind() else { continue };
        let key = id.key();
        let label = match kind {
            NodeKind::PipelineRun | NodeKind::TaskRun => {
                let outcome = id.run_key().and_then(|k| outcomes.get(&k));
                let name = key.split_once('/').map(|(_, n)| n).unwrap_or(key);
                match outcome {
                    Some(outcome) => format!("{name} ({})", outcome.as_str()),
                    None => format!("{name} (not observed)"),
                }
            }
            NodeKind::Image => prefix(key, 19),
            NodeKind::Scan => {
                let mut parts = key.splitn(3, '/');
                let (_, run, digest) = (parts.next(), parts.next().unwrap_or(key), parts.next().unwrap_or("-"));
                format!("scan by {run} of {}", prefix(digest, 19))
            }
            NodeKind::Commit => {
                let (repo, sha) = key.rsplit_once('@').unwrap_or((key, ""));
                format!("{} @ {}", repo, prefix(sha, 8))
            }
            _ => key.to_string(),
        };
        nodes.push(LineageNode { id: id.clone(), kind, label });
    }
    Ok(nodes)
}

/// The first `n` characters: ids come from input and may hold any Unicode, so never a byte slice.
fn prefix(text: &str, n: usize) -> String {
    text.chars().take(n).collect()
}
