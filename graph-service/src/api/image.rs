//! The Image object.

use std::sync::Arc;

use async_graphql::{Context, Object, Result};

use super::batch::ImageBatch;
use super::run::{RunRef, pipeline_run, task_run};
use super::{Commit, PipelineRun, Scan, TaskRun, load_run, store};
use crate::view::ImageInfo;

/// A container image, by digest. Images resolved together share a batch.
pub struct Image(pub(super) ImageInfo, pub(super) Arc<ImageBatch>);

/// One image on its own.
pub(super) fn image(info: ImageInfo) -> Image {
    let batch = ImageBatch::new(vec![info.clone()]);
    Image(info, batch)
}

#[Object]
impl Image {
    async fn digest(&self) -> &str {
        &self.0.digest
    }
    async fn repository(&self) -> Option<&str> {
        self.0.repository.as_deref()
    }
    async fn tags(&self) -> &[String] {
        &self.0.tags
    }
    /// Full references as the runs wrote them.
    async fn urls(&self) -> &[String] {
        &self.0.urls
    }
    /// The PipelineRun that built this image (the oldest that reported it).
    async fn built_by(&self, ctx: &Context<'_>) -> Result<Option<PipelineRun>> {
        let Some(key) = self.0.built_by() else { return Ok(None) };
        // Usually one of the producers, whose fact is at hand.
        match self.0.producers.iter().find(|f| f.key() == key) {
            Some(fact) => Ok(Some(pipeline_run(fact.clone()))),
            None => Ok(load_run(ctx, key).await?.map(pipeline_run)),
        }
    }
    /// The TaskRun that built this image.
    async fn task_run(&self) -> Result<Option<TaskRun>> {
        let Some(key) = self.0.task_run() else { return Ok(None) };
        Ok(self.0.producers.iter().find(|f| f.key() == key).cloned().map(task_run))
    }
    /// Every run that reported this image as an output, oldest first.
    async fn produced_by(&self) -> Vec<RunRef> {
        self.0.producers.iter().map(|f| RunRef::of(f)).collect()
    }
    /// The commit the image was built from.
    async fn commit(&self, ctx: &Context<'_>) -> Result<Option<Commit>> {
        Ok(self.1.commit(store(ctx), &self.0).await?.map(Commit))
    }
    /// Vulnerability scans of this image, newest first.
    async fn scans(&self, ctx: &Context<'_>) -> Result<Vec<Scan>> {
        let mut scans = self.1.scans(store(ctx), &self.0).await?;
        scans.sort_by(|a, b| (b.completion_time, &b.id).cmp(&(a.completion_time, &a.id)));
        Ok(scans.into_iter().map(Scan).collect())
    }
}
