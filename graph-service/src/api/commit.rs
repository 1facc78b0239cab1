//! The Commit object.

use std::sync::Arc;

use async_graphql::{Context, Object, Result};
use tekton_graph_schema::{RunFact, RunKind};

use super::batch::RunBatch;
use super::run::pipeline_runs;
use super::{Image, PipelineRun, Repository, store};
use crate::view::CommitInfo;

/// A commit, with the properties its runs reported.
pub struct Commit(pub(super) CommitInfo);

#[Object]
impl Commit {
    async fn sha(&self) -> &str {
        &self.0.sha
    }
    async fn repository(&self) -> Repository {
        let url = self.0.repository_url.clone().unwrap_or_else(|| format!("https://{}", self.0.repository));
        Repository { key: self.0.repository.clone(), url }
    }
    /// The commit's first line of message.
    async fn title(&self) -> Option<&str> {
        self.0.message.as_deref().and_then(|m| m.lines().next())
    }
    async fn author(&self) -> Option<&str> {
        self.0.author.as_deref()
    }
    async fn author_email(&self) -> Option<&str> {
        self.0.author_email.as_deref()
    }
    async fn message(&self) -> Option<&str> {
        self.0.message.as_deref()
    }
    /// Commit time as reported (RFC 3339).
    async fn timestamp(&self) -> Option<&str> {
        self.0.timestamp.as_deref()
    }
    /// PipelineRuns built from this commit, newest first.
    async fn pipeline_runs(&self) -> Vec<PipelineRun> {
        pipeline_runs(self.pipeline_run_facts())
    }
    /// Images built from this commit.
    async fn images(&self, ctx: &Context<'_>) -> Result<Vec<Image>> {
        let runs = self.pipeline_run_facts();
        let batch = RunBatch::new(runs.clone());
        let mut out: Vec<Image> = Vec::new();
        for run in &runs {
            let (infos, images) = batch.images(store(ctx), &run.key()).await?;
            for info in infos {
                if !out.iter().any(|i| i.0.digest == info.digest) {
                    out.push(Image(info, images.clone()));
                }
            }
        }
        out.sort_by(|a, b| a.0.digest.cmp(&b.0.digest));
        Ok(out)
    }
}

impl Commit {
    fn pipeline_run_facts(&self) -> Vec<Arc<RunFact>> {
        self.0.runs.iter().filter(|r| r.kind == RunKind::PipelineRun).cloned().collect()
    }
}
