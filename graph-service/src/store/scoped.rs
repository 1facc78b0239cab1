//! A caller's view of the graph: the store seen through their [`Visibility`].
//!
//! The scoped graph is the graph that only the caller's visible runs would have produced. A run outside the scope,
//! and every edge only such runs contribute, is absent, and looks exactly like something never observed (no
//! existence oracle). Shared nodes (an image, a commit) reached from a visible run are there, without the other
//! namespaces' runs hanging off them.
//!
//! Listings, summaries, neighbours and run counts are filtered by the engine ([`RunFilter::visible`]); facts, edges
//! and existence here, in a fixed number of extra store calls per read whatever its size — none when the caller's
//! scope is namespaces only and the nodes asked about are in them.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use tekton_graph_schema::{Outcome, RunFact, RunKey};

use super::{
    ApplyStats, GraphStore, Neighbour, PipelinePlace, Result, RunCounts, RunFilter, RunPage, RunPosition, StoreCounts,
    StoreError, SummaryRow, Visibility,
};
use crate::model::{Edge, EdgeKind, NodeId, NodeKind};

/// The store seen through one caller's visibility. Reads only.
pub struct ScopedStore {
    inner: Arc<dyn GraphStore>,
    visible: Visibility,
}

impl ScopedStore {
    pub fn new(inner: Arc<dyn GraphStore>, visible: Visibility) -> Self {
        ScopedStore { inner, visible }
    }

    pub fn visibility(&self) -> &Visibility {
        &self.visible
    }

    fn in_namespaces(&self, namespace: &str) -> bool {
        self.visible.namespaces.contains(namespace)
    }

    fn is_visible_system(&self, node: &NodeId) -> bool {
        node.kind() == Some(NodeKind::System) && self.visible.systems.contains(node.key())
    }

    /// The namespace a node's id names: runs, pipelines and scans live in one.
    fn namespace_of(node: &NodeId) -> Option<&str> {
        match node.kind()? {
            NodeKind::PipelineRun | NodeKind::TaskRun | NodeKind::Pipeline | NodeKind::Scan => {
                node.key().split_once('/').map(|(ns, _)| ns)
            }
            _ => None,
        }
    }

    /// The keys among `keys` the caller may see, and the visible run nodes.
    async fn shown_keys(&self, keys: &[RunKey]) -> Result<(Vec<RunKey>, BTreeSet<NodeId>)> {
        let nodes: BTreeSet<NodeId> = keys.iter().map(NodeId::run).collect();
        let visible = self.visible_runs(&nodes).await?;
        let shown = keys.iter().filter(|k| visible.contains(&NodeId::run(k))).cloned().collect();
        Ok((shown, visible))
    }

    /// Which of these run nodes the caller may see: by namespace, else a PipelineRun by its `BELONGS_TO` System
    /// and a TaskRun by the PipelineRun it is `PART_OF`. At most two store calls, none for runs in the namespaces.
    pub async fn visible_runs(&self, runs: &BTreeSet<NodeId>) -> Result<BTreeSet<NodeId>> {
        let mut visible = BTreeSet::new();
        let mut undecided = Vec::new();
        for run in runs {
            let Some(key) = run.run_key() else { continue };
            if self.in_namespaces(&key.namespace) {
                visible.insert(run.clone());
            } else if !self.visible.systems.is_empty() {
                undecided.push(run.clone());
            }
        }
        if undecided.is_empty() {
            return Ok(visible);
        }
        let edges = self.inner.edges(&undecided, Some(&[EdgeKind::BelongsTo, EdgeKind::PartOf])).await?;
        let mut parents: BTreeSet<NodeId> = BTreeSet::new();
        for edge in &edges {
            match edge.kind {
                EdgeKind::BelongsTo if self.is_visible_system(&edge.to) => {
                    visible.insert(edge.from.clone());
                }
                EdgeKind::PartOf if edge.from.kind() == Some(NodeKind::TaskRun) && undecided.contains(&edge.from) => {
                    parents.insert(edge.to.clone());
                }
                _ => {}
            }
        }
        let unknown_parents: Vec<NodeId> = parents.iter().filter(|p| !visible.contains(*p)).cloned().collect();
        let mut visible_parents: BTreeSet<NodeId> = parents.intersection(&visible).cloned().collect();
        if !unknown_parents.is_empty() {
            for edge in self.inner.edges(&unknown_parents, Some(&[EdgeKind::BelongsTo])).await? {
                if self.is_visible_system(&edge.to) {
                    visible_parents.insert(edge.from);
                }
            }
        }
        for edge in edges {
            if edge.kind == EdgeKind::PartOf && undecided.contains(&edge.from) && visible_parents.contains(&edge.to) {
                visible.insert(edge.from);
            }
        }
        Ok(visible)
    }

    /// The edges of `edges` that the caller's visible runs contribute.
    async fn visible_edges(&self, edges: Vec<Edge>) -> Result<Vec<Edge>> {
        // Commits and scans are shown when a visible run is built from or reported them: find their runs.
        let hops: Vec<NodeId> = edges
            .iter()
            .filter(|e| match e.kind {
                EdgeKind::InRepository => true,
                EdgeKind::Scanned => !Self::namespace_of(&e.from).is_some_and(|ns| self.in_namespaces(ns)),
                _ => false,
            })
            .map(|e| e.from.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let hop_edges = match hops.is_empty() {
            true => Vec::new(),
            false => self.inner.edges(&hops, Some(&[EdgeKind::BuiltFrom, EdgeKind::Reported])).await?,
        };
        // A repository belongs to a System outside the scope's Systems when a visible PipelineRun of that System is
        // built from a commit in it: find those runs' commits. (A run that names a repository without a commit
        // still contributes the edge; it is hidden then: the scope errs on the side of showing less.)
        let foreign_systems: Vec<NodeId> = edges
            .iter()
            .filter(|e| e.kind == EdgeKind::BelongsTo && e.from.kind() == Some(NodeKind::Repository))
            .filter(|e| !self.is_visible_system(&e.to) && !self.visible.namespaces.is_empty())
            .map(|e| e.to.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let members = match foreign_systems.is_empty() {
            true => Vec::new(),
            false => self.inner.edges(&foreign_systems, Some(&[EdgeKind::BelongsTo])).await?,
        };
        // A PipelineRun belongs to one System.
        let member_runs: HashMap<&NodeId, &NodeId> = members
            .iter()
            .filter(|e| e.from.kind() == Some(NodeKind::PipelineRun))
            .filter(|e| e.from.run_key().is_some_and(|k| self.in_namespaces(&k.namespace)))
            .map(|e| (&e.from, &e.to))
            .collect();
        let member_ids: Vec<NodeId> = member_runs.keys().map(|&n| n.clone()).collect();
        let member_commits = match member_ids.is_empty() {
            true => Vec::new(),
            false => self.inner.edges(&member_ids, Some(&[EdgeKind::BuiltFrom])).await?,
        };

        let runs: BTreeSet<NodeId> = edges
            .iter()
            .map(|e| &e.from)
            .chain(hop_edges.iter().map(|e| &e.from))
            .filter(|n| n.run_key().is_some())
            .cloned()
            .collect();
        let visible_runs = self.visible_runs(&runs).await?;
        let shown_hops: BTreeSet<&NodeId> =
            hop_edges.iter().filter(|e| visible_runs.contains(&e.from)).map(|e| &e.to).collect();
        // (repository, System) pairs a visible run of a foreign System contributes.
        let repository_systems: BTreeSet<(NodeId, &NodeId)> = member_commits
            .iter()
            .filter_map(|built| {
                let repo = built.to.key().rsplit_once('@')?.0;
                Some((NodeId::repository(repo), *member_runs.get(&built.from)?))
            })
            .collect();

        Ok(edges
            .into_iter()
            .filter(|e| {
                if e.from.run_key().is_some() {
                    return visible_runs.contains(&e.from);
                }
                match (e.kind, e.from.kind()) {
                    (EdgeKind::InRepository, _) => shown_hops.contains(&e.from),
                    (EdgeKind::Scanned, _) => {
                        Self::namespace_of(&e.from).is_some_and(|ns| self.in_namespaces(ns))
                            || shown_hops.contains(&e.from)
                    }
                    // Every run of a pipeline is in the pipeline's namespace, and a pipeline belongs to a System
                    // only by a run of it that does.
                    (EdgeKind::BelongsTo, Some(NodeKind::Pipeline)) => {
                        Self::namespace_of(&e.from).is_some_and(|ns| self.in_namespaces(ns))
                            || self.is_visible_system(&e.to)
                    }
                    (EdgeKind::BelongsTo, Some(NodeKind::Repository)) => {
                        self.is_visible_system(&e.to) || repository_systems.contains(&(e.from.clone(), &e.to))
                    }
                    _ => false,
                }
            })
            .collect())
    }

    fn scoped(&self, filter: &RunFilter) -> RunFilter {
        RunFilter { visible: Some(self.visible.clone()), ..filter.clone() }
    }
}

/// The answers read for the visible keys, back in the order of all `keys` (`None` for a hidden one).
fn spread<T>(keys: &[RunKey], visible: &BTreeSet<NodeId>, found: Vec<Option<T>>) -> Vec<Option<T>> {
    let mut found = found.into_iter();
    keys.iter().map(|k| if visible.contains(&NodeId::run(k)) { found.next().flatten() } else { None }).collect()
}

#[async_trait]
impl GraphStore for ScopedStore {
    fn engine(&self) -> &'static str {
        self.inner.engine()
    }

    async fn apply(&self, _facts: &[RunFact]) -> Result<ApplyStats> {
        Err(StoreError::Engine("a caller's scoped view of the graph is read-only".into()))
    }

    async fn facts(&self, keys: &[RunKey]) -> Result<Vec<Option<RunFact>>> {
        let (shown, visible) = self.shown_keys(keys).await?;
        Ok(spread(keys, &visible, self.inner.facts(&shown).await?))
    }

    async fn outcomes(&self, keys: &[RunKey]) -> Result<Vec<Option<Outcome>>> {
        let (shown, visible) = self.shown_keys(keys).await?;
        Ok(spread(keys, &visible, self.inner.outcomes(&shown).await?))
    }

    async fn edges(&self, nodes: &[NodeId], kinds: Option<&[EdgeKind]>) -> Result<Vec<Edge>> {
        let edges = self.inner.edges(nodes, kinds).await?;
        self.visible_edges(edges).await
    }

    /// The inner store's neighbourhood, then only its visible edges: the diff reads what is reachable from the
    /// runs through them, so an edge of a hidden run's image or scan that is left stays out of the answer.
    async fn diff_neighbourhood(&self, runs: &[NodeId]) -> Result<Vec<Edge>> {
        let edges = self.inner.diff_neighbourhood(runs).await?;
        self.visible_edges(edges).await
    }

    async fn pipeline_runs(&self, filter: &RunFilter, after: Option<&RunPosition>, first: usize) -> Result<RunPage> {
        self.inner.pipeline_runs(&self.scoped(filter), after, first).await
    }

    async fn neighbours(
        &self,
        places: &[PipelinePlace],
        which: Neighbour,
        _visible: Option<&Visibility>,
    ) -> Result<Vec<Option<RunKey>>> {
        self.inner.neighbours(places, which, Some(&self.visible)).await
    }

    async fn existing(&self, nodes: &[NodeId]) -> Result<BTreeSet<NodeId>> {
        let (runs, others): (Vec<NodeId>, Vec<NodeId>) = nodes.iter().cloned().partition(|n| n.run_key().is_some());
        let visible_runs = self.visible_runs(&runs.into_iter().collect()).await?;
        // A System in the scope, and a pipeline or scan in its namespaces, exist as they do for everyone: every
        // run that gives them an edge is visible.
        let (whole, partial): (Vec<NodeId>, Vec<NodeId>) = others
            .into_iter()
            .partition(|n| self.is_visible_system(n) || Self::namespace_of(n).is_some_and(|ns| self.in_namespaces(ns)));
        let asked: Vec<NodeId> = visible_runs.into_iter().chain(whole).collect();
        let mut found = match asked.is_empty() {
            true => BTreeSet::new(),
            false => self.inner.existing(&asked).await?,
        };
        if !partial.is_empty() {
            for edge in self.edges(&partial, None).await? {
                for end in [edge.from, edge.to] {
                    if partial.contains(&end) {
                        found.insert(end);
                    }
                }
            }
        }
        Ok(found)
    }

    async fn counts(&self) -> Result<StoreCounts> {
        Err(StoreError::Engine("whole-graph counts are not shown to a scoped caller; see run_counts".into()))
    }

    async fn run_counts(&self, _visible: &Visibility) -> Result<RunCounts> {
        self.inner.run_counts(&self.visible).await
    }

    async fn run_summary(&self, filter: &RunFilter) -> Result<Vec<SummaryRow>> {
        self.inner.run_summary(&self.scoped(filter)).await
    }

    async fn nodes(&self, kind: NodeKind, after: Option<&NodeId>, first: usize) -> Result<Vec<NodeId>> {
        // Pages of the whole listing, kept where the caller sees the node, until `first` are found.
        let page = first.clamp(1, 500);
        let mut out = Vec::new();
        let mut cursor = after.cloned();
        loop {
            let candidates = self.inner.nodes(kind, cursor.as_ref(), page).await?;
            let Some(last) = candidates.last().cloned() else { return Ok(out) };
            let seen = self.existing(&candidates).await?;
            out.extend(candidates.iter().filter(|n| seen.contains(*n)).take(first - out.len()).cloned());
            if out.len() == first || candidates.len() < page {
                return Ok(out);
            }
            cursor = Some(last);
        }
    }
}
