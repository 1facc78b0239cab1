//! A PipelineRun's task graph: the pipeline's tasks as the run resolved them, joined with the TaskRuns that ran.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::{Enum, Result, SimpleObject};
use tekton_graph_schema::{Outcome, RunFact};

use super::TaskRun;

/// Where a pipeline task stands in its run.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PipelineTaskState {
    Succeeded,
    Failed,
    Running,
    Pending,
    Cancelled,
    TimedOut,
    Unknown,
    /// Tekton skipped it (`status.skippedTasks`: a `when` expression, a failed dependency, …).
    Skipped,
    /// No TaskRun of it was observed and the run does not list it as skipped: not reached yet, or its TaskRun was
    /// never harvested.
    NotObserved,
}

impl From<Outcome> for PipelineTaskState {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Succeeded => PipelineTaskState::Succeeded,
            Outcome::Failed => PipelineTaskState::Failed,
            Outcome::Running => PipelineTaskState::Running,
            Outcome::Pending => PipelineTaskState::Pending,
            Outcome::Cancelled => PipelineTaskState::Cancelled,
            Outcome::TimedOut => PipelineTaskState::TimedOut,
            Outcome::Unknown => PipelineTaskState::Unknown,
        }
    }
}

/// A task of the pipeline, with the TaskRun that executed it.
#[derive(SimpleObject)]
pub struct PipelineTaskNode {
    name: String,
    /// The Task it runs (`taskRef` name or the bundle/resolver `name` param).
    task: Option<String>,
    /// Declared `runAfter`.
    run_after: Vec<String>,
    /// Tasks whose results it references; Tekton orders by these too.
    uses_results_of: Vec<String>,
    finally: bool,
    /// `when` expressions as text.
    when: Vec<String>,
    state: PipelineTaskState,
    /// Tekton's reason when skipped.
    skip_reason: Option<String>,
    task_run: Option<TaskRun>,
}

#[derive(SimpleObject)]
pub struct SkippedTask {
    name: String,
    reason: Option<String>,
}

impl From<&tekton_graph_schema::SkippedTask> for SkippedTask {
    fn from(s: &tekton_graph_schema::SkippedTask) -> Self {
        SkippedTask { name: s.name.clone(), reason: s.reason.clone() }
    }
}

/// The run's pipeline tasks joined with its observed TaskRuns (which share one batch).
pub(super) fn pipeline_tasks(run: &RunFact, task_runs: Vec<Arc<RunFact>>) -> Result<Vec<PipelineTaskNode>> {
    let objects: HashMap<tekton_graph_schema::RunKey, TaskRun> =
        super::run::task_runs(task_runs.clone()).into_iter().map(|t| (t.0.key(), t)).collect();
    let mut objects = objects;
    // A TaskRun names its pipeline task by label; the PipelineRun's child reference names it too.
    let child_tasks: HashMap<&str, &str> =
        run.children.iter().filter_map(|c| Some((c.name.as_str(), c.pipeline_task_name.as_deref()?))).collect();
    let mut by_task: HashMap<String, Arc<RunFact>> = HashMap::new();
    for tr in &task_runs {
        let task = tr.pipeline_task.clone().or_else(|| child_tasks.get(tr.name.as_str()).map(|t| t.to_string()));
        by_task.entry(task.unwrap_or_else(|| tr.name.clone())).or_insert_with(|| tr.clone());
    }
    let skipped: HashMap<&str, Option<&String>> =
        run.skipped_tasks.iter().map(|s| (s.name.as_str(), s.reason.as_ref())).collect();
    let mut node = |name: &str, spec: Option<&tekton_graph_schema::PipelineTask>| {
        let tr = by_task.get(name).cloned();
        let skip = skipped.get(name);
        let state = match (&tr, skip) {
            (Some(tr), _) => tr.status.outcome.into(),
            (None, Some(_)) => PipelineTaskState::Skipped,
            (None, None) => PipelineTaskState::NotObserved,
        };
        PipelineTaskNode {
            name: name.to_string(),
            task: spec.and_then(|s| s.task.clone()).or_else(|| tr.as_ref().and_then(|t| t.task.clone())),
            run_after: spec.map(|s| s.run_after.clone()).unwrap_or_default(),
            uses_results_of: spec.map(|s| s.uses_results_of.clone()).unwrap_or_default(),
            finally: spec.is_some_and(|s| s.finally),
            when: spec.map(|s| s.when.clone()).unwrap_or_default(),
            state,
            skip_reason: skip.and_then(|r| r.cloned()),
            task_run: tr.and_then(|t| objects.remove(&t.key())),
        }
    };
    if !run.pipeline_tasks.is_empty() {
        return Ok(run.pipeline_tasks.iter().map(|spec| node(&spec.name, Some(spec))).collect());
    }
    // No spec in the run: show what ran (and what was skipped), in start order, without edges.
    let mut names: Vec<(Option<chrono::DateTime<chrono::Utc>>, String)> =
        by_task.iter().map(|(name, tr)| (tr.status.start_time, name.clone())).collect();
    names.sort();
    let mut nodes: Vec<PipelineTaskNode> = names.iter().map(|(_, name)| node(name, None)).collect();
    for s in &run.skipped_tasks {
        if !by_task.contains_key(&s.name) {
            nodes.push(node(&s.name, None));
        }
    }
    Ok(nodes)
}
