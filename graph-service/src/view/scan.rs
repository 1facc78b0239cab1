//! Scans: the vulnerability counts runs reported, the latest scan of images, and totals by severity.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use tekton_graph_schema::{RunFact, RunKey, RunKind, ScanFact};

use super::{links_of, load_facts, parent_key};
use crate::model::{Edge, EdgeKind, NodeId};
use crate::store::{GraphStore, Result};

/// A scan with the counts its runs reported.
#[derive(Debug, Clone)]
pub struct ScanInfo {
    pub id: NodeId,
    pub image_digest: Option<String>,
    pub report: ScanFact,
    pub pipeline_run: Option<RunKey>,
    pub task_run: Option<RunKey>,
    pub completion_time: Option<chrono::DateTime<chrono::Utc>>,
}

/// Resolves scan nodes in two store calls (their `REPORTED` edges, then the reporters' facts).
pub async fn scans_by_id(store: &dyn GraphStore, ids: &[NodeId]) -> Result<Vec<ScanInfo>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let edges = store.edges(ids, Some(&[EdgeKind::Reported])).await?;
    let keys: Vec<RunKey> = edges.iter().filter_map(|e| e.from.run_key()).collect();
    let facts: HashMap<RunKey, Arc<RunFact>> =
        load_facts(store, &keys).await?.into_iter().map(|f| (f.key(), f)).collect();
    Ok(scan_infos(ids, &edges, &facts))
}

/// The scans `ids` from their `REPORTED` edges and the reporters' facts. When a PipelineRun and its scan TaskRun
/// both report the same scan, the TaskRun's report (the detailed one) wins; among several, the one with unpatched
/// counts, then the first by evidence name.
pub fn scan_infos(ids: &[NodeId], reported: &[Edge], facts: &HashMap<RunKey, Arc<RunFact>>) -> Vec<ScanInfo> {
    let mut out = Vec::new();
    for id in ids {
        let reporters: Vec<&Arc<RunFact>> = reported
            .iter()
            .filter(|e| e.kind == EdgeKind::Reported && &e.to == id)
            .filter_map(|e| facts.get(&e.from.run_key()?))
            .collect();
        let digest = id.key().rsplit('/').next().filter(|d| *d != "-").map(str::to_string);
        let mut candidates: Vec<(&Arc<RunFact>, &ScanFact)> = reporters
            .iter()
            .flat_map(|f| f.supply_chain.scans.iter().filter(|s| s.image_digest == digest).map(move |s| (*f, s)))
            .collect();
        candidates.sort_by(|(fa, sa), (fb, sb)| {
            let rank = |f: &RunFact, s: &ScanFact| (f.kind == RunKind::TaskRun, s.unpatched.is_some());
            rank(fb, sb).cmp(&rank(fa, sa)).then(sa.evidence.cmp(&sb.evidence)).then(fa.key().cmp(&fb.key()))
        });
        let Some((fact, report)) = candidates.first() else {
            continue;
        };
        let pipeline_run = match fact.kind {
            RunKind::PipelineRun => Some(fact.key()),
            RunKind::TaskRun => parent_key(fact),
        };
        let task_run = reporters.iter().find(|f| f.kind == RunKind::TaskRun).map(|f| f.key());
        out.push(ScanInfo {
            id: id.clone(),
            image_digest: digest,
            report: (*report).clone(),
            pipeline_run,
            task_run,
            completion_time: fact.status.completion_time,
        });
    }
    out
}

/// Scan nodes reported by a run (for a PipelineRun: by it or its TaskRuns).
pub async fn scans_of_run(store: &dyn GraphStore, fact: &Arc<RunFact>) -> Result<Vec<ScanInfo>> {
    let ids: Vec<NodeId> = links_of(store, fact).await?.scans.into_iter().collect();
    scans_by_id(store, &ids).await
}

/// Vulnerability totals by severity over a set of scans.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Severities {
    pub critical: i64,
    pub high: i64,
    pub medium: i64,
    pub low: i64,
    pub unknown: i64,
}

impl Severities {
    pub fn sum(scans: &[ScanInfo]) -> Self {
        scans.iter().fold(Severities::default(), |acc, s| Severities {
            critical: acc.critical + s.report.critical,
            high: acc.high + s.report.high,
            medium: acc.medium + s.report.medium,
            low: acc.low + s.report.low,
            unknown: acc.unknown + s.report.unknown,
        })
    }
}

/// Latest scan of each of the given images, in three store calls.
pub async fn latest_scans_of_images(store: &dyn GraphStore, digests: &[String]) -> Result<Vec<ScanInfo>> {
    let nodes: Vec<NodeId> = digests.iter().map(|d| NodeId::image(d)).collect();
    let edges = store.edges(&nodes, Some(&[EdgeKind::Scanned])).await?;
    let ids: Vec<NodeId> = edges.into_iter().map(|e| e.from).collect::<BTreeSet<_>>().into_iter().collect();
    Ok(latest_per_image(scans_by_id(store, &ids).await?))
}

/// The newest scan (by completion time, then id) of each image among `scans`, by digest.
pub fn latest_per_image(scans: Vec<ScanInfo>) -> Vec<ScanInfo> {
    let mut latest: BTreeMap<String, ScanInfo> = BTreeMap::new();
    for scan in scans {
        let Some(digest) = scan.image_digest.clone() else {
            continue;
        };
        let newer =
            latest.get(&digest).is_none_or(|old| (scan.completion_time, &scan.id) > (old.completion_time, &old.id));
        if newer {
            latest.insert(digest, scan);
        }
    }
    latest.into_values().collect()
}
