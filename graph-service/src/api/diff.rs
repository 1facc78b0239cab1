//! The diff objects: what changed between two PipelineRuns (computed by [`crate::view::diff`]).

use async_graphql::{Enum, Json, SimpleObject};
use serde_json::Value;

use super::run::{RunStatus, pipeline_runs};
use super::scan::VulnerabilityCounts;
use super::{Commit, PipelineRun};
use crate::view::{self, Severities, TaskChange, TaskChangeKind, ValueChange};

/// A key whose value differs between base and head.
#[derive(SimpleObject)]
pub struct ValueDiff {
    key: String,
    before: Option<Json<Value>>,
    after: Option<Json<Value>>,
}

impl From<ValueChange> for ValueDiff {
    fn from(c: ValueChange) -> Self {
        ValueDiff { key: c.key, before: c.before.map(Json), after: c.after.map(Json) }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum TaskChangeType {
    Added,
    Removed,
    StatusChanged,
    Unchanged,
}

#[derive(SimpleObject)]
pub struct TaskDiff {
    pipeline_task: String,
    change: TaskChangeType,
    status_before: Option<RunStatus>,
    status_after: Option<RunStatus>,
    duration_before_seconds: Option<f64>,
    duration_after_seconds: Option<f64>,
    duration_delta_seconds: Option<f64>,
}

impl From<TaskChange> for TaskDiff {
    fn from(c: TaskChange) -> Self {
        let change = match c.change {
            TaskChangeKind::Added => TaskChangeType::Added,
            TaskChangeKind::Removed => TaskChangeType::Removed,
            TaskChangeKind::StatusChanged => TaskChangeType::StatusChanged,
            TaskChangeKind::Unchanged => TaskChangeType::Unchanged,
        };
        TaskDiff {
            duration_delta_seconds: c.duration_delta_seconds(),
            pipeline_task: c.pipeline_task,
            change,
            status_before: c.before.as_ref().map(|f| f.status.outcome.into()),
            status_after: c.after.as_ref().map(|f| f.status.outcome.into()),
            duration_before_seconds: c.before.as_ref().and_then(|f| f.duration_seconds()),
            duration_after_seconds: c.after.as_ref().and_then(|f| f.duration_seconds()),
        }
    }
}

#[derive(SimpleObject)]
pub struct CommitChange {
    before: Option<Commit>,
    after: Option<Commit>,
}

#[derive(SimpleObject)]
pub struct ImageDiff {
    /// Digests produced by head but not by base.
    added: Vec<String>,
    /// Digests produced by base but not by head.
    removed: Vec<String>,
    unchanged: Vec<String>,
}

#[derive(SimpleObject)]
pub struct VulnerabilityDiff {
    /// Totals over the latest scan of each image base produced.
    before: VulnerabilityCounts,
    /// Totals over the latest scan of each image head produced.
    after: VulnerabilityCounts,
    /// after − before, per severity.
    delta: VulnerabilityCounts,
}

/// What changed between two PipelineRuns.
#[derive(SimpleObject)]
pub struct RunDiff {
    /// The earlier run (absent when head has no previous run).
    base: Option<PipelineRun>,
    head: PipelineRun,
    commit_changed: bool,
    commits: CommitChange,
    params: Vec<ValueDiff>,
    results: Vec<ValueDiff>,
    tasks: Vec<TaskDiff>,
    images: ImageDiff,
    duration_delta_seconds: Option<f64>,
    status_changed: bool,
    scans: VulnerabilityDiff,
}

impl From<view::RunDiff> for RunDiff {
    fn from(d: view::RunDiff) -> Self {
        let (before, after) = (d.severities_before, d.severities_after);
        let delta = Severities {
            critical: after.critical - before.critical,
            high: after.high - before.high,
            medium: after.medium - before.medium,
            low: after.low - before.low,
            unknown: after.unknown - before.unknown,
        };
        let (images_before, images_after) = (&d.images_before, &d.images_after);
        // Both runs in one batch, so their commits, images and scans are read together.
        let mut runs = pipeline_runs(d.base.iter().cloned().chain(std::iter::once(d.head.clone())).collect());
        let head = runs.pop();
        RunDiff {
            commit_changed: d.commit_changed(),
            status_changed: d.status_changed(),
            duration_delta_seconds: d.duration_delta_seconds(),
            params: d.params.iter().cloned().map(Into::into).collect(),
            results: d.results.iter().cloned().map(Into::into).collect(),
            tasks: d.tasks.iter().cloned().map(Into::into).collect(),
            images: ImageDiff {
                added: images_after.iter().filter(|x| !images_before.contains(x)).cloned().collect(),
                removed: images_before.iter().filter(|x| !images_after.contains(x)).cloned().collect(),
                unchanged: images_after.iter().filter(|x| images_before.contains(x)).cloned().collect(),
            },
            scans: VulnerabilityDiff { before: before.into(), after: after.into(), delta: delta.into() },
            commits: CommitChange { before: d.commit_before.map(Commit), after: d.commit_after.map(Commit) },
            base: runs.pop(),
            head: head.unwrap_or_else(|| super::run::pipeline_run(d.head.clone())),
        }
    }
}
