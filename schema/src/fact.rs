//! The fact types: what the harvester observed about one Tekton run, normalized.
//!
//! A fact is a *complete observation* of one object, never a delta: the graph service keeps the newest observation
//! of each run (see [`RunFact::compare_observations`]) and derives the graph from the set of newest observations, so
//! replaying, reordering or repeating facts cannot change the result.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Version of the fact data format. Bump it on incompatible changes; the CloudEvent type carries it too.
pub const FACT_SCHEMA_VERSION: u32 = 1;

/// The kind of Tekton run a fact describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RunKind {
    PipelineRun,
    TaskRun,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::PipelineRun => "PipelineRun",
            RunKind::TaskRun => "TaskRun",
        }
    }
}

/// How a fact was observed. A full object outranks a summary embedded in a parent's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum ObservedFrom {
    /// An entry of a v1beta1 PipelineRun's embedded `status.taskRuns` map: status only, no metadata or spec.
    EmbeddedStatus,
    /// Merged from CDEvents (`dev.cdevents.*`): each event says a little, see `tekton_graph_schema::merge`.
    CdEvent,
    /// The object itself (watch, file, Tekton CloudEvent body).
    #[default]
    Object,
}

/// A normalized observation of one PipelineRun or TaskRun.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunFact {
    pub schema_version: u32,
    pub kind: RunKind,
    /// `tekton.dev/v1` or `tekton.dev/v1beta1`; absent for bare objects (Chains test data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    pub namespace: String,
    pub name: String,
    /// True when the object had no `metadata.name` and `name` was derived from its content.
    #[serde(default, skip_serializing_if = "is_false")]
    pub name_derived: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<DateTime<Utc>>,
    #[serde(default)]
    pub observed_from: ObservedFrom,
    /// Pipeline name: `spec.pipelineRef.name` or the `tekton.dev/pipeline` label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    /// Task name (TaskRuns): `spec.taskRef.name` or the `tekton.dev/task` label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// The pipeline task this TaskRun executes (`tekton.dev/pipelineTask`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_task: Option<String>,
    /// The owning PipelineRun of a TaskRun (owner reference or `tekton.dev/pipelineRun` label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_run: Option<OwnerRef>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<NamedValue>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<NamedValue>,
    pub status: RunStatus,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<ChildRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    /// The pipeline's tasks as the run resolved them (`status.pipelineSpec`, else `spec.pipelineSpec`): the DAG.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pipeline_tasks: Vec<PipelineTask>,
    /// Tasks the run skipped (`status.skippedTasks`), with Tekton's reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_tasks: Vec<SkippedTask>,
    #[serde(default)]
    pub supply_chain: SupplyChain,
    /// When the object was seen deleted from the cluster (watch `DELETED`). The run stays in the graph, marked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A param or result: the value is a string, an array of strings or an object of strings, as Tekton allows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedValue {
    pub name: String,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OwnerRef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// The run's outcome, from `status.conditions[type=Succeeded]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub enum Outcome {
    #[default]
    Unknown,
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    TimedOut,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Unknown => "Unknown",
            Outcome::Pending => "Pending",
            Outcome::Running => "Running",
            Outcome::Succeeded => "Succeeded",
            Outcome::Failed => "Failed",
            Outcome::Cancelled => "Cancelled",
            Outcome::TimedOut => "TimedOut",
        }
    }

    /// True once the run can no longer change outcome.
    pub fn is_final(self) -> bool {
        matches!(self, Outcome::Succeeded | Outcome::Failed | Outcome::Cancelled | Outcome::TimedOut)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunStatus {
    pub outcome: Outcome,
    /// The raw condition status: `True`, `False` or `Unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<DateTime<Utc>>,
}

/// A child of a PipelineRun (`status.childReferences` or the embedded `status.taskRuns` map).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChildRef {
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_task_name: Option<String>,
}

/// A step container of a TaskRun and the image it ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Step {
    pub name: String,
    /// The image as written in the task (`taskSpec.steps[].image`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// `status.steps[].imageID` as reported by the kubelet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// `sha256:…` extracted from `imageID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminated_reason: Option<String>,
    /// `terminated.startedAt`, else `running.startedAt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// `terminated.finishedAt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

/// A task of a PipelineRun's pipeline (`tasks` or `finally`), with the edges Tekton orders it by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineTask {
    pub name: String,
    /// `taskRef.name`, else the `name` param of a bundle/resolver `taskRef`, else None (inline taskSpec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// `runAfter`, as declared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub run_after: Vec<String>,
    /// Tasks whose results this task references (`$(tasks.X.results.Y)`) in params, matrix params or `when`
    /// expressions: Tekton orders by these too. Sorted, without duplicates, never the task itself; names also in
    /// `run_after` are kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uses_results_of: Vec<String>,
    /// A `finally` task.
    #[serde(default, skip_serializing_if = "is_false")]
    pub finally: bool,
    /// `when` expressions as text: `input in [v1, v2]` / `input notin [v1]`, or the `cel` expression.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<String>,
}

/// A pipeline task the run skipped (`status.skippedTasks`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SkippedTask {
    pub name: String,
    /// Tekton's reason, e.g. `When Expressions evaluated to false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Supply-chain facts extracted from results, params, labels and annotations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SupplyChain {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceFact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<TriggerFact>,
    /// Images this run produced (image results of a run that is not a scan).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageFact>,
    /// Non-image artifacts (`*ARTIFACT_URI`/`*ARTIFACT_DIGEST`, `*ARTIFACT_OUTPUTS`, `*ARTIFACT_INPUTS`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<ArtifactFact>,
    /// Vulnerability scans this run reported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scans: Vec<ScanFact>,
    /// Name of the PipelineRun this one re-runs (`dashboard.tekton.dev/rerunOf`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerun_of: Option<String>,
    /// `chains.tekton.dev/signed`: `true` or `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<String>,
    /// `chains.tekton.dev/transparency`: the Rekor entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transparency: Option<String>,
}

/// The source revision a run built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceFact {
    /// The repository URL as written by the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_url: Option<String>,
    /// The repository key: see [`crate::normalize::repository_key`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_sha: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Commit time, as written (RFC 3339, offset kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Which results/labels the facts came from, e.g. `REPO_URL`, `CHAINS-GIT_COMMIT`, `label:lighthouse…`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

/// What started the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TriggerFact {
    /// The `TRIGGER` result (e.g. `git`, `manual`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_listener: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

/// A container image identified by digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageFact {
    /// `sha256:<64 hex>`.
    pub digest: String,
    /// Repository without tag or digest, e.g. `ghcr.io/org/app`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The full reference as written by the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The result the image came from, e.g. `IMAGE_DIGEST`, `IMAGES`, `image-ARTIFACT_OUTPUTS`.
    pub evidence: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ArtifactRole {
    Input,
    Output,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactFact {
    pub uri: String,
    pub digest: String,
    pub role: ArtifactRole,
    pub evidence: String,
}

/// Vulnerability counts by severity that a scan result reported for an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScanFact {
    /// Digest of the scanned image, when the run names it (param `image`/`IMAGE` or `IMAGE_DIGEST`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_repository: Option<String>,
    pub critical: i64,
    pub high: i64,
    pub medium: i64,
    pub low: i64,
    pub unknown: i64,
    /// Counts of vulnerabilities without a fix, when reported (`unpatched_vulnerabilities`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unpatched: Option<Box<ScanFact>>,
    /// The result the counts came from (`CLAIR_SCAN_RESULT`, `SCAN_OUTPUT`).
    pub evidence: String,
}

/// The cheap part of the order of two observations of the same run: the larger one is newer or more complete.
///
/// Compared as a tuple: creation time (a re-created object is newer), deletion (nothing follows the deletion of
/// an object), outcome finality (a finished run cannot become running again), full object over CDEvent merge over
/// embedded summary, completion time, then resource version (numeric
/// when it parses). [`RunFact::compare_observations`] breaks remaining ties on a content hash, so two different
/// observations with equal rank still pick the same winner in any arrival order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObservationRank {
    creation: Option<DateTime<Utc>>,
    deleted: bool,
    finished: bool,
    observed_from: ObservedFrom,
    completion: Option<DateTime<Utc>>,
    resource_version: (u64, String),
}

impl RunFact {
    /// The identity of the run in the graph: kind, namespace and name.
    pub fn key(&self) -> RunKey {
        RunKey { kind: self.kind, namespace: self.namespace.clone(), name: self.name.clone() }
    }

    pub fn observation_rank(&self) -> ObservationRank {
        let rv = self.resource_version.clone().unwrap_or_default();
        ObservationRank {
            creation: self.creation_timestamp,
            deleted: self.deleted_at.is_some(),
            finished: self.status.outcome.is_final(),
            observed_from: self.observed_from,
            completion: self.status.completion_time,
            resource_version: (rv.parse().unwrap_or(0), rv),
        }
    }

    /// Total order of observations of one run: rank first, content hash on ties (computed only then).
    pub fn compare_observations(&self, other: &RunFact) -> std::cmp::Ordering {
        self.observation_rank()
            .cmp(&other.observation_rank())
            .then_with(|| self.content_hash().cmp(&other.content_hash()))
    }

    /// The observation order as a string: comparing two keys of the same run as strings gives the same result as
    /// [`RunFact::compare_observations`]. Stores that compare in their own engine (Cypher) keep this key.
    pub fn observation_key(&self) -> String {
        let rank = self.observation_rank();
        let time = |t: Option<DateTime<Utc>>| match t {
            // Shift i64 millis into u64 so that the decimal text sorts like the number.
            Some(t) => format!("1{:020}", (t.timestamp_millis() as i128 - i64::MIN as i128) as u64),
            None => format!("0{:020}", 0),
        };
        // Hex of the resource version's bytes, closed by '!', which sorts below every hex digit, so that a prefix
        // sorts first exactly as in the tuple comparison.
        let rv_text: String = rank.resource_version.1.bytes().map(|b| format!("{b:02x}")).collect();
        format!(
            "{}|{}|{}|{}|{}|{:020}|{}!|{}",
            time(rank.creation),
            u8::from(rank.deleted),
            u8::from(rank.finished),
            rank.observed_from as u8,
            time(rank.completion),
            rank.resource_version.0,
            rv_text,
            hex::encode(self.content_hash()),
        )
    }

    /// SHA-256 of the canonical JSON of this fact (maps are sorted, so equal facts hash equally).
    pub fn content_hash(&self) -> [u8; 32] {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        Sha256::digest(&bytes).into()
    }

    /// Looks up a result by name.
    pub fn result(&self, name: &str) -> Option<&Value> {
        self.results.iter().find(|r| r.name == name).map(|r| &r.value)
    }

    /// Looks up a param by name.
    pub fn param(&self, name: &str) -> Option<&Value> {
        self.params.iter().find(|p| p.name == name).map(|p| &p.value)
    }

    /// Duration from start to completion, when both are known.
    pub fn duration_seconds(&self) -> Option<f64> {
        let (start, end) = (self.status.start_time?, self.status.completion_time?);
        Some((end - start).num_milliseconds() as f64 / 1000.0)
    }
}

/// The identity of a run: `kind/namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RunKey {
    pub kind: RunKind,
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for RunKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.kind.as_str(), self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(outcome: Outcome, rv: &str) -> RunFact {
        RunFact {
            schema_version: FACT_SCHEMA_VERSION,
            kind: RunKind::PipelineRun,
            api_version: Some("tekton.dev/v1".into()),
            uid: Some("u1".into()),
            namespace: "ns".into(),
            name: "run".into(),
            name_derived: false,
            resource_version: Some(rv.into()),
            generation: Some(1),
            creation_timestamp: "2024-05-15T10:00:00Z".parse().ok(),
            observed_from: ObservedFrom::Object,
            pipeline: Some("build".into()),
            task: None,
            pipeline_task: None,
            pipeline_run: None,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            params: vec![],
            results: vec![],
            status: RunStatus { outcome, ..Default::default() },
            children: vec![],
            steps: vec![],
            pipeline_tasks: vec![],
            skipped_tasks: vec![],
            supply_chain: SupplyChain::default(),
            deleted_at: None,
        }
    }

    #[test]
    fn finished_beats_running_even_with_a_lower_resource_version() {
        let running = fact(Outcome::Running, "900");
        let done = fact(Outcome::Succeeded, "100");
        assert!(done.compare_observations(&running).is_gt());
        assert!(running.compare_observations(&done).is_lt());
    }

    #[test]
    fn resource_versions_compare_numerically_and_ties_break_on_content() {
        assert!(fact(Outcome::Running, "10").compare_observations(&fact(Outcome::Running, "9")).is_gt());
        let mut a = fact(Outcome::Running, "5");
        let mut b = a.clone();
        a.labels.insert("x".into(), "1".into());
        b.labels.insert("x".into(), "2".into());
        // Same rank, different content: a strict, antisymmetric order.
        assert_ne!(a.compare_observations(&b), std::cmp::Ordering::Equal);
        assert_eq!(a.compare_observations(&b), b.compare_observations(&a).reverse());
        assert!(a.compare_observations(&a.clone()).is_eq());
    }

    #[test]
    fn a_recreated_object_is_newer_and_embedded_summaries_lose_to_objects() {
        let old = fact(Outcome::Succeeded, "100");
        let mut recreated = fact(Outcome::Running, "1");
        recreated.creation_timestamp = "2024-05-16T10:00:00Z".parse().ok();
        assert!(recreated.compare_observations(&old).is_gt());
        let mut embedded = fact(Outcome::Succeeded, "");
        embedded.observed_from = ObservedFrom::EmbeddedStatus;
        let object = fact(Outcome::Succeeded, "");
        assert!(object.compare_observations(&embedded).is_gt());
    }

    #[test]
    fn observation_keys_sort_like_compare_observations() {
        let mut facts = vec![fact(Outcome::Running, "10"), fact(Outcome::Running, "9"), fact(Outcome::Succeeded, "1")];
        let mut a = fact(Outcome::Running, "abc");
        a.resource_version = Some("abc".into());
        let mut b = a.clone();
        b.resource_version = Some("abcd".into());
        let mut c = fact(Outcome::Failed, "3");
        c.status.completion_time = "2024-05-15T10:04:13Z".parse().ok();
        let mut d = c.clone();
        d.creation_timestamp = "1969-12-31T00:00:00Z".parse().ok();
        let mut e = c.clone();
        e.creation_timestamp = None;
        let mut f = c.clone();
        f.observed_from = ObservedFrom::EmbeddedStatus;
        let mut g = c.clone();
        g.observed_from = ObservedFrom::CdEvent;
        let mut h = fact(Outcome::Running, "2");
        h.deleted_at = "2024-05-15T11:00:00Z".parse().ok();
        facts.extend([a, b, c, d, e, f, g, h]);
        for x in &facts {
            for y in &facts {
                assert_eq!(
                    x.observation_key().cmp(&y.observation_key()),
                    x.compare_observations(y),
                    "{} vs {}",
                    x.observation_key(),
                    y.observation_key()
                );
            }
        }
    }

    #[test]
    fn a_deletion_is_the_last_observation_of_an_object() {
        let done = fact(Outcome::Succeeded, "900");
        let mut deleted = fact(Outcome::Running, "5");
        deleted.deleted_at = "2024-05-15T11:00:00Z".parse().ok();
        assert!(deleted.compare_observations(&done).is_gt());
        let mut recreated = fact(Outcome::Running, "1");
        recreated.creation_timestamp = "2024-05-16T10:00:00Z".parse().ok();
        assert!(recreated.compare_observations(&deleted).is_gt(), "a new object of the same name is newer");
    }

    #[test]
    fn duration_needs_start_and_completion() {
        let mut f = fact(Outcome::Succeeded, "1");
        assert_eq!(f.duration_seconds(), None);
        f.status.start_time = "2024-05-15T10:00:00Z".parse().ok();
        f.status.completion_time = "2024-05-15T10:04:13.5Z".parse().ok();
        assert_eq!(f.duration_seconds(), Some(253.5));
    }

    #[test]
    fn cloudevent_round_trip_keeps_the_fact_and_a_stable_id() {
        let f = fact(Outcome::Succeeded, "7");
        let event = crate::envelope::to_cloudevent(&f).expect("event");
        let again = crate::envelope::to_cloudevent(&f).expect("event");
        use cloudevents::AttributesReader;
        assert_eq!(event.id(), again.id(), "a repeated observation repeats the id");
        assert_eq!(event.ty(), crate::envelope::PIPELINERUN_FACT_TYPE);
        assert_eq!(event.source().to_string(), "/apis/tekton.dev/v1/namespaces/ns/pipelineruns/run");
        let json = serde_json::to_string(&event).expect("structured JSON");
        let parsed: cloudevents::Event = serde_json::from_str(&json).expect("parse");
        assert_eq!(crate::envelope::from_cloudevent(&parsed).expect("fact"), f);
    }
}
