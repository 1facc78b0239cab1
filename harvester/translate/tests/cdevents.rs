//! CDEvents → facts: the values taken from every file in `testdata/cdevents/` (cdevents/spec examples of spec
//! 0.3.0, 0.4.1 and 0.5.1), the differences between spec versions, errors, and merging the partial facts.

mod common;

use serde_json::{Value, json};
use tekton_graph_schema::merge::{EVENT_IDS_ANNOTATION, merge_observations};
use tekton_graph_schema::{ArtifactRole, ObservedFrom, Outcome, RUN_FACT_JSON_SCHEMA, RunFact, RunKind, TriggerFact};
use tekton_translate::cdevents::{
    CHAIN_ID_ANNOTATION, CdEventError, SUBJECT_TYPE_LABEL, URL_ANNOTATION, is_cdevent_type, translate_cdevent,
};

/// `/event/source/123`, the fixtures' source, as a namespace (`/` is percent-encoded).
const SOURCE: &str = "%2Fevent%2Fsource%2F123";
const EVENT_ID: &str = "271069a8-fc18-44f1-b38f-9d70a1695819";
const CHAIN: &str = "4c8cb7dd-3448-41de-8768-eec704e2829b";
const TIMESTAMP: &str = "2023-03-20T14:27:05.315384Z";
const ERRORS: &str = "Something went wrong\nWith some more details";
const RUN_URL: &str = "https://www.example.com/mySubject123";
const BUILD_DIGEST: &str = "sha256:0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427";

const COVERED: &[&str] = &[
    "cdevent-v0.3.0-pipelinerun-started.json",
    "cdevent-v0.4.1-artifact-packaged.json",
    "cdevent-v0.4.1-build-finished.json",
    "cdevent-v0.4.1-change-merged.json",
    "cdevent-v0.4.1-pipelinerun-finished-failure.json",
    "cdevent-v0.4.1-pipelinerun-started.json",
    "cdevent-v0.4.1-taskrun-finished-failure.json",
    "cdevent-v0.4.1-taskrun-started.json",
    "cdevent-v0.5.1-pipelinerun-started.json",
];

fn event(file: &str) -> Value {
    let path = common::testdata().join("cdevents").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn translate(event: &Value) -> RunFact {
    let mut facts = translate_cdevent(event).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(facts.len(), 1, "one fact per event");
    facts.remove(0)
}

fn fact(file: &str) -> RunFact {
    translate(&event(file))
}

fn chain_trigger() -> TriggerFact {
    TriggerFact {
        kind: Some("cdevents-chain".into()),
        event_listener: Some("cdevents".into()),
        trigger: Some(CHAIN.into()),
        event_id: Some(CHAIN.into()),
    }
}

/// What every fact of a chained fixture event shares.
fn assert_chained(f: &RunFact, ty: &str) {
    assert_eq!(f.observed_from, ObservedFrom::CdEvent);
    assert_eq!(f.resource_version.as_deref(), Some("1"));
    assert_eq!(f.annotations[EVENT_IDS_ANNOTATION], format!("{ty}/{EVENT_ID}"));
    assert_eq!(f.annotations[CHAIN_ID_ANNOTATION], CHAIN);
    assert_eq!(f.supply_chain.trigger, Some(chain_trigger()));
    assert_eq!(f.namespace, SOURCE);
}

#[test]
fn every_fixture_file_has_a_test() {
    let mut files: Vec<String> = std::fs::read_dir(common::testdata().join("cdevents"))
        .expect("testdata/cdevents")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, COVERED);
}

#[test]
fn pipelinerun_started_v0_4_1() {
    let f = fact("cdevent-v0.4.1-pipelinerun-started.json");
    assert_chained(&f, "dev.cdevents.pipelinerun.started.0.2.0");
    assert_eq!((f.kind, f.name.as_str()), (RunKind::PipelineRun, "mySubject123"));
    assert_eq!(f.pipeline.as_deref(), Some("myPipeline"));
    assert_eq!(f.status.outcome, Outcome::Running);
    assert_eq!(f.status.start_time, Some(common::time(TIMESTAMP)));
    assert_eq!(f.status.completion_time, None);
    assert_eq!(f.annotations[URL_ANNOTATION], RUN_URL);
    assert_eq!(f.supply_chain.source, None);
    assert!(f.supply_chain.images.is_empty() && f.labels.is_empty());
}

#[test]
fn pipelinerun_finished_failure_v0_4_1() {
    let f = fact("cdevent-v0.4.1-pipelinerun-finished-failure.json");
    assert_chained(&f, "dev.cdevents.pipelinerun.finished.0.2.0");
    assert_eq!((f.kind, f.name.as_str()), (RunKind::PipelineRun, "mySubject123"));
    assert_eq!(f.pipeline.as_deref(), Some("myPipeline"));
    assert_eq!(f.status.outcome, Outcome::Failed);
    assert_eq!(f.status.reason, None);
    assert_eq!(f.status.message.as_deref(), Some(ERRORS));
    assert_eq!(f.status.start_time, None);
    assert_eq!(f.status.completion_time, Some(common::time(TIMESTAMP)));
    assert_eq!(f.annotations[URL_ANNOTATION], RUN_URL);
}

#[test]
fn taskrun_started_v0_4_1() {
    let f = fact("cdevent-v0.4.1-taskrun-started.json");
    assert_chained(&f, "dev.cdevents.taskrun.started.0.2.0");
    assert_eq!((f.kind, f.name.as_str()), (RunKind::TaskRun, "mySubject123"));
    assert_eq!(f.task.as_deref(), Some("myTask"));
    assert_eq!(f.pipeline_run.as_ref().map(|o| o.name.as_str()), Some("mySubject123"));
    assert_eq!(f.pipeline, None);
    assert_eq!(f.status.outcome, Outcome::Running);
    assert_eq!(f.status.start_time, Some(common::time(TIMESTAMP)));
    assert_eq!(f.annotations[URL_ANNOTATION], RUN_URL);
}

#[test]
fn taskrun_finished_failure_v0_4_1() {
    let f = fact("cdevent-v0.4.1-taskrun-finished-failure.json");
    assert_chained(&f, "dev.cdevents.taskrun.finished.0.2.0");
    assert_eq!((f.kind, f.name.as_str()), (RunKind::TaskRun, "mySubject123"));
    assert_eq!(f.task.as_deref(), Some("myTask"));
    assert_eq!(f.pipeline_run.as_ref().map(|o| o.name.as_str()), Some("mySubject123"));
    assert_eq!(f.status.outcome, Outcome::Failed);
    assert_eq!(f.status.message.as_deref(), Some(ERRORS));
    assert_eq!(f.status.completion_time, Some(common::time(TIMESTAMP)));
}

#[test]
fn build_finished_v0_4_1_produced_an_image() {
    let f = fact("cdevent-v0.4.1-build-finished.json");
    assert_chained(&f, "dev.cdevents.build.finished.0.2.0");
    assert_eq!((f.kind, f.name.as_str()), (RunKind::PipelineRun, "mySubject123"));
    assert_eq!(f.labels[SUBJECT_TYPE_LABEL], "build");
    assert_eq!(f.status.outcome, Outcome::Succeeded, "a finished build that names its artifact");
    assert_eq!(f.status.completion_time, Some(common::time(TIMESTAMP)));
    let [image] = f.supply_chain.images.as_slice() else { panic!("one image: {:?}", f.supply_chain.images) };
    assert_eq!(image.digest, BUILD_DIGEST);
    assert_eq!(image.repository.as_deref(), Some("myapp"), "no repository_url: the purl's name");
    assert_eq!(image.tag, None);
    assert_eq!(image.url.as_deref(), Some(format!("pkg:oci/myapp@sha256%3A{}", &BUILD_DIGEST[7..]).as_str()));
    assert_eq!(image.evidence, "cdevents:build.finished");
    assert!(f.supply_chain.artifacts.is_empty());
}

#[test]
fn artifact_packaged_v0_4_1_attaches_to_its_chain() {
    let f = fact("cdevent-v0.4.1-artifact-packaged.json");
    assert_chained(&f, "dev.cdevents.artifact.packaged.0.2.0");
    assert_eq!((f.kind, f.name.as_str()), (RunKind::PipelineRun, CHAIN), "the chain's run");
    assert_eq!(f.status.outcome, Outcome::Unknown);
    assert_eq!((f.status.start_time, f.status.completion_time), (None, None));
    // The purl's version is a short commit, not a digest: the fact contract has no place for that artifact.
    assert!(f.supply_chain.artifacts.is_empty() && f.supply_chain.images.is_empty());
    let source = f.supply_chain.source.expect("the change it packaged");
    assert_eq!(source.repository_url.as_deref(), Some("my-git.example/an-org/a-repo"));
    assert_eq!(source.repository.as_deref(), Some("my-git.example/an-org/a-repo"));
    assert_eq!(source.commit_sha.as_deref(), Some("myChange123"));
    assert_eq!(source.evidence, ["cdevents:artifact.packaged"]);
}

#[test]
fn change_merged_v0_4_1_is_the_chains_source() {
    let f = fact("cdevent-v0.4.1-change-merged.json");
    assert_chained(&f, "dev.cdevents.change.merged.0.2.0");
    assert_eq!((f.kind, f.name.as_str()), (RunKind::PipelineRun, CHAIN));
    let source = f.supply_chain.source.expect("the merged change");
    assert_eq!(source.repository_url.as_deref(), Some("https://example.org/TestRepo/TestOrg"));
    assert_eq!(source.repository.as_deref(), Some("example.org/TestRepo/TestOrg"));
    assert_eq!(source.commit_sha.as_deref(), Some("mySubject123"));
    assert_eq!(source.evidence, ["cdevents:change.merged"]);
    assert!(f.supply_chain.images.is_empty() && f.supply_chain.artifacts.is_empty());
}

#[test]
fn pipelinerun_started_v0_3_0_has_no_chain() {
    let f = fact("cdevent-v0.3.0-pipelinerun-started.json");
    assert_eq!((f.kind, f.namespace.as_str(), f.name.as_str()), (RunKind::PipelineRun, SOURCE, "mySubject123"));
    assert_eq!(f.pipeline.as_deref(), Some("myPipeline"));
    assert_eq!(f.status.outcome, Outcome::Running);
    assert_eq!(f.status.start_time, Some(common::time(TIMESTAMP)));
    assert_eq!(f.annotations[URL_ANNOTATION], RUN_URL);
    assert_eq!(f.annotations[EVENT_IDS_ANNOTATION], format!("dev.cdevents.pipelinerun.started.0.1.1/{EVENT_ID}"));
    assert!(!f.annotations.contains_key(CHAIN_ID_ANNOTATION), "0.3.0 events have no chainId or links");
    assert_eq!(f.supply_chain.trigger, None);
}

#[test]
fn pipelinerun_started_v0_5_1_reads_specversion_and_uri() {
    let f = fact("cdevent-v0.5.1-pipelinerun-started.json");
    assert_chained(&f, "dev.cdevents.pipelinerun.started.0.3.0");
    assert_eq!((f.kind, f.name.as_str()), (RunKind::PipelineRun, "mySubject123"));
    assert_eq!(f.pipeline.as_deref(), Some("myPipeline"));
    assert_eq!(f.status.outcome, Outcome::Running);
    assert_eq!(f.status.start_time, Some(common::time(TIMESTAMP)));
    assert_eq!(f.annotations[URL_ANNOTATION], RUN_URL, "`content.uri` in 0.5");
}

#[test]
fn the_three_spec_versions_of_one_event_agree_on_the_run() {
    let versions = [
        fact("cdevent-v0.3.0-pipelinerun-started.json"),
        fact("cdevent-v0.4.1-pipelinerun-started.json"),
        fact("cdevent-v0.5.1-pipelinerun-started.json"),
    ];
    for f in &versions[1..] {
        assert_eq!(f.key(), versions[0].key());
        assert_eq!((&f.pipeline, &f.status), (&versions[0].pipeline, &versions[0].status));
        assert_eq!(f.annotations[URL_ANNOTATION], versions[0].annotations[URL_ANNOTATION]);
    }
    // Different event types (version included), so they are three events to the merge, not one repeated.
    let keys: Vec<&str> = versions.iter().map(|f| f.annotations[EVENT_IDS_ANNOTATION].as_str()).collect();
    assert!(keys[0] != keys[1] && keys[1] != keys[2], "{keys:?}");
    // Only 0.4.1 has `subject.type`; it is not needed.
    let mut without_type = event("cdevent-v0.4.1-pipelinerun-started.json");
    without_type["subject"].as_object_mut().expect("subject").remove("type");
    assert_eq!(translate(&without_type), versions[1]);
}

#[test]
fn runs_of_one_chain_share_one_trigger() {
    let chained: Vec<RunFact> = COVERED[1..COVERED.len()].iter().map(|f| fact(f)).collect();
    for f in &chained {
        let trigger = f.supply_chain.trigger.as_ref().expect("chained");
        assert!(trigger.event_listener.is_some() && trigger.trigger.is_some(), "TRIGGERED_BY needs both");
        assert_eq!(trigger, &chain_trigger());
    }
}

#[test]
fn a_trigger_link_names_the_chain_when_there_is_no_chain_id() {
    let mut e = event("cdevent-v0.4.1-pipelinerun-started.json");
    e["context"].as_object_mut().expect("context").remove("chainId");
    let f = translate(&e);
    let link_target = "5328c37f-bb7e-4bb7-84ea-9f5f85e4a7ce";
    assert_eq!(f.annotations[CHAIN_ID_ANNOTATION], link_target);
    assert_eq!(f.supply_chain.trigger.and_then(|t| t.trigger).as_deref(), Some(link_target));
    // An artifact without a chain attaches to a run named after itself.
    let mut e = event("cdevent-v0.4.1-artifact-packaged.json");
    let context = e["context"].as_object_mut().expect("context");
    context.remove("chainId");
    context.remove("links");
    let f = translate(&e);
    assert_eq!(f.name, "pkg:golang%2Fmygit.com%2Fmyorg%2Fmyapp@234fd47e07d1004f0aed9c", "`/` is percent-encoded");
    assert_eq!(f.supply_chain.trigger, None);
}

#[test]
fn outcomes_map_to_tekton_outcomes() {
    let cases = [
        ("success", Outcome::Succeeded, None),
        ("failure", Outcome::Failed, None),
        ("cancel", Outcome::Cancelled, None),
        ("error", Outcome::Failed, Some("Error")),
    ];
    for (raw, outcome, reason) in cases {
        let mut e = event("cdevent-v0.4.1-pipelinerun-finished-failure.json");
        e["subject"]["content"]["outcome"] = json!(raw);
        let f = translate(&e);
        assert_eq!((f.status.outcome, f.status.reason.as_deref()), (outcome, reason), "{raw}");
    }
    let mut e = event("cdevent-v0.4.1-pipelinerun-finished-failure.json");
    e["subject"]["content"].as_object_mut().expect("content").remove("outcome");
    let f = translate(&e);
    assert_eq!((f.status.outcome, f.status.reason.as_deref()), (Outcome::Unknown, Some("Finished")));
}

#[test]
fn oci_purls_with_a_repository_url_and_tag() {
    let mut e = event("cdevent-v0.4.1-artifact-packaged.json");
    let purl = format!("pkg:oci/myapp@sha256%3A{}?repository_url=ghcr.io/org/myapp&tag=v1.2", &BUILD_DIGEST[7..]);
    e["context"]["type"] = json!("dev.cdevents.artifact.published.0.2.0");
    e["subject"]["id"] = json!(purl);
    let f = translate(&e);
    let [image] = f.supply_chain.images.as_slice() else { panic!("one image") };
    assert_eq!(image.digest, BUILD_DIGEST);
    assert_eq!((image.repository.as_deref(), image.tag.as_deref()), (Some("ghcr.io/org/myapp"), Some("v1.2")));
    assert_eq!(image.evidence, "cdevents:artifact.published");
    e["context"]["type"] = json!("dev.cdevents.artifact.signed.0.2.0");
    assert_eq!(translate(&e).supply_chain.signed.as_deref(), Some("true"));
}

#[test]
fn other_purls_are_artifacts_when_they_name_a_digest() {
    let mut e = event("cdevent-v0.4.1-artifact-packaged.json");
    let sha256 = "sha256:3b6dbb5ae9a2a1e6f3a1e3a8a5f9e5b2ddf0fe6ab4e0a7c1b59b2f1c9b0a7e11";
    let checksum = format!("sha1:ad9503c3e994a4f611a4892f2e67ac82df727086,{sha256}");
    e["subject"]["id"] = json!(format!("pkg:maven/org.example/app@1.2.0?checksum={checksum}"));
    let f = translate(&e);
    let [artifact] = f.supply_chain.artifacts.as_slice() else { panic!("one artifact") };
    assert_eq!(artifact.uri, format!("pkg:maven/org.example/app@1.2.0?checksum={checksum}"));
    assert_eq!(artifact.digest, "sha1:ad9503c3e994a4f611a4892f2e67ac82df727086", "the first valid checksum");
    assert_eq!((artifact.role, artifact.evidence.as_str()), (ArtifactRole::Output, "cdevents:artifact.packaged"));
    assert!(f.supply_chain.images.is_empty(), "not an OCI purl");
}

#[test]
fn unsupported_types_are_their_own_error() {
    for ty in ["dev.cdevents.testcaserun.finished.0.1.0", "dev.cdevents.taskrun.queued.0.2.0", "com.example.x"] {
        let mut e = event("cdevent-v0.4.1-pipelinerun-started.json");
        e["context"]["type"] = json!(ty);
        let err = translate_cdevent(&e).unwrap_err();
        assert_eq!(err, CdEventError::UnsupportedType(ty.to_string()));
        assert!(err.to_string().starts_with(&format!("unsupported CDEvent type `{ty}`")), "{err}");
    }
    assert!(is_cdevent_type("dev.cdevents.pipelinerun.started.0.2.0"));
    assert!(!is_cdevent_type("dev.tekton.event.pipelinerun.started.v1"));
}

#[test]
fn missing_and_malformed_fields_are_named() {
    let base = event("cdevent-v0.4.1-taskrun-finished-failure.json");
    let cases: [(&[&str], Value, &str); 9] = [
        (&["context", "type"], Value::Null, "CDEvent has no `context.type`"),
        (&["context", "id"], Value::Null, "CDEvent has no `context.id`"),
        (&["context", "source"], json!(""), "CDEvent has no `context.source`"),
        (&["subject", "id"], Value::Null, "CDEvent has no `subject.id`"),
        (&["subject", "id"], json!(42), "CDEvent `subject.id` should be a string, found `42`"),
        (&["context", "timestamp"], json!("yesterday"), "CDEvent `context.timestamp` should be an RFC 3339 time"),
        (&["subject", "content", "outcome"], json!("skipped"), "`subject.content.outcome` should be success"),
        (&["subject", "content", "taskName"], json!(["x"]), "`subject.content.taskName` should be a string"),
        (&["subject"], Value::Null, "CDEvent has no `subject`"),
    ];
    for (path, value, expected) in cases {
        let mut e = base.clone();
        let (last, parents) = path.split_last().expect("a path");
        let parent = parents.iter().fold(&mut e, |v, k| &mut v[*k]);
        parent[*last] = value;
        let err = translate_cdevent(&e).unwrap_err().to_string();
        assert!(err.contains(expected), "{path:?}: {err}");
    }
    assert_eq!(
        translate_cdevent(&json!([])).unwrap_err().to_string(),
        "a CDEvent must be a JSON object, found an array"
    );
    assert_eq!(translate_cdevent(&json!({})).unwrap_err(), CdEventError::MissingField("context"));
    let mut e = event("cdevent-v0.4.1-artifact-packaged.json");
    e["subject"]["id"] = json!("myapp:1.0");
    let err = translate_cdevent(&e).unwrap_err().to_string();
    assert!(err.contains("`subject.id` should be a package URL") && err.contains("pkg:"), "{err}");
}

#[test]
fn a_malformed_build_artifact_is_skipped() {
    let mut e = event("cdevent-v0.4.1-build-finished.json");
    e["subject"]["content"]["artifactId"] = json!("not a purl");
    let f = translate(&e);
    assert!(f.supply_chain.images.is_empty() && f.supply_chain.artifacts.is_empty());
    assert_eq!(f.status.completion_time, Some(common::time(TIMESTAMP)));
}

#[test]
fn merging_started_and_finished_knows_both_times_in_either_order() {
    let started = fact("cdevent-v0.4.1-pipelinerun-started.json");
    let finished = fact("cdevent-v0.4.1-pipelinerun-finished-failure.json");
    let merged = merge_observations(&started, &finished);
    assert_eq!(merged, merge_observations(&finished, &started));
    assert_eq!(merged.status.outcome, Outcome::Failed);
    assert_eq!(merged.status.start_time, Some(common::time(TIMESTAMP)));
    assert_eq!(merged.status.completion_time, Some(common::time(TIMESTAMP)));
    assert_eq!(merged.status.message.as_deref(), Some(ERRORS));
    assert_eq!(merged.resource_version.as_deref(), Some("2"), "two events, although the examples share an id");
    assert!(merged.compare_observations(&started).is_gt() && merged.compare_observations(&finished).is_gt());
    assert_eq!(merge_observations(&merged, &started), merged, "a redelivery changes nothing");
}

#[test]
fn every_order_of_one_runs_events_merges_to_the_same_fact() {
    let files = [
        "cdevent-v0.3.0-pipelinerun-started.json",
        "cdevent-v0.4.1-pipelinerun-started.json",
        "cdevent-v0.4.1-pipelinerun-finished-failure.json",
        "cdevent-v0.4.1-build-finished.json",
        "cdevent-v0.5.1-pipelinerun-started.json",
    ];
    let facts: Vec<RunFact> = files.iter().map(|f| fact(f)).collect();
    assert!(facts.iter().all(|f| f.key() == facts[0].key()), "one run");
    let mut results = Vec::new();
    for order in permutations(&(0..facts.len()).collect::<Vec<_>>()) {
        let merged = order[1..].iter().fold(facts[order[0]].clone(), |acc, &i| merge_observations(&acc, &facts[i]));
        results.push(merged);
    }
    assert_eq!(results.len(), 120);
    assert!(results.iter().all(|r| r == &results[0]));
    let merged = &results[0];
    assert_eq!(merged.status.outcome, Outcome::Failed);
    assert_eq!(merged.supply_chain.images[0].digest, BUILD_DIGEST);
    assert_eq!(merged.resource_version.as_deref(), Some("5"));
    assert_eq!(merged.labels[SUBJECT_TYPE_LABEL], "build");
}

fn permutations(items: &[usize]) -> Vec<Vec<usize>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for (i, &head) in items.iter().enumerate() {
        let rest: Vec<usize> = items.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, &x)| x).collect();
        for mut tail in permutations(&rest) {
            tail.insert(0, head);
            out.push(tail);
        }
    }
    out
}

#[test]
fn every_fact_matches_the_json_schema() {
    let schema: Value = serde_json::from_str(RUN_FACT_JSON_SCHEMA).expect("schema is JSON");
    let validator = jsonschema::draft202012::new(&schema).expect("schema compiles");
    let facts: Vec<RunFact> = COVERED.iter().map(|f| fact(f)).collect();
    let merged = facts.iter().skip(1).fold(facts[0].clone(), |acc, f| merge_observations(&acc, f));
    for f in facts.iter().chain([&merged]) {
        let instance = serde_json::to_value(f).expect("serializes");
        let errors: Vec<String> =
            validator.iter_errors(&instance).map(|e| format!("{e} at {}", e.instance_path)).collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", f.key());
        assert_eq!(&serde_json::from_value::<RunFact>(instance).expect("round trip"), f);
    }
}
