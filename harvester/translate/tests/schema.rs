//! Every fact produced from every fixture validates against `schema/json/run-fact.schema.json`, and the schema
//! rejects facts that serde would reject.

mod common;

use serde_json::{Value, json};
use tekton_graph_schema::{RUN_FACT_JSON_SCHEMA, RunFact};

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(RUN_FACT_JSON_SCHEMA).expect("schema is JSON");
    assert!(jsonschema::meta::is_valid(&schema), "schema is a valid JSON Schema");
    jsonschema::draft202012::new(&schema).expect("schema compiles")
}

fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path)).collect()
}

#[test]
fn every_fact_from_every_fixture_matches_the_schema() {
    let validator = validator();
    let mut checked = 0;
    for file in common::fixture_files() {
        for fact in common::facts(&file) {
            let instance = serde_json::to_value(&fact).expect("fact serializes");
            let errs = errors(&validator, &instance);
            assert!(errs.is_empty(), "{file}: {}: {errs:#?}", fact.key());
            // And the JSON reads back into the same fact.
            assert_eq!(serde_json::from_value::<RunFact>(instance).expect("round trip"), fact);
            checked += 1;
        }
    }
    // tekton/: 24 files, 30 facts (two embedded-taskRuns PipelineRuns add 2 each, the dashboard array has 3);
    // seed-conventions/: 27; cloudevents/: 1.
    assert_eq!(checked, 30 + 27 + 1, "facts across all fixtures");
}

/// A fact with every optional part present, so that mutations below hit real fields.
fn full_fact() -> Value {
    let facts = common::facts("seed-conventions/list-v1-idec-builds-scans-rerun.json");
    let fact = facts.iter().find(|f| f.name == "idec-image-builds-run-fb422").expect("build run");
    serde_json::to_value(fact).expect("fact serializes")
}

/// A named change to a fact that must make it invalid.
type Mutation = (&'static str, fn(&mut Value));

#[test]
fn schema_rejects_mutated_facts() {
    let validator = validator();
    assert!(validator.is_valid(&full_fact()));
    let mutations: Vec<Mutation> = vec![
        ("outcome Bogus", |f| f["status"]["outcome"] = json!("Bogus")),
        ("unknown top-level field", |f| f["bogus"] = json!(1)),
        ("unknown nested field", |f| f["supplyChain"]["source"]["bogus"] = json!("x")),
        ("kind Pod", |f| f["kind"] = json!("Pod")),
        ("observedFrom bogus", |f| f["observedFrom"] = json!("watch")),
        ("invalid image digest", |f| f["supplyChain"]["images"][0]["digest"] = json!("sha256:xyz")),
        ("upper-case digest", |f| {
            f["supplyChain"]["images"][0]["digest"] = json!("SHA256:ABCDEF0123456789ABCDEF0123456789")
        }),
        ("missing name", |f| _ = f.as_object_mut().map(|o| o.remove("name"))),
        ("empty namespace", |f| f["namespace"] = json!("")),
        ("schemaVersion 2", |f| f["schemaVersion"] = json!(2)),
        ("null param value", |f| f["params"][0]["value"] = Value::Null),
        ("label value not a string", |f| f["labels"]["x"] = json!(1)),
        ("negative count", |f| {
            f["supplyChain"]["scans"] =
                json!([{"critical": -1, "high": 0, "medium": 0, "low": 0, "unknown": 0, "evidence": "SCAN_OUTPUT"}])
        }),
        (
            "artifact role",
            |f| f["supplyChain"]["artifacts"] = json!([{"uri": "u", "digest": "sha256:05d3fa6f6e9c5b2d8f34b2a6ef8dbe3a", "role": "both", "evidence": "e"}]),
        ),
    ];
    for (what, mutate) in mutations {
        let mut fact = full_fact();
        mutate(&mut fact);
        assert!(!validator.is_valid(&fact), "schema accepted a fact with {what}");
        // serde agrees wherever it can tell (it does not check patterns, lengths or the version).
        if ["outcome Bogus", "unknown top-level field", "unknown nested field", "kind Pod", "missing name"]
            .contains(&what)
        {
            assert!(serde_json::from_value::<RunFact>(fact).is_err(), "serde accepted a fact with {what}");
        }
    }
}

/// A [`Mutation`] and whether serde rejects the mutated fact too.
type CheckedMutation = (&'static str, fn(&mut Value), bool);

/// A PipelineRun with a DAG, skipped tasks and timed steps of its TaskRuns, so that mutations hit those parts.
fn dag_fact() -> Value {
    let fact =
        common::single("tekton/pipelinerun-v1beta1-pipeline-service-exporter-build-finally-skipped-childrefs.yaml");
    let mut value = serde_json::to_value(fact).expect("fact serializes");
    let task_run = common::single("tekton/taskrun-v1beta1-pipeline-service-exporter-init-build-result.yaml");
    value["steps"] = serde_json::to_value(&task_run.steps).expect("steps serialize");
    value
}

#[test]
fn schema_rejects_mutated_pipeline_tasks_skipped_tasks_and_step_times() {
    let validator = validator();
    let base = dag_fact();
    assert!(validator.is_valid(&base), "{:#?}", errors(&validator, &base));
    assert!(base["pipelineTasks"].as_array().is_some_and(|t| t.len() == 14));
    assert!(base["skippedTasks"].as_array().is_some_and(|t| t.len() == 3));
    assert!(base["steps"][0]["startedAt"].is_string() && base["steps"][0]["finishedAt"].is_string());
    let mutations: Vec<CheckedMutation> = vec![
        ("unknown pipeline task field", |f| f["pipelineTasks"][0]["params"] = json!([]), true),
        ("pipeline task without name", |f| _ = f["pipelineTasks"][0].as_object_mut().map(|o| o.remove("name")), true),
        ("empty pipeline task name", |f| f["pipelineTasks"][0]["name"] = json!(""), false),
        ("finally not a boolean", |f| f["pipelineTasks"][12]["finally"] = json!("yes"), true),
        ("runAfter not an array", |f| f["pipelineTasks"][1]["runAfter"] = json!("init"), true),
        ("empty runAfter entry", |f| f["pipelineTasks"][1]["runAfter"] = json!([""]), false),
        ("usesResultsOf duplicates", |f| f["pipelineTasks"][3]["usesResultsOf"] = json!(["init", "init"]), false),
        ("when not strings", |f| f["pipelineTasks"][1]["when"] = json!([{"input": "a", "operator": "in"}]), true),
        ("Tekton's whenExpressions on a skipped task", |f| f["skippedTasks"][0]["whenExpressions"] = json!([]), true),
        ("skipped task without name", |f| f["skippedTasks"][0] = json!({"reason": "r"}), true),
        ("step startedAt not a string", |f| f["steps"][0]["startedAt"] = json!(1692975396), true),
        ("step finishedAt not a string", |f| f["steps"][0]["finishedAt"] = json!(true), true),
        ("pipelineTasks not an array", |f| f["pipelineTasks"] = json!({"init": {}}), true),
    ];
    for (what, mutate, serde_rejects) in mutations {
        let mut fact = base.clone();
        mutate(&mut fact);
        assert!(!validator.is_valid(&fact), "schema accepted a fact with {what}");
        if serde_rejects {
            assert!(serde_json::from_value::<RunFact>(fact).is_err(), "serde accepted a fact with {what}");
        }
    }
}

#[test]
fn facts_without_the_new_fields_still_parse() {
    // A fact written before pipelineTasks, skippedTasks and step times existed.
    let old = json!({
        "schemaVersion": 1, "kind": "TaskRun", "namespace": "ns", "name": "tr",
        "status": {"outcome": "Succeeded"},
        "steps": [{"name": "build", "exitCode": 0}]
    });
    assert!(validator().is_valid(&old));
    let fact: RunFact = serde_json::from_value(old).expect("old facts parse");
    assert!(fact.pipeline_tasks.is_empty() && fact.skipped_tasks.is_empty());
    assert_eq!((fact.steps[0].started_at, fact.steps[0].finished_at), (None, None));
    let again = serde_json::to_value(&fact).expect("serializes");
    assert!(again.get("pipelineTasks").is_none() && again.get("skippedTasks").is_none(), "{again}");
    assert!(again["steps"][0].get("startedAt").is_none());
}
