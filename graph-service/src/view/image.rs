//! Images: what is known of where each came from, read for many images at once.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use tekton_graph_schema::normalize::digest_from_ref;
use tekton_graph_schema::{ImageFact, RunFact, RunKey, RunKind};

use super::{load_facts, newest_first, parent_key, scans_by_id};
use crate::model::{EdgeKind, NodeId};
use crate::store::{GraphStore, Result};

/// An image with what is known of where it came from.
#[derive(Debug, Clone)]
pub struct ImageInfo {
    pub digest: String,
    pub repository: Option<String>,
    pub tags: Vec<String>,
    pub urls: Vec<String>,
    /// Runs whose results name this image as an output, oldest first.
    pub producers: Vec<Arc<RunFact>>,
    /// Scan nodes that scanned this image.
    pub scans: Vec<NodeId>,
    built_by: Option<RunKey>,
}

impl ImageInfo {
    /// The PipelineRun that built the image: the oldest producing PipelineRun, else the PipelineRun the oldest
    /// producing TaskRun is part of (its own owner, else the PipelineRun that lists it).
    pub fn built_by(&self) -> Option<RunKey> {
        self.built_by.clone()
    }

    /// The TaskRun that built the image (oldest producing TaskRun).
    pub fn task_run(&self) -> Option<RunKey> {
        self.producers.iter().find(|f| f.kind == RunKind::TaskRun).map(|f| f.key())
    }
}

/// Images by digest (`sha256:…`), in two store calls — plus one when some image's producers name no repository
/// (the scans may) and one when a TaskRun-only producer names no owner.
pub async fn images(store: &dyn GraphStore, digests: &[String]) -> Result<HashMap<String, ImageInfo>> {
    let digests: BTreeSet<&String> = digests.iter().collect();
    if digests.is_empty() {
        return Ok(HashMap::new());
    }
    let nodes: Vec<NodeId> = digests.iter().map(|d| NodeId::image(d)).collect();
    let edges = store.edges(&nodes, Some(&[EdgeKind::Produced, EdgeKind::Scanned])).await?;
    let keys: Vec<RunKey> =
        edges.iter().filter(|e| e.kind == EdgeKind::Produced).filter_map(|e| e.from.run_key()).collect();
    let facts: HashMap<RunKey, Arc<RunFact>> =
        load_facts(store, &keys).await?.into_iter().map(|f| (f.key(), f)).collect();
    let mut out: HashMap<String, ImageInfo> = HashMap::new();
    for (digest, node) in digests.iter().zip(&nodes) {
        let touching: Vec<_> = edges.iter().filter(|e| &e.to == node).collect();
        if touching.is_empty() {
            continue;
        }
        let mut producers: Vec<Arc<RunFact>> = touching
            .iter()
            .filter(|e| e.kind == EdgeKind::Produced)
            .filter_map(|e| facts.get(&e.from.run_key()?).cloned())
            .collect();
        newest_first(&mut producers);
        producers.reverse();
        let scans: Vec<NodeId> =
            touching.iter().filter(|e| e.kind == EdgeKind::Scanned).map(|e| e.from.clone()).collect();
        let claims: Vec<&ImageFact> =
            producers.iter().flat_map(|f| f.supply_chain.images.iter().filter(|i| &&i.digest == digest)).collect();
        let tags: BTreeSet<String> = claims.iter().filter_map(|i| i.tag.clone()).collect();
        let urls: BTreeSet<String> = claims.iter().filter_map(|i| i.url.clone()).collect();
        let repository = claims.iter().rev().find_map(|i| i.repository.clone());
        let built_by = producers
            .iter()
            .find(|f| f.kind == RunKind::PipelineRun)
            .map(|f| f.key())
            .or_else(|| producers.iter().find(|f| f.kind == RunKind::TaskRun).and_then(|t| parent_key(t)));
        out.insert(
            (*digest).clone(),
            ImageInfo {
                digest: (*digest).clone(),
                repository,
                tags: tags.into_iter().collect(),
                urls: urls.into_iter().collect(),
                producers,
                scans,
                built_by,
            },
        );
    }
    fill_repositories_from_scans(store, &mut out).await?;
    fill_owners_from_the_graph(store, &mut out).await?;
    Ok(out)
}

/// An image no producer names a repository for takes the one its scans name.
async fn fill_repositories_from_scans(store: &dyn GraphStore, images: &mut HashMap<String, ImageInfo>) -> Result<()> {
    let ids: BTreeSet<NodeId> =
        images.values().filter(|i| i.repository.is_none()).flat_map(|i| i.scans.iter().cloned()).collect();
    if ids.is_empty() {
        return Ok(());
    }
    let scans = scans_by_id(store, &ids.into_iter().collect::<Vec<_>>()).await?;
    for image in images.values_mut().filter(|i| i.repository.is_none()) {
        image.repository =
            scans.iter().filter(|s| image.scans.contains(&s.id)).find_map(|s| s.report.image_repository.clone());
    }
    Ok(())
}

/// An image built only by TaskRuns whose objects name no owner: the PipelineRun that lists the oldest one as its
/// child (`PART_OF`) built it.
async fn fill_owners_from_the_graph(store: &dyn GraphStore, images: &mut HashMap<String, ImageInfo>) -> Result<()> {
    let orphans: BTreeSet<NodeId> = images
        .values()
        .filter(|i| i.built_by.is_none())
        .filter_map(|i| i.producers.iter().find(|f| f.kind == RunKind::TaskRun))
        .map(|t| NodeId::run(&t.key()))
        .collect();
    if orphans.is_empty() {
        return Ok(());
    }
    let edges = store.edges(&orphans.iter().cloned().collect::<Vec<_>>(), Some(&[EdgeKind::PartOf])).await?;
    for image in images.values_mut().filter(|i| i.built_by.is_none()) {
        let Some(task_run) = image.producers.iter().find(|f| f.kind == RunKind::TaskRun) else { continue };
        let node = NodeId::run(&task_run.key());
        image.built_by = edges.iter().filter(|e| e.from == node).filter_map(|e| e.to.run_key()).min();
    }
    Ok(())
}

/// Resolves an image by `sha256:…` or `repo@sha256:…`.
pub async fn image(store: &dyn GraphStore, reference: &str) -> Result<Option<ImageInfo>> {
    let Some(digest) = digest_from_ref(reference) else {
        return Ok(None);
    };
    Ok(images(store, std::slice::from_ref(&digest)).await?.remove(&digest))
}
