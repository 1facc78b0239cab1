//! The input shapes and failure modes of parse_documents + translate_value.

use serde_json::json;
use tekton_graph_schema::{Outcome, RunKind};
use tekton_translate::{DocumentError, TranslateError, parse_documents, translate_object, translate_value};

/// parse_documents + translate_value over a whole text, with the document number on errors.
fn translate_text(text: &str) -> Vec<Result<Vec<tekton_graph_schema::RunFact>, String>> {
    parse_documents(text)
        .into_iter()
        .enumerate()
        .map(|(i, doc)| {
            let doc = doc.map_err(|e| e.to_string())?;
            translate_value(&doc).map_err(|e| format!("document {}: {e}", i + 1))
        })
        .collect()
}

#[test]
fn multi_document_yaml_with_an_empty_document() {
    let text = "\
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: a, namespace: ci}
---
---
# nothing here
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: b}
status:
  conditions: [{type: Succeeded, status: 'False', reason: PipelineRunCancelled}]
";
    let results = translate_text(text);
    assert_eq!(results.len(), 2, "empty documents are skipped");
    let a = &results[0].as_ref().expect("document 1")[0];
    assert_eq!((a.kind, a.name.as_str(), a.namespace.as_str()), (RunKind::TaskRun, "a", "ci"));
    let b = &results[1].as_ref().expect("document 2")[0];
    assert_eq!((b.kind, b.status.outcome), (RunKind::PipelineRun, Outcome::Cancelled));
}

#[test]
fn json_array_of_runs() {
    let text =
        r#"[{"kind": "TaskRun", "metadata": {"name": "a"}}, {"kind": "PipelineRun", "metadata": {"name": "b"}}]"#;
    let results = translate_text(text);
    let names: Vec<_> = results[0].as_ref().expect("array").iter().map(|f| (f.kind, f.name.clone())).collect();
    assert_eq!(names, vec![(RunKind::TaskRun, "a".to_string()), (RunKind::PipelineRun, "b".to_string())]);
}

#[test]
fn bad_json_reports_the_parser_reason() {
    let docs = parse_documents("{\"kind\": \"TaskRun\",\n \"metadata\": {\"name\": }}");
    let err = docs.into_iter().next().expect("one document").expect_err("invalid JSON");
    assert!(matches!(err, DocumentError::Json { document: 1, .. }));
    assert_eq!(err.to_string(), "document 1: invalid JSON: expected value at line 2 column 23");
}

#[test]
fn a_pod_is_refused_by_kind() {
    let text = "kind: TaskRun\nmetadata: {name: ok}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\n";
    let results = translate_text(text);
    assert!(results[0].is_ok());
    assert_eq!(results[1].as_ref().unwrap_err(), "document 2: object of kind `Pod` is not a PipelineRun or TaskRun");
}

#[test]
fn bad_timestamp_is_an_error_with_field_and_value() {
    let list = json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"kind": "TaskRun", "metadata": {"name": "a"}, "status": {"startTime": "2024-01-01T00:00:00Z"}},
            {"kind": "TaskRun", "metadata": {"name": "b"}},
            {"kind": "TaskRun", "metadata": {"name": "c"}, "status": {"startTime": "xyz"}},
        ]
    });
    let err = translate_value(&list).unwrap_err();
    assert_eq!(err.to_string(), "item 3: status.startTime `xyz` is not an RFC 3339 time");
    assert!(matches!(err, TranslateError::Item { item: 3, .. }));

    let created = json!({"kind": "PipelineRun", "metadata": {"name": "p", "creationTimestamp": 42}});
    assert_eq!(
        translate_object(&created).unwrap_err().to_string(),
        "metadata.creationTimestamp `42` is not an RFC 3339 time"
    );
    let embedded = json!({"kind": "PipelineRun", "metadata": {"name": "p"},
        "status": {"taskRuns": {"p-t": {"pipelineTaskName": "t", "status": {"completionTime": "yesterday"}}}}});
    assert_eq!(
        translate_object(&embedded).unwrap_err().to_string(),
        "status.taskRuns.p-t.status.completionTime `yesterday` is not an RFC 3339 time"
    );
}

#[test]
fn bare_object_without_a_recognizable_shape() {
    let msg = translate_value(&json!({"spec": {"foo": 1}})).unwrap_err().to_string();
    assert!(msg.starts_with("object has no `kind` and its shape is neither a PipelineRun nor a TaskRun"), "{msg}");
}

#[test]
fn wrongly_typed_identity_fields_are_errors() {
    let obj = json!({"kind": "TaskRun", "metadata": {"name": {"a": 1}}});
    assert_eq!(translate_object(&obj).unwrap_err().to_string(), "metadata.name should be a string, found {\"a\":1}");
    let obj = json!({"kind": "TaskRun", "metadata": {"name": "t", "generation": "one"}});
    assert_eq!(translate_object(&obj).unwrap_err().to_string(), "metadata.generation should be an integer, found one");
}

#[test]
fn tekton_event_bodies_and_typed_lists() {
    let body = json!({"pipelineRun": {"kind": "PipelineRun", "metadata": {"name": "p", "namespace": "n"}}});
    let facts = translate_value(&body).expect("pipelineRun body");
    assert_eq!((facts[0].kind, facts[0].namespace.as_str()), (RunKind::PipelineRun, "n"));
    let run = json!({"run": {"kind": "Run", "metadata": {"name": "r"}}});
    assert_eq!(
        translate_value(&run).unwrap_err().to_string(),
        "unsupported Tekton CloudEvent body `run`: only `taskRun` and `pipelineRun` bodies are translated"
    );
    let list = json!({"kind": "PipelineRunList", "items": [{"kind": "PipelineRun", "metadata": {"name": "p"}}]});
    assert_eq!(translate_value(&list).expect("typed list").len(), 1);
}

#[test]
fn supply_chain_conventions_beyond_the_fixtures() {
    let d = "sha256:05d3fa6f6e9c5b2d8f34b2a6ef8dbe3a36b9c0c9e0c8c6d2b93bfd2d7a1e6f11";
    let obj = json!({
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {
            "name": "pac-run",
            "labels": {"pipelinesascode.tekton.dev/sha": "abc123", "pipelinesascode.tekton.dev/branch": "main"},
            "annotations": {
                "pipelinesascode.tekton.dev/repo-url": "https://github.com/org/app",
                "dashboard.tekton.dev/rerunOf": "pac-run-1",
                "chains.tekton.dev/transparency": "https://rekor.sigstore.dev/api/v1/log/entries?logIndex=1"
            }
        },
        "spec": {"params": [{"name": "repo-url", "value": "https://github.com/other/ignored"}]},
        "status": {"results": [
            {"name": "first-image-IMAGE_URL", "value": "ghcr.io/org/app:0.1.0"},
            {"name": "first-image-IMAGE_DIGEST", "value": d},
            {"name": "second-image-IMAGE_URL", "value": "ghcr.io/org/app:latest"},
            {"name": "second-image-IMAGE_DIGEST", "value": d},
            {"name": "broken-IMAGE_DIGEST", "value": "not-a-digest"}
        ]}
    });
    let fact = translate_object(&obj).expect("translates").remove(0);
    let sc = &fact.supply_chain;
    let source = sc.source.as_ref().expect("Pipelines-as-Code source");
    assert_eq!(source.repository.as_deref(), Some("github.com/org/app"));
    assert_eq!((source.commit_sha.as_deref(), source.branch.as_deref()), (Some("abc123"), Some("main")));
    assert_eq!(sc.images.len(), 1, "de-duplicated by digest, invalid digest skipped");
    assert_eq!(
        (sc.images[0].evidence.as_str(), sc.images[0].tag.as_deref()),
        ("first-image-IMAGE_DIGEST", Some("0.1.0"))
    );
    assert_eq!(sc.rerun_of.as_deref(), Some("pac-run-1"));
    assert!(sc.transparency.as_deref().unwrap_or_default().starts_with("https://rekor"));

    // Only a repository URL param: used for the URL, never for a commit.
    let obj = json!({"kind": "PipelineRun", "metadata": {"name": "p"},
        "spec": {"params": [{"name": "repo-url", "value": "git@github.com:org/app.git"}, {"name": "revision", "value": "main"}]}});
    let source = translate_object(&obj).expect("translates").remove(0).supply_chain.source.expect("param source");
    assert_eq!((source.repository.as_deref(), source.commit_sha), (Some("github.com/org/app"), None));
    assert_eq!(source.evidence, vec!["param:repo-url"]);
}
