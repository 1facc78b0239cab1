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
    // tekton/: 16 files, 22 facts (two embedded-taskRuns PipelineRuns add 2 each, the dashboard array has 3);
    // seed-conventions/: 27; cloudevents/: 1.
    assert_eq!(checked, 22 + 27 + 1, "facts across all fixtures");
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
