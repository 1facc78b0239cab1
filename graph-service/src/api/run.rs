//! The run objects: PipelineRun and TaskRun, with the fields both kinds share.

use std::sync::Arc;

use async_graphql::{Context, Enum, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use serde_json::Value;
use tekton_graph_schema::{NamedValue, Outcome, RunFact};

use super::batch::RunBatch;
use super::{Commit, Image, Scan, load_run, load_runs, pr_key, store};
use crate::store::Neighbour;

/// Outcome of a run.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum RunStatus {
    Unknown,
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    TimedOut,
}

impl From<Outcome> for RunStatus {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Unknown => RunStatus::Unknown,
            Outcome::Pending => RunStatus::Pending,
            Outcome::Running => RunStatus::Running,
            Outcome::Succeeded => RunStatus::Succeeded,
            Outcome::Failed => RunStatus::Failed,
            Outcome::Cancelled => RunStatus::Cancelled,
            Outcome::TimedOut => RunStatus::TimedOut,
        }
    }
}

impl From<RunStatus> for Outcome {
    fn from(s: RunStatus) -> Self {
        match s {
            RunStatus::Unknown => Outcome::Unknown,
            RunStatus::Pending => Outcome::Pending,
            RunStatus::Running => Outcome::Running,
            RunStatus::Succeeded => Outcome::Succeeded,
            RunStatus::Failed => Outcome::Failed,
            RunStatus::Cancelled => Outcome::Cancelled,
            RunStatus::TimedOut => Outcome::TimedOut,
        }
    }
}

/// A param or result value: a string, an array or an object.
#[derive(SimpleObject, Clone)]
pub struct KeyValue {
    name: String,
    value: Json<Value>,
}

fn key_values(values: &[NamedValue]) -> Vec<KeyValue> {
    values.iter().map(|v| KeyValue { name: v.name.clone(), value: Json(v.value.clone()) }).collect()
}

#[derive(SimpleObject, Clone)]
pub struct Label {
    key: String,
    value: String,
}

#[derive(SimpleObject)]
pub struct Pipeline {
    namespace: String,
    name: String,
}

#[derive(SimpleObject)]
pub struct Trigger {
    kind: Option<String>,
    event_listener: Option<String>,
    trigger: Option<String>,
    event_id: Option<String>,
}

/// Declares the GraphQL object of a run kind: the fields every run has, plus the kind's own `$extra` methods.
/// (A macro rather than a flattened object: async-graphql registers a flattened type once, and the recursion
/// PipelineRun → Image → TaskRun would see it half-registered.)
macro_rules! run_object {
    ($ty:ident { $($extra:tt)* }) => {
#[Object]
impl $ty {
        async fn uid(&self) -> Option<&str> {
            self.0.uid.as_deref()
        }
        async fn namespace(&self) -> &str {
            &self.0.namespace
        }
        async fn name(&self) -> &str {
            &self.0.name
        }
        async fn status(&self) -> RunStatus {
            self.0.status.outcome.into()
        }
        async fn reason(&self) -> Option<&str> {
            self.0.status.reason.as_deref()
        }
        async fn message(&self) -> Option<&str> {
            self.0.status.message.as_deref()
        }
        async fn start_time(&self) -> Option<DateTime<Utc>> {
            self.0.status.start_time
        }
        async fn completion_time(&self) -> Option<DateTime<Utc>> {
            self.0.status.completion_time
        }
        async fn duration_seconds(&self) -> Option<f64> {
            self.0.duration_seconds()
        }
        async fn params(&self) -> Vec<KeyValue> {
            key_values(&self.0.params)
        }
        async fn results(&self) -> Vec<KeyValue> {
            key_values(&self.0.results)
        }
        async fn labels(&self) -> Vec<Label> {
            self.0.labels.iter().map(|(k, v)| Label { key: k.clone(), value: v.clone() }).collect()
        }
        /// The commit this run was built from (for a TaskRun: its own, else its PipelineRun's).
        async fn commit(&self, ctx: &Context<'_>) -> Result<Option<Commit>> {
            Ok(self.1.commit(store(ctx), &self.0.key()).await?.map(Commit))
        }
        /// Images this run produced (a PipelineRun includes its TaskRuns' images).
        async fn images(&self, ctx: &Context<'_>) -> Result<Vec<Image>> {
            let (infos, batch) = self.1.images(store(ctx), &self.0.key()).await?;
            Ok(infos.into_iter().map(|i| Image(i, batch.clone())).collect())
        }
        /// Vulnerability scans this run reported (a PipelineRun includes its TaskRuns' scans).
        async fn scans(&self, ctx: &Context<'_>) -> Result<Vec<Scan>> {
            Ok(self.1.scans(store(ctx), &self.0.key()).await?.into_iter().map(Scan).collect())
        }
        /// `chains.tekton.dev/signed`: `true` or `failed`.
        async fn signed(&self) -> Option<&str> {
            self.0.supply_chain.signed.as_deref()
        }
        /// True once the harvester saw the object deleted from the cluster (pruned runs stay in the graph).
        async fn deleted_from_cluster(&self) -> bool {
            self.0.deleted_at.is_some()
        }
        /// When the harvester saw the object deleted.
        async fn deleted_at(&self) -> Option<DateTime<Utc>> {
            self.0.deleted_at
        }
        /// Where this observation came from: `object` (watch, file, Tekton CloudEvent), `cdEvent` or
        /// `embeddedStatus`.
        async fn observed_from(&self) -> &'static str {
            match self.0.observed_from {
                tekton_graph_schema::ObservedFrom::Object => "object",
                tekton_graph_schema::ObservedFrom::CdEvent => "cdEvent",
                tekton_graph_schema::ObservedFrom::EmbeddedStatus => "embeddedStatus",
            }
        }
        $($extra)*
}
    };
}

/// A PipelineRun as last observed.
pub struct PipelineRun(pub(super) Arc<RunFact>, pub(super) Arc<RunBatch>);

/// One PipelineRun on its own.
pub(super) fn pipeline_run(fact: Arc<RunFact>) -> PipelineRun {
    PipelineRun(fact.clone(), RunBatch::new(vec![fact]))
}

/// PipelineRuns resolved together: they share one batch.
pub(super) fn pipeline_runs(facts: Vec<Arc<RunFact>>) -> Vec<PipelineRun> {
    let batch = RunBatch::new(facts.clone());
    facts.into_iter().map(|f| PipelineRun(f, batch.clone())).collect()
}

run_object!(PipelineRun {
    async fn pipeline(&self) -> Option<Pipeline> {
        let name = self.0.pipeline.clone()?;
        Some(Pipeline { namespace: self.0.namespace.clone(), name })
    }

    /// The pipeline's tasks as a DAG (`runAfter`, result references, `finally`), each with the TaskRun that ran it
    /// and its state. Without a pipeline spec in the run, the observed TaskRuns without edges.
    async fn pipeline_tasks(&self, ctx: &Context<'_>) -> Result<Vec<super::dag::PipelineTaskNode>> {
        let keys = self.1.links(store(ctx), &self.0.key()).await?.task_runs;
        super::dag::pipeline_tasks(&self.0, load_runs(ctx, keys).await?)
    }

    /// Tasks the run skipped, with Tekton's reason.
    async fn skipped_tasks(&self) -> Vec<super::dag::SkippedTask> {
        self.0.skipped_tasks.iter().map(super::dag::SkippedTask::from).collect()
    }

    /// The next run of the same pipeline in the same namespace (earliest later start).
    async fn next(&self, ctx: &Context<'_>) -> Result<Option<PipelineRun>> {
        let next = self.1.neighbour(store(ctx), &self.0.key(), Neighbour::Next).await?;
        Ok(next.map(|(fact, batch)| PipelineRun(fact, batch)))
    }

    /// TaskRuns of this PipelineRun that were observed, by name.
    async fn task_runs(&self, ctx: &Context<'_>) -> Result<Vec<TaskRun>> {
        let keys = self.1.links(store(ctx), &self.0.key()).await?.task_runs;
        Ok(task_runs(load_runs(ctx, keys).await?))
    }

    /// The previous run of the same pipeline in the same namespace (latest earlier start).
    async fn previous(&self, ctx: &Context<'_>) -> Result<Option<PipelineRun>> {
        let previous = self.1.neighbour(store(ctx), &self.0.key(), Neighbour::Previous).await?;
        Ok(previous.map(|(fact, batch)| PipelineRun(fact, batch)))
    }

    /// The run this one re-runs (`dashboard.tekton.dev/rerunOf`), if observed.
    async fn rerun_of(&self, ctx: &Context<'_>) -> Result<Option<PipelineRun>> {
        let Some(original) = &self.0.supply_chain.rerun_of else { return Ok(None) };
        Ok(load_run(ctx, pr_key(&self.0.namespace, original)).await?.map(pipeline_run))
    }

    /// Runs that re-run this one.
    async fn reruns(&self, ctx: &Context<'_>) -> Result<Vec<PipelineRun>> {
        let keys = self.1.links(store(ctx), &self.0.key()).await?.reruns;
        Ok(pipeline_runs(load_runs(ctx, keys).await?))
    }

    async fn trigger(&self) -> Option<Trigger> {
        let t = self.0.supply_chain.trigger.as_ref()?;
        Some(Trigger {
            kind: t.kind.clone(),
            event_listener: t.event_listener.clone(),
            trigger: t.trigger.clone(),
            event_id: t.event_id.clone(),
        })
    }
});

/// A TaskRun as last observed.
pub struct TaskRun(pub(super) Arc<RunFact>, pub(super) Arc<RunBatch>);

/// One TaskRun on its own.
pub(super) fn task_run(fact: Arc<RunFact>) -> TaskRun {
    TaskRun(fact.clone(), RunBatch::new(vec![fact]))
}

/// TaskRuns resolved together: they share one batch.
pub(super) fn task_runs(facts: Vec<Arc<RunFact>>) -> Vec<TaskRun> {
    let batch = RunBatch::new(facts.clone());
    facts.into_iter().map(|f| TaskRun(f, batch.clone())).collect()
}

#[derive(SimpleObject)]
pub struct Step {
    name: String,
    image: Option<String>,
    image_id: Option<String>,
    digest: Option<String>,
    exit_code: Option<i64>,
    terminated_reason: Option<String>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    duration_seconds: Option<f64>,
}

run_object!(TaskRun {
    /// The pipeline task this TaskRun executed.
    async fn pipeline_task(&self) -> Option<&str> {
        self.0.pipeline_task.as_deref()
    }

    async fn task(&self) -> Option<&str> {
        self.0.task.as_deref()
    }

    async fn steps(&self) -> Vec<Step> {
        self.0
            .steps
            .iter()
            .map(|s| Step {
                name: s.name.clone(),
                image: s.image.clone(),
                image_id: s.image_id.clone(),
                digest: s.digest.clone(),
                exit_code: s.exit_code,
                terminated_reason: s.terminated_reason.clone(),
                started_at: s.started_at,
                finished_at: s.finished_at,
                duration_seconds: s
                    .started_at
                    .zip(s.finished_at)
                    .map(|(start, end)| (end - start).num_milliseconds() as f64 / 1000.0),
            })
            .collect()
    }

    async fn pipeline_run(&self, ctx: &Context<'_>) -> Result<Option<PipelineRun>> {
        match self.1.links(store(ctx), &self.0.key()).await?.parent {
            Some(key) => Ok(load_run(ctx, key).await?.map(pipeline_run)),
            None => Ok(None),
        }
    }
});

/// A reference to a run of either kind.
#[derive(SimpleObject)]
pub struct RunRef {
    kind: String,
    namespace: String,
    name: String,
    status: RunStatus,
}

impl RunRef {
    pub(super) fn of(f: &RunFact) -> Self {
        RunRef {
            kind: f.kind.as_str().to_string(),
            namespace: f.namespace.clone(),
            name: f.name.clone(),
            status: f.status.outcome.into(),
        }
    }
}
