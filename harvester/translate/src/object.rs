//! One run object → facts: identity, status, params, results, children and steps. Supply-chain extraction
//! works on the finished fact and lives in [`crate::supply_chain`].

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use sha2::{Digest, Sha256};
use tekton_graph_schema::normalize::parse_image_ref;
use tekton_graph_schema::{
    ChildRef, FACT_SCHEMA_VERSION, NamedValue, ObservedFrom, Outcome, OwnerRef, PipelineTask, RunFact, RunKind,
    RunStatus, SkippedTask, Step,
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
    let (pipeline_tasks, skipped_tasks) = match kind {
        RunKind::PipelineRun => (pipeline_tasks(obj), skipped_tasks(status)),
        RunKind::TaskRun => (Vec::new(), Vec::new()),
    };
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
        steps: steps(status, task_spec_steps(obj), "status")?,
        pipeline_tasks,
        skipped_tasks,
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

/// `status.steps`, joined by name with the steps as written in the task. `field` is where `status` is, for
/// errors: a malformed step time fails the document like any other malformed time.
fn steps(status: &Value, spec_steps: &[Value], field: &str) -> Result<Vec<Step>, TranslateError> {
    let mut out = Vec::new();
    for (i, step) in array_at(status, &["steps"]).iter().enumerate() {
        let Some(name) = str_at(step, &["name"]) else { continue };
        let field = format!("{field}.steps[{i}]");
        let image_id = str_at(step, &["imageID"]);
        let started_at = match time_at(step, &["terminated", "startedAt"], &format!("{field}.terminated.startedAt"))? {
            Some(t) => Some(t),
            None => time_at(step, &["running", "startedAt"], &format!("{field}.running.startedAt"))?,
        };
        out.push(Step {
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
            started_at,
            finished_at: time_at(step, &["terminated", "finishedAt"], &format!("{field}.terminated.finishedAt"))?,
        });
    }
    Ok(out)
}

/// The pipeline spec the run resolved (`status.pipelineSpec`), else the one written inline (`spec.pipelineSpec`).
/// A PipelineRun of a `pipelineRef` that the controller has not resolved yet has neither.
fn pipeline_spec(obj: &Value) -> Option<&Value> {
    at(obj, &["status", "pipelineSpec"]).or_else(|| at(obj, &["spec", "pipelineSpec"]))
}

/// The DAG: `tasks`, then `finally`. Entries without a name are skipped, like params without one.
fn pipeline_tasks(obj: &Value) -> Vec<PipelineTask> {
    let Some(spec) = pipeline_spec(obj) else { return Vec::new() };
    let tasks = array_at(spec, &["tasks"]).iter().map(|task| (task, false));
    let finally = array_at(spec, &["finally"]).iter().map(|task| (task, true));
    tasks.chain(finally).filter_map(|(task, finally)| pipeline_task(task, finally)).collect()
}

fn pipeline_task(task: &Value, finally: bool) -> Option<PipelineTask> {
    let name = str_at(task, &["name"])?.to_string();
    let when = array_at(task, &["when"]);
    // Result references order a task as much as `runAfter` does: in params, matrix params (also of `include`
    // combinations) and when expressions.
    let matrix_include = array_at(task, &["matrix", "include"]).iter().flat_map(|combo| array_at(combo, &["params"]));
    let param_values = array_at(task, &["params"])
        .iter()
        .chain(array_at(task, &["matrix", "params"]))
        .chain(matrix_include)
        .filter_map(|param| at(param, &["value"]));
    let mut uses_results_of = BTreeSet::new();
    for value in param_values.chain(when) {
        collect_result_refs(value, &mut uses_results_of);
    }
    uses_results_of.remove(&name);
    Some(PipelineTask {
        task: pipeline_task_ref(task),
        run_after: array_at(task, &["runAfter"])
            .iter()
            .filter_map(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        uses_results_of: uses_results_of.into_iter().collect(),
        finally,
        when: when.iter().filter_map(when_text).collect(),
        name,
    })
}

/// `taskRef.name`, else the `name` param of a resolver or bundle reference (`taskRef.params`); an inline
/// `taskSpec` (or a resolver without a `name` param, such as git's) has none.
fn pipeline_task_ref(task: &Value) -> Option<String> {
    str_at(task, &["taskRef", "name"])
        .or_else(|| {
            array_at(task, &["taskRef", "params"])
                .iter()
                .find(|param| str_at(param, &["name"]) == Some("name"))
                .and_then(|param| str_at(param, &["value"]))
        })
        .map(str::to_string)
}

/// Names `X` of every `$(tasks.X.results.…)` (or `$(tasks.X.results["…"])`) in the strings of `value`.
/// `$(tasks.X.status)` and the like are not result references.
fn collect_result_refs(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::String(text) => {
            for rest in text.split("$(tasks.").skip(1) {
                let Some((task, after)) = rest.split_once('.') else { continue };
                let is_task_name = !task.is_empty() && task.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
                if is_task_name && (after.starts_with("results.") || after.starts_with("results[")) {
                    out.insert(task.to_string());
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_result_refs(item, out)),
        Value::Object(map) => map.values().for_each(|item| collect_result_refs(item, out)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// A when expression as text: its `cel` expression, or `input operator [value, …]`. Empty strings are shown as
/// `""` so that `"" notin [""]` stays readable.
fn when_text(expression: &Value) -> Option<String> {
    if let Some(cel) = str_at(expression, &["cel"]) {
        return Some(cel.to_string());
    }
    let shown = |value: Option<String>| match value {
        Some(text) if !text.is_empty() => text,
        _ => "\"\"".to_string(),
    };
    let operator = str_at(expression, &["operator"])?;
    let input = shown(at(expression, &["input"]).and_then(scalar_string));
    let values: Vec<String> =
        array_at(expression, &["values"]).iter().map(|value| shown(scalar_string(value))).collect();
    Some(format!("{input} {operator} [{}]", values.join(", ")))
}

/// `status.skippedTasks`: the name and Tekton's reason (e.g. `When Expressions evaluated to false`).
fn skipped_tasks(status: &Value) -> Vec<SkippedTask> {
    array_at(status, &["skippedTasks"])
        .iter()
        .filter_map(|skipped| {
            Some(SkippedTask {
                name: str_at(skipped, &["name"])?.to_string(),
                reason: str_at(skipped, &["reason"]).map(str::to_string),
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
                steps: steps(entry_status, array_at(entry_status, &["taskSpec", "steps"]), &field)?,
                pipeline_tasks: Vec::new(),
                skipped_tasks: Vec::new(),
                supply_chain: Default::default(),
                deleted_at: None,
            };
            fact.supply_chain = supply_chain::extract(&fact);
            Ok(fact)
        })
        .collect()
}

/// The task a pipeline task runs ([`pipeline_task_ref`]), from the resolved (status) or inline (spec) pipeline
/// spec, `finally` tasks included.
fn task_of_pipeline_task(obj: &Value, pipeline_task: &str) -> Option<String> {
    [&["status", "pipelineSpec"][..], &["spec", "pipelineSpec"][..]]
        .into_iter()
        .filter_map(|path| at(obj, path))
        .flat_map(|spec| array_at(spec, &["tasks"]).iter().chain(array_at(spec, &["finally"])))
        .find(|task| str_at(task, &["name"]) == Some(pipeline_task))
        .and_then(pipeline_task_ref)
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

    #[test]
    fn result_references_are_found_in_every_string_and_only_for_results() {
        let mut refs = BTreeSet::new();
        let value = json!([
            "$(tasks.clone.results.url)?rev=$(tasks.clone.results.commit)",
            {"nested": ["prefix é $(tasks.build.results[\"IMAGE_URL\"]) ü"]},
            "$(tasks.build.status) $(tasks.status) $(tasks.lint.results) $(tasks..results.x) $(tasks.bad name.results.x)",
            "$(tasks.scan-1.results.report[*])",
            "ünïcödé $(tasks.",
            7,
            null,
        ]);
        collect_result_refs(&value, &mut refs);
        assert_eq!(refs.into_iter().collect::<Vec<_>>(), ["build", "clone", "scan-1"]);
    }

    #[test]
    fn pipeline_tasks_read_run_after_refs_when_and_task_names() {
        let obj = json!({
            "kind": "PipelineRun",
            "spec": {"pipelineSpec": {"tasks": [{"name": "ignored-spec-task"}]}},
            "status": {"pipelineSpec": {
                "tasks": [
                    {"name": "fetch", "taskRef": {"name": "git-clone"}},
                    {
                        "name": "build",
                        "runAfter": ["fetch", " ", 3],
                        "taskRef": {"resolver": "bundles", "params": [
                            {"name": "bundle", "value": "quay.io/x@sha256:00"}, {"name": "name", "value": "buildah"}
                        ]},
                        "params": [
                            {"name": "rev", "value": "$(tasks.fetch.results.commit)"},
                            {"name": "self", "value": "$(tasks.build.results.IMAGE_URL)"}
                        ],
                        "matrix": {
                            "params": [{"name": "arch", "value": ["$(tasks.arches.results.list[*])"]}],
                            "include": [{"name": "x", "params": [{"name": "extra", "value": "$(tasks.extra.results.v)"}]}]
                        },
                        "when": [
                            {"input": "$(tasks.init.results.build)", "operator": "in", "values": ["true", true]},
                            {"input": "", "operator": "notin", "values": [""]},
                            {"cel": "'$(tasks.gate.results.ok)' == 'yes'"},
                            {"input": "no operator"}
                        ]
                    },
                    {"name": "inline", "taskSpec": {"steps": []}},
                    {"name": "git", "taskRef": {"resolver": "git", "params": [{"name": "pathInRepo", "value": "t.yaml"}]}},
                    {"taskRef": {"name": "nameless"}}
                ],
                "finally": [{"name": "notify", "taskRef": {"name": "send"}, "params": [
                    {"name": "status", "value": "$(tasks.build.status)"},
                    {"name": "o", "value": {"k": "$(tasks.build.results.IMAGE_DIGEST)"}}
                ]}]
            }}
        });
        let tasks = pipeline_tasks(&obj);
        let names: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["fetch", "build", "inline", "git", "notify"], "status.pipelineSpec wins over spec");
        let build = &tasks[1];
        assert_eq!(build.task.as_deref(), Some("buildah"));
        assert_eq!(build.run_after, ["fetch"]);
        assert_eq!(build.uses_results_of, ["arches", "extra", "fetch", "gate", "init"]);
        assert_eq!(
            build.when,
            ["$(tasks.init.results.build) in [true, true]", "\"\" notin [\"\"]", "'$(tasks.gate.results.ok)' == 'yes'"]
        );
        assert!(!build.finally);
        assert_eq!(
            (tasks[0].task.as_deref(), tasks[2].task.as_deref(), tasks[3].task.as_deref()),
            (Some("git-clone"), None, None)
        );
        assert!(tasks[4].finally);
        assert_eq!(tasks[4].uses_results_of, ["build"]);
        assert_eq!(tasks[4].task.as_deref(), Some("send"));

        let spec_only = json!({"spec": {"pipelineSpec": {"tasks": [{"name": "only"}]}}});
        assert_eq!(pipeline_tasks(&spec_only).len(), 1);
        assert!(pipeline_tasks(&json!({"spec": {"pipelineRef": {"name": "p"}}})).is_empty());
    }

    #[test]
    fn step_times_come_from_terminated_or_running_and_bad_ones_fail_loudly() {
        let status = json!({"steps": [
            {"name": "a", "terminated": {"startedAt": "2024-05-15T10:00:00Z", "finishedAt": "2024-05-15T10:00:30Z"}},
            {"name": "b", "running": {"startedAt": "2024-05-15T10:00:31Z"}},
            {"name": "c", "waiting": {"reason": "PodInitializing"}},
        ]});
        let parsed = steps(&status, &[], "status").unwrap();
        let times: Vec<_> = parsed
            .iter()
            .map(|s| (s.started_at.map(|t| t.to_rfc3339()), s.finished_at.map(|t| t.to_rfc3339())))
            .collect();
        assert_eq!(
            times,
            [
                (Some("2024-05-15T10:00:00+00:00".into()), Some("2024-05-15T10:00:30+00:00".into())),
                (Some("2024-05-15T10:00:31+00:00".into()), None),
                (None, None),
            ]
        );
        let bad = json!({"steps": [{"name": "a"}, {"name": "b", "terminated": {"finishedAt": "yesterday"}}]});
        let err = steps(&bad, &[], "status.taskRuns.x.status").unwrap_err();
        assert_eq!(
            err.to_string(),
            "status.taskRuns.x.status.steps[1].terminated.finishedAt `yesterday` is not an RFC 3339 time"
        );
        let not_text = json!({"steps": [{"name": "a", "running": {"startedAt": 5}}]});
        assert_eq!(
            steps(&not_text, &[], "status").unwrap_err().to_string(),
            "status.steps[0].running.startedAt `5` is not an RFC 3339 time"
        );
    }

    #[test]
    fn skipped_tasks_keep_name_and_reason() {
        let status = json!({"skippedTasks": [
            {"name": "lint", "reason": "When Expressions evaluated to false", "whenExpressions": []},
            {"name": "later"},
            {"reason": "no name"}
        ]});
        assert_eq!(
            skipped_tasks(&status),
            [
                SkippedTask { name: "lint".into(), reason: Some("When Expressions evaluated to false".into()) },
                SkippedTask { name: "later".into(), reason: None },
            ]
        );
    }
}
