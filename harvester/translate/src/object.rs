//! One run object → facts: identity, status, params, results, children and steps. Supply-chain extraction
//! works on the finished fact and lives in [`crate::supply_chain`].

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use sha2::{Digest, Sha256};
use tekton_graph_schema::normalize::parse_image_ref;
use tekton_graph_schema::{
    ChildRef, FACT_SCHEMA_VERSION, NamedValue, ObservedFrom, Outcome, OwnerRef, RunFact, RunKind, RunStatus, Step,
};

use crate::error::TranslateError;
use crate::json::{
    array_at, at, canonical_json, i64_at, scalar_string, str_at, string_field, string_map, time_at, type_name,
};
use crate::supply_chain;

pub(crate) const LABEL_PIPELINE: &str = "tekton.dev/pipeline";
const LABEL_PIPELINE_RUN: &str = "tekton.dev/pipelineRun";
const LABEL_PIPELINE_TASK: &str = "tekton.dev/pipelineTask";
const LABEL_TASK: &str = "tekton.dev/task";
/// kubectl's copy of the whole object: large, and a second, stale source of truth.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Longer annotation values are blobs (specs, reports), not facts worth storing on every observation.
const MAX_ANNOTATION_CHARS: usize = 4096;

/// Fields that only a PipelineRun has; used to recognize bare objects (Chains test data has no `kind`).
const PIPELINERUN_SHAPE: &[&[&str]] = &[
    &["spec", "pipelineRef"],
    &["spec", "pipelineSpec"],
    &["status", "pipelineSpec"],
    &["status", "childReferences"],
    &["status", "taskRuns"],
    &["status", "pipelineResults"],
];
/// Fields that only a TaskRun has.
const TASKRUN_SHAPE: &[&[&str]] = &[
    &["spec", "taskRef"],
    &["spec", "taskSpec"],
    &["status", "steps"],
    &["status", "taskSpec"],
    &["status", "taskResults"],
    &["status", "podName"],
];

/// Translates one PipelineRun or TaskRun. A PipelineRun with an embedded `status.taskRuns` map also yields one
/// [`ObservedFrom::EmbeddedStatus`] fact per entry, after its own fact.
pub(crate) fn translate(obj: &Value) -> Result<Vec<RunFact>, TranslateError> {
    if !obj.is_object() {
        return Err(TranslateError::NotAnObject(type_name(obj)));
    }
    let kind = run_kind(obj)?;
    let mut fact = object_fact(obj, kind)?;
    let embedded = match kind {
        RunKind::PipelineRun => embedded_task_runs(obj, &fact)?,
        RunKind::TaskRun => Vec::new(),
    };
    fact.supply_chain = supply_chain::extract(&fact);
    Ok(std::iter::once(fact).chain(embedded).collect())
}

fn run_kind(obj: &Value) -> Result<RunKind, TranslateError> {
    match str_at(obj, &["kind"]) {
        Some("PipelineRun") => Ok(RunKind::PipelineRun),
        Some("TaskRun") => Ok(RunKind::TaskRun),
        Some(other) => Err(TranslateError::NotARun(other.to_string())),
        None => kind_from_shape(obj),
    }
}

fn kind_from_shape(obj: &Value) -> Result<RunKind, TranslateError> {
    let has_any = |paths: &[&[&str]]| paths.iter().any(|path| at(obj, path).is_some());
    match (has_any(PIPELINERUN_SHAPE), has_any(TASKRUN_SHAPE)) {
        (true, false) => Ok(RunKind::PipelineRun),
        (false, true) => Ok(RunKind::TaskRun),
        (true, true) => Err(TranslateError::UnknownShape("it has fields of both")),
        (false, false) => Err(TranslateError::UnknownShape(
            "expected spec.pipelineRef/pipelineSpec, status.childReferences/taskRuns, spec.taskRef/taskSpec or status.steps",
        )),
    }
}

/// The fact of the object itself, without supply-chain facts.
fn object_fact(obj: &Value, kind: RunKind) -> Result<RunFact, TranslateError> {
    let labels = string_map(obj, &["metadata", "labels"]);
    let (name, name_derived) = match string_field(obj, &["metadata", "name"], "metadata.name")? {
        Some(name) => (name, false),
        None => (derived_name(kind, obj), true),
    };
    let status = at(obj, &["status"]).unwrap_or(&Value::Null);
    let (pipeline, task, pipeline_run) = match kind {
        RunKind::PipelineRun => (
            str_at(obj, &["spec", "pipelineRef", "name"])
                .map(str::to_string)
                .or_else(|| label(&labels, LABEL_PIPELINE)),
            None,
            None,
        ),
        RunKind::TaskRun => (
            label(&labels, LABEL_PIPELINE),
            str_at(obj, &["spec", "taskRef", "name"]).map(str::to_string).or_else(|| label(&labels, LABEL_TASK)),
            owner_pipeline_run(obj, &labels),
        ),
    };
    Ok(RunFact {
        schema_version: FACT_SCHEMA_VERSION,
        kind,
        api_version: string_field(obj, &["apiVersion"], "apiVersion")?,
        uid: string_field(obj, &["metadata", "uid"], "metadata.uid")?,
        namespace: string_field(obj, &["metadata", "namespace"], "metadata.namespace")?
            .unwrap_or_else(|| "default".to_string()),
        name,
        name_derived,
        resource_version: string_field(obj, &["metadata", "resourceVersion"], "metadata.resourceVersion")?,
        generation: i64_at(obj, &["metadata", "generation"], "metadata.generation")?,
        creation_timestamp: time_at(obj, &["metadata", "creationTimestamp"], "metadata.creationTimestamp")?,
        observed_from: ObservedFrom::Object,
        pipeline,
        task,
        pipeline_task: label(&labels, LABEL_PIPELINE_TASK),
        pipeline_run,
        annotations: annotations(obj),
        labels,
        params: named_values(array_at(obj, &["spec", "params"])),
        results: results(status),
        status: run_status(status, "status")?,
        children: children(status),
        steps: steps(status, task_spec_steps(obj)),
        supply_chain: Default::default(),
        deleted_at: None,
    })
}

/// `<kind>-<12 hex of sha256(canonical JSON)>`: stable across runs and producers, so the same bare object
/// replayed twice maps to the same run.
fn derived_name(kind: RunKind, obj: &Value) -> String {
    let hash = Sha256::digest(canonical_json(obj).as_bytes());
    format!("{}-{}", kind.as_str().to_ascii_lowercase(), &hex::encode(hash)[..12])
}

fn label(labels: &BTreeMap<String, String>, key: &str) -> Option<String> {
    labels.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()).map(str::to_string)
}

fn annotations(obj: &Value) -> BTreeMap<String, String> {
    let mut annotations = string_map(obj, &["metadata", "annotations"]);
    annotations.retain(|key, value| key != LAST_APPLIED && value.chars().count() <= MAX_ANNOTATION_CHARS);
    annotations
}

/// The owning PipelineRun: the owner reference carries the uid, the label is the fallback for objects whose
/// owner references were stripped (exports, Results records).
fn owner_pipeline_run(obj: &Value, labels: &BTreeMap<String, String>) -> Option<OwnerRef> {
    let from_owner = array_at(obj, &["metadata", "ownerReferences"])
        .iter()
        .filter(|owner| str_at(owner, &["kind"]) == Some("PipelineRun"))
        .find_map(|owner| {
            let name = str_at(owner, &["name"])?.to_string();
            Some(OwnerRef { name, uid: str_at(owner, &["uid"]).map(str::to_string) })
        });
    from_owner.or_else(|| label(labels, LABEL_PIPELINE_RUN).map(|name| OwnerRef { name, uid: None }))
}

/// Params and results: `{name, value}` entries. Entries without a name or value are skipped: they carry nothing.
/// Tekton values are strings, arrays or objects; a bare number or boolean (unquoted YAML) is read as the string
/// it stands for, as Tekton's own decoder does.
fn named_values(entries: &[Value]) -> Vec<NamedValue> {
    entries
        .iter()
        .filter_map(|entry| {
            let name = str_at(entry, &["name"])?.to_string();
            let value = match at(entry, &["value"])? {
                scalar @ (Value::Number(_) | Value::Bool(_)) => Value::String(scalar_string(scalar)?),
                value => value.clone(),
            };
            Some(NamedValue { name, value })
        })
        .collect()
}

/// v1 writes `status.results`; v1beta1 `status.pipelineResults` (PipelineRun) or `status.taskResults` (TaskRun).
fn results(status: &Value) -> Vec<NamedValue> {
    ["results", "pipelineResults", "taskResults"]
        .iter()
        .flat_map(|key| named_values(array_at(status, &[key])))
        .collect()
}

/// The outcome from `conditions[type=Succeeded]`, following the reasons Tekton's reconcilers set.
fn run_status(status: &Value, field: &str) -> Result<RunStatus, TranslateError> {
    let condition = array_at(status, &["conditions"]).iter().find(|c| str_at(c, &["type"]) == Some("Succeeded"));
    let condition_status = condition.and_then(|c| str_at(c, &["status"])).map(str::to_string);
    let reason = condition.and_then(|c| str_at(c, &["reason"])).map(str::to_string);
    let start_time = time_at(status, &["startTime"], &format!("{field}.startTime"))?;
    let outcome = match (condition_status.as_deref(), reason.as_deref().unwrap_or_default()) {
        (Some("True"), _) => Outcome::Succeeded,
        (Some("False"), r) if r.contains("Cancel") => Outcome::Cancelled,
        (Some("False"), r) if r.contains("Timeout") || r.contains("TimedOut") => Outcome::TimedOut,
        (Some("False"), _) => Outcome::Failed,
        (Some("Unknown"), r) if r.contains("Pending") => Outcome::Pending,
        (Some("Unknown"), _) => Outcome::Running,
        // No condition yet: the controller has not picked the run up, unless it already recorded a start.
        (None, _) if start_time.is_none() => Outcome::Pending,
        _ => Outcome::Unknown,
    };
    Ok(RunStatus {
        outcome,
        condition_status,
        reason,
        message: condition.and_then(|c| str_at(c, &["message"])).map(str::to_string),
        start_time,
        completion_time: time_at(status, &["completionTime"], &format!("{field}.completionTime"))?,
    })
}

/// `status.childReferences`, then the entries of the embedded `taskRuns`/`runs` maps of older PipelineRuns.
/// Controllers in the "both" embedded-status mode write a child in both places, hence the de-duplication.
fn children(status: &Value) -> Vec<ChildRef> {
    let referenced = array_at(status, &["childReferences"]).iter().filter_map(|child| {
        Some(ChildRef {
            kind: str_at(child, &["kind"])?.to_string(),
            name: str_at(child, &["name"])?.to_string(),
            api_version: str_at(child, &["apiVersion"]).map(str::to_string),
            pipeline_task_name: str_at(child, &["pipelineTaskName"]).map(str::to_string),
        })
    });
    let embedded = [("taskRuns", "TaskRun"), ("runs", "Run")].into_iter().flat_map(|(key, kind)| {
        sorted_entries(status, key).into_iter().map(move |(name, entry)| ChildRef {
            kind: kind.to_string(),
            name: name.to_string(),
            api_version: None,
            pipeline_task_name: str_at(entry, &["pipelineTaskName"]).map(str::to_string),
        })
    });
    let mut seen = BTreeSet::new();
    referenced.chain(embedded).filter(|c| seen.insert((c.kind.clone(), c.name.clone()))).collect()
}

/// Entries of a map in `status`, sorted by key so that the output does not depend on map ordering features.
fn sorted_entries<'a>(status: &'a Value, key: &str) -> Vec<(&'a String, &'a Value)> {
    let mut entries: Vec<_> = at(status, &[key]).and_then(Value::as_object).into_iter().flatten().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

/// The steps as written in the task: `spec.taskSpec` (inline task) or `status.taskSpec` (resolved task).
fn task_spec_steps(obj: &Value) -> &[Value] {
    let spec = array_at(obj, &["spec", "taskSpec", "steps"]);
    if spec.is_empty() { array_at(obj, &["status", "taskSpec", "steps"]) } else { spec }
}

fn steps(status: &Value, spec_steps: &[Value]) -> Vec<Step> {
    array_at(status, &["steps"])
        .iter()
        .filter_map(|step| {
            let name = str_at(step, &["name"])?;
            let image_id = str_at(step, &["imageID"]);
            Some(Step {
                name: name.to_string(),
                image: spec_steps
                    .iter()
                    .find(|s| str_at(s, &["name"]) == Some(name))
                    .and_then(|s| str_at(s, &["image"]))
                    .map(str::to_string),
                image_id: image_id.map(str::to_string),
                digest: image_id.and_then(|id| parse_image_ref(id).digest),
                exit_code: at(step, &["terminated", "exitCode"]).and_then(Value::as_i64),
                terminated_reason: str_at(step, &["terminated", "reason"]).map(str::to_string),
            })
        })
        .collect()
}

/// One fact per entry of a v1beta1 PipelineRun's `status.taskRuns` map. The entry has a status only, so
/// identity comes from the parent: namespace, owner and pipeline; the task name from the pipeline spec.
fn embedded_task_runs(obj: &Value, parent: &RunFact) -> Result<Vec<RunFact>, TranslateError> {
    let status = at(obj, &["status"]).unwrap_or(&Value::Null);
    sorted_entries(status, "taskRuns")
        .into_iter()
        .map(|(name, entry)| {
            let pipeline_task = str_at(entry, &["pipelineTaskName"]).map(str::to_string);
            let entry_status = at(entry, &["status"]).unwrap_or(&Value::Null);
            let field = format!("status.taskRuns.{name}.status");
            let mut fact = RunFact {
                schema_version: FACT_SCHEMA_VERSION,
                kind: RunKind::TaskRun,
                api_version: None,
                uid: None,
                namespace: parent.namespace.clone(),
                name: name.clone(),
                name_derived: false,
                resource_version: None,
                generation: None,
                creation_timestamp: None,
                observed_from: ObservedFrom::EmbeddedStatus,
                pipeline: parent.pipeline.clone(),
                task: pipeline_task.as_deref().and_then(|t| task_of_pipeline_task(obj, t)),
                pipeline_task,
                pipeline_run: Some(OwnerRef { name: parent.name.clone(), uid: parent.uid.clone() }),
                labels: BTreeMap::new(),
                annotations: BTreeMap::new(),
                params: Vec::new(),
                results: results(entry_status),
                status: run_status(entry_status, &field)?,
                children: Vec::new(),
                steps: steps(entry_status, array_at(entry_status, &["taskSpec", "steps"])),
                supply_chain: Default::default(),
                deleted_at: None,
            };
            fact.supply_chain = supply_chain::extract(&fact);
            Ok(fact)
        })
        .collect()
}

/// `taskRef.name` of a pipeline task, from the resolved (status) or inline (spec) pipeline spec.
fn task_of_pipeline_task(obj: &Value, pipeline_task: &str) -> Option<String> {
    [&["status", "pipelineSpec", "tasks"][..], &["spec", "pipelineSpec", "tasks"][..]]
        .into_iter()
        .flat_map(|path| array_at(obj, path))
        .find(|task| str_at(task, &["name"]) == Some(pipeline_task))
        .and_then(|task| str_at(task, &["taskRef", "name"]))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn outcome(status: &str, reason: &str) -> Outcome {
        let s = json!({"conditions": [{"type": "Succeeded", "status": status, "reason": reason}]});
        run_status(&s, "status").unwrap().outcome
    }

    #[test]
    fn outcomes_follow_condition_and_reason() {
        assert_eq!(outcome("True", "Completed"), Outcome::Succeeded);
        assert_eq!(outcome("False", "Failed"), Outcome::Failed);
        assert_eq!(outcome("False", "PipelineRunCancelled"), Outcome::Cancelled);
        assert_eq!(outcome("False", "TaskRunCancelled"), Outcome::Cancelled);
        assert_eq!(outcome("False", "PipelineRunTimeout"), Outcome::TimedOut);
        assert_eq!(outcome("False", "TaskRunTimedOut"), Outcome::TimedOut);
        assert_eq!(outcome("Unknown", "Running"), Outcome::Running);
        assert_eq!(outcome("Unknown", "Started"), Outcome::Running);
        assert_eq!(outcome("Unknown", "Pending"), Outcome::Pending);
        assert_eq!(outcome("Unknown", "PipelineRunPending"), Outcome::Pending);
        assert_eq!(run_status(&json!({}), "status").unwrap().outcome, Outcome::Pending);
        let started = json!({"startTime": "2024-01-01T00:00:00Z"});
        assert_eq!(run_status(&started, "status").unwrap().outcome, Outcome::Unknown);
    }

    #[test]
    fn bare_objects_are_recognized_by_shape() {
        assert_eq!(run_kind(&json!({"spec": {"pipelineRef": {"name": "p"}}})).unwrap(), RunKind::PipelineRun);
        assert_eq!(run_kind(&json!({"status": {"podName": "p"}})).unwrap(), RunKind::TaskRun);
        assert!(matches!(run_kind(&json!({"spec": {}})), Err(TranslateError::UnknownShape(_))));
        let both = json!({"spec": {"pipelineRef": {}, "taskRef": {}}});
        assert!(run_kind(&both).unwrap_err().to_string().contains("both"));
    }

    #[test]
    fn derived_names_do_not_depend_on_key_order() {
        let a: Value =
            serde_json::from_str(r#"{"spec": {"taskRef": {"name": "t"}}, "status": {"podName": "p"}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"status": {"podName": "p"}, "spec": {"taskRef": {"name": "t"}}}"#).unwrap();
        let name = derived_name(RunKind::TaskRun, &a);
        assert_eq!(name, derived_name(RunKind::TaskRun, &b));
        assert!(name.starts_with("taskrun-") && name.len() == "taskrun-".len() + 12, "{name}");
    }

    #[test]
    fn annotations_drop_last_applied_and_blobs() {
        let obj =
            json!({"metadata": {"annotations": {LAST_APPLIED: "{}", "big": "x".repeat(4097), "ok": "x".repeat(4096)}}});
        assert_eq!(annotations(&obj).keys().collect::<Vec<_>>(), vec!["ok"]);
    }
}
