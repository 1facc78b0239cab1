//! The Scan object and vulnerability counts.

use async_graphql::{Context, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::run::{pipeline_run, task_run};
use super::{PipelineRun, TaskRun, load_run};
use crate::view::{ScanInfo, Severities};

/// A vulnerability scan of an image.
pub struct Scan(pub(super) ScanInfo);

#[derive(SimpleObject, Clone, Copy, Default)]
pub struct VulnerabilityCounts {
    critical: i64,
    high: i64,
    medium: i64,
    low: i64,
    unknown: i64,
    total: i64,
}

impl From<Severities> for VulnerabilityCounts {
    fn from(s: Severities) -> Self {
        VulnerabilityCounts {
            critical: s.critical,
            high: s.high,
            medium: s.medium,
            low: s.low,
            unknown: s.unknown,
            total: s.critical + s.high + s.medium + s.low + s.unknown,
        }
    }
}

fn counts_of(s: &tekton_graph_schema::ScanFact) -> VulnerabilityCounts {
    Severities { critical: s.critical, high: s.high, medium: s.medium, low: s.low, unknown: s.unknown }.into()
}

#[Object]
impl Scan {
    async fn id(&self) -> &str {
        &self.0.id.0
    }
    async fn image_digest(&self) -> Option<&str> {
        self.0.image_digest.as_deref()
    }
    async fn vulnerabilities(&self) -> VulnerabilityCounts {
        counts_of(&self.0.report)
    }
    /// Vulnerabilities without a fix, when the scanner reported them.
    async fn unpatched(&self) -> Option<VulnerabilityCounts> {
        self.0.report.unpatched.as_deref().map(counts_of)
    }
    async fn critical(&self) -> i64 {
        self.0.report.critical
    }
    async fn high(&self) -> i64 {
        self.0.report.high
    }
    /// The result the counts came from.
    async fn source(&self) -> &str {
        &self.0.report.evidence
    }
    async fn completion_time(&self) -> Option<DateTime<Utc>> {
        self.0.completion_time
    }
    async fn pipeline_run(&self, ctx: &Context<'_>) -> Result<Option<PipelineRun>> {
        match self.0.pipeline_run.clone() {
            Some(key) => Ok(load_run(ctx, key).await?.map(pipeline_run)),
            None => Ok(None),
        }
    }
    async fn task_run(&self, ctx: &Context<'_>) -> Result<Option<TaskRun>> {
        match self.0.task_run.clone() {
            Some(key) => Ok(load_run(ctx, key).await?.map(task_run)),
            None => Ok(None),
        }
    }
}
