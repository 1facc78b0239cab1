//! Events in: Tekton's controller CloudEvents and CDEvents through `POST /events`, on every engine.
//!
//! Bodies are the real fixtures in testdata/cloudevents and testdata/cdevents (copied from tektoncd/pipeline's docs
//! and cdevents/spec's conformance files); the binary-mode headers are the ones Tekton's docs give for that event.

mod support;

use std::sync::Arc;

use graph_service::ingest::{DecodeOptions, Ingestor};
use graph_service::model::ProjectionConfig;
use graph_service::server::app_with;
use graph_service::store::GraphStore;
use graph_service::store::embedded::EmbeddedStore;
use poem::http::StatusCode;
use poem::test::{TestClient, TestResponse};
use serde_json::{Value, json};
use tekton_graph_schema::envelope::{BATCH_CONTENT_TYPE, STRUCTURED_CONTENT_TYPE};

type Client = TestClient<poem::endpoint::BoxEndpoint<'static>>;

fn client(store: Arc<dyn GraphStore>, options: DecodeOptions) -> Client {
    use poem::EndpointExt;
    TestClient::new(app_with(Arc::new(Ingestor::new(store).with_options(options))).map_to_response().boxed())
}

fn read_json(relative: &str) -> Value {
    let path = support::testdata().join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Posts a body in binary mode with the given CloudEvent attributes.
async fn post_binary(cli: &Client, id: &str, source: &str, ty: &str, body: &Value) -> TestResponse {
    cli.post("/events")
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-source", source)
        .header("ce-type", ty)
        .content_type("application/json")
        .body(serde_json::to_vec(body).expect("body"))
        .send()
        .await
}

/// Posts a CDEvent the way its CloudEvents binding carries it: ce-type and ce-id from the context, the whole
/// CDEvent as data.
async fn post_cdevent(cli: &Client, cdevent: &Value) -> TestResponse {
    let context = &cdevent["context"];
    let ty = context["type"].as_str().expect("context.type");
    let id = context["id"].as_str().expect("context.id");
    let source = context["source"].as_str().expect("context.source");
    post_binary(cli, id, source, ty, cdevent).await
}

async fn graphql(cli: &Client, query: &str) -> Value {
    let resp = cli.post("/graphql").body_json(&json!({ "query": query })).send().await;
    resp.assert_status_is_ok();
    let body: Value = serde_json::from_str(&body_text(resp).await).expect("JSON response");
    assert!(body.get("errors").is_none(), "{query}: {body}");
    body["data"].clone()
}

async fn body_text(resp: TestResponse) -> String {
    resp.0.into_body().into_string().await.expect("body text")
}

#[tokio::test]
async fn tekton_controller_events_in_binary_and_structured_mode() {
    for engine in support::engines(ProjectionConfig::default()).await {
        let cli = client(engine.store.clone(), DecodeOptions::default());
        // Binary mode, with the headers tektoncd/pipeline's docs/events.md gives for this body.
        let body = read_json("cloudevents/tekton-taskrun-unknown-v1-payload.json");
        let resp = post_binary(
            &cli,
            "77f78ae7-ff6d-4e39-9d05-b9a0b7850527",
            "/apis/tekton.dev/v1beta1/namespaces/default/taskruns/curl-run-6gplk",
            "dev.tekton.event.taskrun.unknown.v1",
            &body,
        )
        .await;
        resp.assert_status(StatusCode::ACCEPTED);
        let data = graphql(&cli, r#"{ taskRun(namespace: "default", name: "curl-run-6gplk") { name status } }"#).await;
        assert_eq!(data["taskRun"]["name"], "curl-run-6gplk", "{}", engine.name);

        // Structured mode: a real PipelineRun wrapped as the controller wraps it.
        let mut run = read_json("tekton/pipelinerun-v1-results-record-succeeded.json");
        let (namespace, name) = (run["metadata"]["namespace"].clone(), run["metadata"]["name"].clone());
        run["metadata"]["managedFields"] = Value::Null;
        let event = json!({
            "specversion": "1.0", "id": "e-1", "type": "dev.tekton.event.pipelinerun.successful.v1",
            "source": format!("/apis/tekton.dev/v1/namespaces/{}/pipelineruns/{}", namespace.as_str().unwrap(), name.as_str().unwrap()),
            "datacontenttype": "application/json",
            "data": { "pipelineRun": run },
        });
        let resp = cli
            .post("/events")
            .content_type(STRUCTURED_CONTENT_TYPE)
            .body(serde_json::to_vec(&event).unwrap())
            .send()
            .await;
        resp.assert_status(StatusCode::ACCEPTED);
        let query = format!(r#"{{ pipelineRun(namespace: {namespace}, name: {name}) {{ status observedFrom }} }}"#);
        let data = graphql(&cli, &query).await;
        assert_eq!(data["pipelineRun"], json!({"status": "SUCCEEDED", "observedFrom": "object"}), "{}", engine.name);
    }
}

#[tokio::test]
async fn a_bad_tekton_body_is_refused_with_the_reason() {
    let store: Arc<dyn GraphStore> = Arc::new(EmbeddedStore::in_memory(ProjectionConfig::default()));
    let cli = client(store.clone(), DecodeOptions::default());
    let resp =
        post_binary(&cli, "x", "/s", "dev.tekton.event.pipelinerun.started.v1", &json!({"pipelineRun": 3})).await;
    resp.assert_status(StatusCode::BAD_REQUEST);
    let text = body_text(resp).await;
    assert!(text.contains("dev.tekton.event.pipelinerun.started.v1"), "{text}");
    assert_eq!(store.counts().await.unwrap().pipeline_runs, 0);
}

#[tokio::test]
async fn unknown_types_are_refused_or_skipped_when_asked() {
    let store: Arc<dyn GraphStore> = Arc::new(EmbeddedStore::in_memory(ProjectionConfig::default()));
    let strict = client(store.clone(), DecodeOptions::default());
    for ty in
        ["com.example.deploy.v1", "dev.tekton.event.customrun.started.v1", "dev.cdevents.testcaserun.finished.0.1.0"]
    {
        // A well-formed CDEvent body, so only the type can be the reason.
        let mut body = read_json("cdevents/cdevent-v0.4.1-pipelinerun-started.json");
        body["context"]["type"] = json!(ty);
        let resp = post_binary(&strict, "u-1", "/s", ty, &body).await;
        resp.assert_status(StatusCode::BAD_REQUEST);
        let text = body_text(resp).await;
        assert!(text.contains(&format!("unsupported event type `{ty}`")), "{text}");
    }

    // With the flag, unknown events in a batch are counted and the rest is applied.
    let lenient = client(store.clone(), DecodeOptions { ignore_unknown: true });
    let cdevent = read_json("cdevents/cdevent-v0.4.1-pipelinerun-started.json");
    let batch = json!([
        { "specversion": "1.0", "id": "u-2", "type": "com.example.deploy.v1", "source": "/s", "data": {} },
        { "specversion": "1.0", "id": "c-1", "type": cdevent["context"]["type"], "source": "%2Fevent%2Fsource%2F123",
          "datacontenttype": "application/json", "data": cdevent },
    ]);
    let resp =
        lenient.post("/events").content_type(BATCH_CONTENT_TYPE).body(serde_json::to_vec(&batch).unwrap()).send().await;
    resp.assert_status(StatusCode::ACCEPTED);
    let report: Value = serde_json::from_str(&body_text(resp).await).expect("JSON report");
    assert_eq!(report["ignoredUnknown"], 1, "{report}");
    assert_eq!(report["applied"], 1, "{report}");
}

/// The CDEvents of one pipeline run, in an order and with a repeat, must give the same run as in order.
#[tokio::test]
async fn cdevents_merge_into_one_run_in_any_order() {
    let started = read_json("cdevents/cdevent-v0.4.1-pipelinerun-started.json");
    let finished = read_json("cdevents/cdevent-v0.4.1-pipelinerun-finished-failure.json");
    let query = r#"{ pipelineRun(namespace: "%2Fevent%2Fsource%2F123", name: "mySubject123") {
        status message startTime completionTime observedFrom } }"#;
    let mut answers = Vec::new();
    for order in [vec![&started, &finished], vec![&finished, &started, &finished, &started]] {
        for engine in support::engines(ProjectionConfig::default()).await {
            let cli = client(engine.store.clone(), DecodeOptions::default());
            for event in &order {
                post_cdevent(&cli, event).await.assert_status(StatusCode::ACCEPTED);
            }
            let run = graphql(&cli, query).await["pipelineRun"].clone();
            assert_eq!(run["status"], "FAILED", "{}: {run}", engine.name);
            assert_eq!(run["message"], "Something went wrong\nWith some more details", "{}", engine.name);
            assert!(run["startTime"].as_str().is_some_and(|t| t.starts_with("2023-03-20T14:27:05")), "{run}");
            assert!(run["completionTime"].as_str().is_some_and(|t| t.starts_with("2023-03-20T14:27:05")), "{run}");
            assert_eq!(run["observedFrom"], "cdEvent");
            answers.push((engine.name, run, support::fingerprint(engine.store.as_ref()).await));
        }
    }
    for (name, run, fingerprint) in &answers[1..] {
        assert_eq!((run, fingerprint), (&answers[0].1, &answers[0].2), "{name} differs from {}", answers[0].0);
    }
}

#[tokio::test]
async fn cdevents_of_every_spec_version_land_in_the_graph() {
    for engine in support::engines(ProjectionConfig::default()).await {
        let cli = client(engine.store.clone(), DecodeOptions::default());
        for file in [
            "cdevent-v0.3.0-pipelinerun-started.json",
            "cdevent-v0.4.1-taskrun-started.json",
            "cdevent-v0.4.1-taskrun-finished-failure.json",
            "cdevent-v0.4.1-build-finished.json",
            "cdevent-v0.4.1-artifact-packaged.json",
            "cdevent-v0.4.1-change-merged.json",
            "cdevent-v0.5.1-pipelinerun-started.json",
        ] {
            let resp = post_cdevent(&cli, &read_json(&format!("cdevents/{file}"))).await;
            resp.assert_status(StatusCode::ACCEPTED);
        }
        let data = graphql(
            &cli,
            r#"{ taskRun(namespace: "%2Fevent%2Fsource%2F123", name: "mySubject123") { status pipelineRun { name } }
                 image(digest: "sha256:0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427") {
                   digest producedBy { name } } }"#,
        )
        .await;
        assert_eq!(data["taskRun"]["status"], "FAILED", "{}: {data}", engine.name);
        assert_eq!(data["taskRun"]["pipelineRun"]["name"], "mySubject123", "{}: {data}", engine.name);
        assert_eq!(data["image"]["producedBy"][0]["name"], "mySubject123", "{}: {data}", engine.name);
    }
}

/// The runs of one CDEvents chain share one Trigger node, even when their producers (sources) differ.
#[tokio::test]
async fn one_chain_is_one_trigger_across_producers() {
    use graph_service::model::{EdgeKind, NodeId};
    let chain = "4c8cb7dd-3448-41de-8768-eec704e2829b";
    let mut run = read_json("cdevents/cdevent-v0.4.1-pipelinerun-started.json");
    run["subject"]["source"] = json!("/another/producer");
    let artifact = read_json("cdevents/cdevent-v0.4.1-artifact-packaged.json");
    for engine in support::engines(ProjectionConfig::default()).await {
        let cli = client(engine.store.clone(), DecodeOptions::default());
        post_cdevent(&cli, &run).await.assert_status(StatusCode::ACCEPTED);
        post_cdevent(&cli, &artifact).await.assert_status(StatusCode::ACCEPTED);
        let trigger = NodeId::trigger("cdevents", "cdevents", chain);
        let edges = engine.store.edges(&[trigger], Some(&[EdgeKind::TriggeredBy])).await.expect("edges");
        let mut runs: Vec<String> = edges.iter().map(|e| e.from.0.clone()).collect();
        runs.sort();
        assert_eq!(
            runs,
            [
                "pipelinerun:%2Fanother%2Fproducer/mySubject123".to_string(),
                format!("pipelinerun:%2Fevent%2Fsource%2F123/{chain}"),
            ],
            "{}",
            engine.name
        );
    }
}
