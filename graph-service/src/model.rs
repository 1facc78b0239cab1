//! The graph model and the projection of one fact onto it.
//!
//! Nodes are identified by string ids that encode their kind and natural key (`image:sha256:…`,
//! `commit:github.com/org/repo@<sha>`, `pipelinerun:<ns>/<name>`), so any store can merge on them. Each fact
//! *contributes* a set of edges ([`project`]); a store keeps, per run, the edges its newest observation
//! contributed, and replaces them when a newer observation arrives. Node properties of derived nodes (Commit,
//! Image, Scan, …) are computed at read time from the facts of the runs that touch them, which is what makes the
//! graph a pure function of the set of newest observations — independent of arrival order and duplicates.

use std::fmt;

use serde::{Deserialize, Serialize};
use tekton_graph_schema::{RunFact, RunKey, RunKind};
use tekton_translate::cdevents::{CHAIN_EVENT_LISTENER, CHAIN_TRIGGER_KIND};

/// The kinds of node in the supply-chain graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum NodeKind {
    Repository,
    Commit,
    Pipeline,
    PipelineRun,
    TaskRun,
    Image,
    Scan,
    System,
    Trigger,
}

impl NodeKind {
    pub const ALL: [NodeKind; 9] = [
        NodeKind::Repository,
        NodeKind::Commit,
        NodeKind::Pipeline,
        NodeKind::PipelineRun,
        NodeKind::TaskRun,
        NodeKind::Image,
        NodeKind::Scan,
        NodeKind::System,
        NodeKind::Trigger,
    ];

    /// The id prefix of this kind (`image`, `commit`, …).
    pub fn prefix(self) -> &'static str {
        match self {
            NodeKind::Repository => "repository",
            NodeKind::Commit => "commit",
            NodeKind::Pipeline => "pipeline",
            NodeKind::PipelineRun => "pipelinerun",
            NodeKind::TaskRun => "taskrun",
            NodeKind::Image => "image",
            NodeKind::Scan => "scan",
            NodeKind::System => "system",
            NodeKind::Trigger => "trigger",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Repository => "Repository",
            NodeKind::Commit => "Commit",
            NodeKind::Pipeline => "Pipeline",
            NodeKind::PipelineRun => "PipelineRun",
            NodeKind::TaskRun => "TaskRun",
            NodeKind::Image => "Image",
            NodeKind::Scan => "Scan",
            NodeKind::System => "System",
            NodeKind::Trigger => "Trigger",
        }
    }
}

/// A node id: `<kind prefix>:<natural key>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeId(pub String);

impl NodeId {
    fn new(kind: NodeKind, key: &str) -> Self {
        NodeId(format!("{}:{key}", kind.prefix()))
    }
    pub fn repository(repo_key: &str) -> Self {
        Self::new(NodeKind::Repository, repo_key)
    }
    pub fn commit(repo_key: &str, sha: &str) -> Self {
        Self::new(NodeKind::Commit, &format!("{repo_key}@{}", sha.to_ascii_lowercase()))
    }
    pub fn pipeline(namespace: &str, name: &str) -> Self {
        Self::new(NodeKind::Pipeline, &format!("{namespace}/{name}"))
    }
    pub fn run(key: &RunKey) -> Self {
        let kind = match key.kind {
            RunKind::PipelineRun => NodeKind::PipelineRun,
            RunKind::TaskRun => NodeKind::TaskRun,
        };
        Self::new(kind, &format!("{}/{}", key.namespace, key.name))
    }
    pub fn image(digest: &str) -> Self {
        Self::new(NodeKind::Image, digest)
    }
    /// A scan is keyed by the PipelineRun that reported it (or the standalone run) and the scanned digest, so the
    /// PipelineRun's summary result and its scan TaskRun's detailed result are one Scan.
    pub fn scan(namespace: &str, run_name: &str, digest: Option<&str>) -> Self {
        Self::new(NodeKind::Scan, &format!("{namespace}/{run_name}/{}", digest.unwrap_or("-")))
    }
    pub fn system(name: &str) -> Self {
        Self::new(NodeKind::System, name)
    }
    pub fn trigger(namespace: &str, event_listener: &str, trigger: &str) -> Self {
        Self::new(NodeKind::Trigger, &format!("{namespace}/{event_listener}/{trigger}"))
    }

    pub fn kind(&self) -> Option<NodeKind> {
        let prefix = self.0.split_once(':')?.0;
        NodeKind::ALL.into_iter().find(|k| k.prefix() == prefix)
    }

    /// The natural key after the kind prefix.
    pub fn key(&self) -> &str {
        self.0.split_once(':').map(|(_, k)| k).unwrap_or(&self.0)
    }

    /// The run key of a PipelineRun or TaskRun node.
    pub fn run_key(&self) -> Option<RunKey> {
        let kind = match self.kind()? {
            NodeKind::PipelineRun => RunKind::PipelineRun,
            NodeKind::TaskRun => RunKind::TaskRun,
            _ => return None,
        };
        let (namespace, name) = self.key().split_once('/')?;
        Some(RunKey { kind, namespace: namespace.to_string(), name: name.to_string() })
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kinds of edge. Directions read as sentences: `TaskRun PART_OF PipelineRun`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EdgeKind {
    /// PipelineRun → Pipeline.
    RunOf,
    /// TaskRun → PipelineRun.
    PartOf,
    /// Run → Commit.
    BuiltFrom,
    /// Commit → Repository.
    InRepository,
    /// Run → Image.
    Produced,
    /// Run → Scan.
    Reported,
    /// Scan → Image.
    Scanned,
    /// PipelineRun → PipelineRun it re-runs.
    RerunOf,
    /// PipelineRun → Trigger.
    TriggeredBy,
    /// Repository, Pipeline or PipelineRun → System.
    BelongsTo,
}

impl EdgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::RunOf => "RUN_OF",
            EdgeKind::PartOf => "PART_OF",
            EdgeKind::BuiltFrom => "BUILT_FROM",
            EdgeKind::InRepository => "IN_REPOSITORY",
            EdgeKind::Produced => "PRODUCED",
            EdgeKind::Reported => "REPORTED",
            EdgeKind::Scanned => "SCANNED",
            EdgeKind::RerunOf => "RERUN_OF",
            EdgeKind::TriggeredBy => "TRIGGERED_BY",
            EdgeKind::BelongsTo => "BELONGS_TO",
        }
    }
}

/// A directed edge between two nodes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Edge {
    pub from: NodeId,
    pub kind: EdgeKind,
    pub to: NodeId,
}

impl Edge {
    fn new(from: NodeId, kind: EdgeKind, to: NodeId) -> Self {
        Edge { from, kind, to }
    }
}

/// Settings that change how facts map onto the graph.
#[derive(Debug, Clone, Default)]
pub struct ProjectionConfig {
    /// Label whose value names the System a run belongs to (e.g. `app.kubernetes.io/part-of`). Runs without it
    /// (or when unset) belong to the System named after their repository.
    pub system_label: Option<String>,
}

impl ProjectionConfig {
    /// The System a run belongs to, if any.
    pub fn system_of(&self, fact: &RunFact) -> Option<String> {
        let labelled = self.system_label.as_ref().and_then(|l| fact.labels.get(l)).filter(|v| !v.is_empty());
        labelled.cloned().or_else(|| fact.supply_chain.source.as_ref()?.repository.clone())
    }
}

/// The owning PipelineRun's name of a TaskRun, when known.
pub fn parent_run_name(fact: &RunFact) -> Option<&str> {
    fact.pipeline_run.as_ref().map(|o| o.name.as_str())
}

/// The edges one observation contributes, sorted and without duplicates.
pub fn project(fact: &RunFact, config: &ProjectionConfig) -> Vec<Edge> {
    let run = NodeId::run(&fact.key());
    let ns = fact.namespace.as_str();
    let mut edges = Vec::new();
    match fact.kind {
        RunKind::PipelineRun => {
            if let Some(pipeline) = &fact.pipeline {
                edges.push(Edge::new(run.clone(), EdgeKind::RunOf, NodeId::pipeline(ns, pipeline)));
            }
            for child in fact.children.iter().filter(|c| c.kind == "TaskRun") {
                let child_key = RunKey { kind: RunKind::TaskRun, namespace: ns.to_string(), name: child.name.clone() };
                edges.push(Edge::new(NodeId::run(&child_key), EdgeKind::PartOf, run.clone()));
            }
            if let Some(original) = &fact.supply_chain.rerun_of {
                let original_key =
                    RunKey { kind: RunKind::PipelineRun, namespace: ns.to_string(), name: original.clone() };
                edges.push(Edge::new(run.clone(), EdgeKind::RerunOf, NodeId::run(&original_key)));
            }
            if let Some(t) = &fact.supply_chain.trigger
                && let (Some(listener), Some(trigger)) = (&t.event_listener, &t.trigger)
            {
                // A CDEvents chain spans producers, and each producer's runs live in their own namespace (its
                // source), so the chain's Trigger is not scoped by namespace.
                let scope = if t.kind.as_deref() == Some(CHAIN_TRIGGER_KIND) { CHAIN_EVENT_LISTENER } else { ns };
                edges.push(Edge::new(run.clone(), EdgeKind::TriggeredBy, NodeId::trigger(scope, listener, trigger)));
            }
            if let Some(system) = config.system_of(fact) {
                let system = NodeId::system(&system);
                if let Some(pipeline) = &fact.pipeline {
                    edges.push(Edge::new(NodeId::pipeline(ns, pipeline), EdgeKind::BelongsTo, system.clone()));
                }
                if let Some(repo) = fact.supply_chain.source.as_ref().and_then(|s| s.repository.as_ref()) {
                    edges.push(Edge::new(NodeId::repository(repo), EdgeKind::BelongsTo, system.clone()));
                }
                edges.push(Edge::new(run.clone(), EdgeKind::BelongsTo, system));
            }
        }
        RunKind::TaskRun => {
            if let Some(parent) = parent_run_name(fact) {
                let parent_key = RunKey { kind: RunKind::PipelineRun, namespace: ns.to_string(), name: parent.into() };
                edges.push(Edge::new(run.clone(), EdgeKind::PartOf, NodeId::run(&parent_key)));
            }
        }
    }
    if let Some(source) = &fact.supply_chain.source
        && let (Some(repo), Some(sha)) = (&source.repository, &source.commit_sha)
    {
        let commit = NodeId::commit(repo, sha);
        edges.push(Edge::new(run.clone(), EdgeKind::BuiltFrom, commit.clone()));
        edges.push(Edge::new(commit, EdgeKind::InRepository, NodeId::repository(repo)));
    }
    for image in &fact.supply_chain.images {
        edges.push(Edge::new(run.clone(), EdgeKind::Produced, NodeId::image(&image.digest)));
    }
    let scan_owner = match fact.kind {
        RunKind::TaskRun => parent_run_name(fact).unwrap_or(&fact.name),
        RunKind::PipelineRun => &fact.name,
    };
    for scan in &fact.supply_chain.scans {
        let scan_id = NodeId::scan(ns, scan_owner, scan.image_digest.as_deref());
        edges.push(Edge::new(run.clone(), EdgeKind::Reported, scan_id.clone()));
        if let Some(digest) = &scan.image_digest {
            edges.push(Edge::new(scan_id, EdgeKind::Scanned, NodeId::image(digest)));
        }
    }
    edges.sort();
    edges.dedup();
    edges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_round_trip_kind_and_run_key() {
        let key = RunKey { kind: RunKind::TaskRun, namespace: "ns".into(), name: "a-b".into() };
        let id = NodeId::run(&key);
        assert_eq!(id.0, "taskrun:ns/a-b");
        assert_eq!(id.kind(), Some(NodeKind::TaskRun));
        assert_eq!(id.run_key(), Some(key));
        assert_eq!(NodeId::image("sha256:ab").kind(), Some(NodeKind::Image));
        assert_eq!(NodeId::commit("github.com/a/b", "ABC").key(), "github.com/a/b@abc");
        assert_eq!(NodeId("nonsense".into()).kind(), None);
    }
}
