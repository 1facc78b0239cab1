//! Live updates: every apply that changed the graph announces the runs it touched, for the web UI's open pages
//! (Server-Sent Events at `/ui/live`). Fed by the ingest path, so HTTP and Kafka ingestion both reach it.

use std::sync::Arc;

use serde::Serialize;
use tekton_graph_schema::{RunFact, RunKey, RunKind};

use crate::model::NodeId;
use tokio::sync::broadcast;

/// A run one apply touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveRun {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    /// The owning PipelineRun of a TaskRun, when the fact names it.
    pub parent: Option<String>,
    pub pipeline: Option<String>,
}

impl LiveRun {
    /// The run's graph node.
    pub fn node(&self) -> NodeId {
        let kind = if self.kind == RunKind::TaskRun.as_str() { RunKind::TaskRun } else { RunKind::PipelineRun };
        NodeId::run(&RunKey { kind, namespace: self.namespace.clone(), name: self.name.clone() })
    }

    fn of(fact: &RunFact) -> Self {
        LiveRun {
            kind: fact.kind.as_str(),
            namespace: fact.namespace.clone(),
            name: fact.name.clone(),
            parent: fact.pipeline_run.as_ref().map(|o| o.name.clone()),
            pipeline: fact.pipeline.clone(),
        }
    }
}

/// Fan-out of changes to every listener. A slow listener misses old announcements (it is told it lagged and
/// simply refreshes); ingestion never waits for it.
#[derive(Clone)]
pub struct LiveHub {
    sender: broadcast::Sender<Arc<Vec<LiveRun>>>,
}

impl Default for LiveHub {
    fn default() -> Self {
        LiveHub { sender: broadcast::channel(256).0 }
    }
}

impl LiveHub {
    /// Announces the runs of an applied batch (deduplicated, in batch order).
    pub fn announce(&self, facts: &[RunFact]) {
        if self.sender.receiver_count() == 0 || facts.is_empty() {
            return;
        }
        let mut runs: Vec<LiveRun> = Vec::new();
        for fact in facts {
            let run = LiveRun::of(fact);
            if !runs.contains(&run) {
                runs.push(run);
            }
        }
        let _ = self.sender.send(Arc::new(runs));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Vec<LiveRun>>> {
        self.sender.subscribe()
    }
}
