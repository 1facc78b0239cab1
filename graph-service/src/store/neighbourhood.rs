//! The neighbourhood a diff reads around PipelineRuns, defined once: engines answer it in one call
//! ([`super::GraphStore::diff_neighbourhood`]); this walk, four `edges` calls, is the definition and the default.
//!
//! From the runs R:
//! 1. R's `PART_OF`, `BUILT_FROM` and `PRODUCED` edges;
//! 2. the `PRODUCED` edges of R's TaskRuns (T: TaskRuns `PART_OF` a run in R) and the `BUILT_FROM` edges of R's
//!    commits (C: what a run in R is `BUILT_FROM`): the other runs of the same commit;
//! 3. the `SCANNED` edges of the images (I: what R or T `PRODUCED`);
//! 4. the `REPORTED` edges of their scans (S: what `SCANNED` an image in I).
//!
//! Edges are taken in either direction, sorted and without duplicates.

use std::collections::BTreeSet;

use super::{GraphStore, Result};
use crate::model::{Edge, EdgeKind, NodeId, NodeKind};

/// The walk above through `store.edges`: what an engine's one-call answer must equal.
pub async fn walk<S: GraphStore + ?Sized>(store: &S, runs: &[NodeId]) -> Result<Vec<Edge>> {
    let mut out: BTreeSet<Edge> = BTreeSet::new();
    let own = read(store, runs, &[EdgeKind::PartOf, EdgeKind::BuiltFrom, EdgeKind::Produced]).await?;
    let roots: BTreeSet<&NodeId> = runs.iter().collect();
    let task_runs: BTreeSet<NodeId> = own
        .iter()
        .filter(|e| e.kind == EdgeKind::PartOf && roots.contains(&e.to) && e.from.kind() == Some(NodeKind::TaskRun))
        .map(|e| e.from.clone())
        .collect();
    let commits: BTreeSet<NodeId> =
        own.iter().filter(|e| e.kind == EdgeKind::BuiltFrom && roots.contains(&e.from)).map(|e| e.to.clone()).collect();
    let produced = read(store, &sorted(&task_runs), &[EdgeKind::Produced]).await?;
    let same_commit = read(store, &sorted(&commits), &[EdgeKind::BuiltFrom]).await?;
    let producers: BTreeSet<&NodeId> = roots.iter().copied().chain(&task_runs).collect();
    let images: BTreeSet<NodeId> = own
        .iter()
        .chain(&produced)
        .filter(|e| e.kind == EdgeKind::Produced && producers.contains(&e.from))
        .map(|e| e.to.clone())
        .collect();
    let scanned = read(store, &sorted(&images), &[EdgeKind::Scanned]).await?;
    let scans: BTreeSet<NodeId> = scanned
        .iter()
        .filter(|e| e.kind == EdgeKind::Scanned && images.contains(&e.to))
        .map(|e| e.from.clone())
        .collect();
    let reported = read(store, &sorted(&scans), &[EdgeKind::Reported]).await?;
    out.extend(own.into_iter().chain(produced).chain(same_commit).chain(scanned).chain(reported));
    Ok(out.into_iter().collect())
}

/// The `kinds` edges of `nodes`, without a call when there are none.
async fn read<S: GraphStore + ?Sized>(store: &S, nodes: &[NodeId], kinds: &[EdgeKind]) -> Result<Vec<Edge>> {
    match nodes.is_empty() {
        true => Ok(Vec::new()),
        false => store.edges(nodes, Some(kinds)).await,
    }
}

fn sorted(nodes: &BTreeSet<NodeId>) -> Vec<NodeId> {
    nodes.iter().cloned().collect()
}
