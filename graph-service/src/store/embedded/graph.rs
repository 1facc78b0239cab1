//! The in-memory graph of the embedded store: interned node ids, reference-counted adjacency, one small record per
//! run and the listing indexes. No fact is held here; see [`super::EmbeddedStore`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use string_interner::symbol::SymbolU32;
use tekton_graph_schema::{RunFact, RunKind};

use super::adjacency::{AdjacencyKey, Adjacent};
use super::run::{RunRecord, Strings, index, symbol, text};
use crate::model::{Edge, NodeId, NodeKind, ProjectionConfig, project};
use crate::store::{LISTED_KINDS, RunFilter, RunPosition, Visibility};

/// Node ids are interned, each stored once and named by a dense `u32` that indexes `adjacency`. Each edge is
/// reference-counted by the runs whose newest observation contributes it, so replacing an observation removes
/// exactly what it alone contributed.
#[derive(Default)]
pub struct MemoryGraph {
    nodes: Strings,
    adjacency: Vec<Adjacent>,
    /// The namespaces, pipelines, repositories, Systems and trigger ids that runs name.
    pub strings: Strings,
    /// Observed runs by their node's index.
    pub runs: HashMap<u32, RunRecord>,
    /// All PipelineRuns in listing order.
    pub listing: BTreeMap<RunPosition, u32>,
    /// PipelineRuns per (namespace, pipeline) in listing order.
    pub by_pipeline: HashMap<(SymbolU32, SymbolU32), BTreeMap<RunPosition, u32>>,
    /// Existing nodes of the listed kinds (Systems, Pipelines, Repositories), sorted.
    pub listed: HashMap<NodeKind, BTreeSet<NodeId>>,
}

impl MemoryGraph {
    /// Makes `fact` the observation of its run, replacing what an older one contributed.
    pub fn insert(&mut self, fact: &RunFact, config: &ProjectionConfig) {
        let key = fact.key();
        let node = self.intern(&NodeId::run(&key).0);
        if let Some(old) = self.runs.remove(&node) {
            self.unindex_run(&old, &key.name);
            for &(from, to, kind) in old.contributed.iter() {
                self.change_edge(from, to, kind, false);
            }
        }
        let mut record = RunRecord::of(fact, config, &mut self.strings);
        let contributed: Vec<_> = project(fact, config)
            .into_iter()
            .map(|edge| (self.intern(&edge.from.0), self.intern(&edge.to.0), edge.kind))
            .collect();
        for &(from, to, kind) in &contributed {
            self.change_edge(from, to, kind, true);
        }
        record.contributed = contributed.into_boxed_slice();
        self.index_run(&record, node, &key.name);
        self.runs.insert(node, record);
    }

    /// The index of a node, if the graph has ever seen it.
    pub fn node(&self, id: &NodeId) -> Option<u32> {
        self.nodes.get(&id.0).map(index)
    }

    pub fn name(&self, node: u32) -> NodeId {
        NodeId(text(&self.nodes, symbol(node)).to_string())
    }

    /// The edges of a node as seen from it.
    pub fn adjacent(&self, node: u32) -> impl Iterator<Item = &AdjacencyKey> {
        self.adjacency[node as usize].keys()
    }

    /// Whether a node has at least one edge.
    pub fn has_edges(&self, node: u32) -> bool {
        !self.adjacency[node as usize].is_empty()
    }

    pub fn node_count(&self) -> usize {
        self.adjacency.iter().filter(|a| !a.is_empty()).count()
    }

    pub fn edge_count(&self) -> usize {
        self.adjacency.iter().map(|a| a.keys().filter(|(_, _, out)| *out).count()).sum()
    }

    /// Every edge touching `node`, in the graph's terms.
    pub fn edges_of(&self, node: u32) -> impl Iterator<Item = Edge> + '_ {
        let id = self.name(node);
        self.adjacent(node).map(move |&(kind, other, outgoing)| {
            let other = self.name(other);
            if outgoing {
                Edge { from: id.clone(), kind, to: other }
            } else {
                Edge { from: other, kind, to: id.clone() }
            }
        })
    }

    /// A TaskRun is visible with its namespace, or with a visible PipelineRun it is part of (by `PART_OF`).
    pub fn task_run_visible(&self, node: u32, record: &RunRecord, visible: &Visibility) -> bool {
        if visible.namespaces.contains(text(&self.strings, record.namespace)) {
            return true;
        }
        self.adjacent(node).filter(|(kind, _, out)| *kind == crate::model::EdgeKind::PartOf && *out).any(
            |&(_, parent, _)| {
                let parent = self.runs.get(&parent).filter(|p| p.kind == RunKind::PipelineRun);
                parent.is_some_and(|p| p.visible(&self.strings, visible))
            },
        )
    }

    /// The listing index a filter reads: one pipeline's, when the filter names namespace and pipeline (`None` when
    /// that pipeline has no runs), else all runs.
    pub fn listing_for(&self, filter: &RunFilter) -> Option<&BTreeMap<RunPosition, u32>> {
        match (&filter.namespace, &filter.pipeline) {
            (Some(ns), Some(p)) => self.by_pipeline.get(&(self.strings.get(ns)?, self.strings.get(p)?)),
            _ => Some(&self.listing),
        }
    }

    /// The PipelineRuns of one pipeline in listing order.
    pub fn pipeline_listing(&self, namespace: &str, pipeline: &str) -> Option<&BTreeMap<RunPosition, u32>> {
        self.by_pipeline.get(&(self.strings.get(namespace)?, self.strings.get(pipeline)?))
    }

    fn index_run(&mut self, record: &RunRecord, node: u32, name: &str) {
        if record.kind != RunKind::PipelineRun {
            return;
        }
        let position = record.position(&self.strings, name);
        if let Some(pipeline) = record.pipeline {
            self.by_pipeline.entry((record.namespace, pipeline)).or_default().insert(position.clone(), node);
        }
        self.listing.insert(position, node);
    }

    fn unindex_run(&mut self, record: &RunRecord, name: &str) {
        if record.kind != RunKind::PipelineRun {
            return;
        }
        let position = record.position(&self.strings, name);
        if let Some(pipeline) = record.pipeline
            && let Some(runs) = self.by_pipeline.get_mut(&(record.namespace, pipeline))
        {
            runs.remove(&position);
        }
        self.listing.remove(&position);
    }

    fn intern(&mut self, id: &str) -> u32 {
        let node = index(self.nodes.get_or_intern(id));
        if node as usize == self.adjacency.len() {
            self.adjacency.push(Adjacent::default());
        }
        node
    }

    fn change_edge(&mut self, from: u32, to: u32, kind: crate::model::EdgeKind, add: bool) {
        for (node, key) in [(from, (kind, to, true)), (to, (kind, from, false))] {
            let adjacent = &mut self.adjacency[node as usize];
            let was_empty = adjacent.is_empty();
            if add {
                adjacent.add(key);
            } else {
                adjacent.remove(key);
            }
            let is_empty = adjacent.is_empty();
            if was_empty != is_empty {
                self.list_node(node, !is_empty);
            }
        }
    }

    /// Keeps `listed` in step with which nodes of the listed kinds exist.
    fn list_node(&mut self, node: u32, exists: bool) {
        let id = self.name(node);
        let Some(kind) = id.kind().filter(|k| LISTED_KINDS.contains(k)) else { return };
        let set = self.listed.entry(kind).or_default();
        if exists {
            set.insert(id);
        } else {
            set.remove(&id);
        }
    }
}
