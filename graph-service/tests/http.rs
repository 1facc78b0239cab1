//! The HTTP surface: POST /events in every CloudEvents mode, refusals that name the reason and write nothing,
//! GraphQL over HTTP, GraphiQL and health.

mod support;

use std::sync::Arc;

use graph_service::model::ProjectionConfig;
use graph_service::server::app;
use graph_service::store::GraphStore;
use graph_service::store::embedded::EmbeddedStore;
use poem::http::StatusCode;
use poem::test::TestClient;
use serde_json::{Value, json};
use tekton_graph_schema::envelope::{BATCH_CONTENT_TYPE, STRUCTURED_CONTENT_TYPE, to_cloudevent};

fn new_store() -> Arc<dyn GraphStore> {
    Arc::new(EmbeddedStore::in_memory(ProjectionConfig::default()))
}

fn events_json() -> Vec<Value> {
    support::seed_facts().iter().map(|f| serde_json::to_value(to_cloudevent(f).unwrap()).unwrap()).collect()
}

async fn run_count(store: &Arc<dyn GraphStore>) -> usize {
    let c = store.counts().await.unwrap();
    c.pipeline_runs + c.task_runs
}

#[tokio::test]
async fn batch_structured_and_binary_events_are_applied() {
    let store = new_store();
    let cli = TestClient::new(app(store.clone()));
    let events = events_json();

    let resp = cli
        .post("/events")
        .content_type(BATCH_CONTENT_TYPE)
        .body(serde_json::to_vec(&events[..20]).unwrap())
        .send()
        .await;
    resp.assert_status(StatusCode::ACCEPTED);
    resp.assert_json(json!({"received": 20, "applied": 20, "ignored": 0, "ignoredUnknown": 0, "emitted": 0})).await;

    let resp = cli
        .post("/events")
        .content_type(STRUCTURED_CONTENT_TYPE)
        .body(serde_json::to_vec(&events[20]).unwrap())
        .send()
        .await;
    resp.assert_status(StatusCode::ACCEPTED);

    // Binary mode: attributes in ce-* headers, the fact JSON as the body.
    let e = &events[21];
    let resp = cli
        .post("/events")
        .header("ce-specversion", "1.0")
        .header("ce-id", e["id"].as_str().unwrap())
        .header("ce-source", e["source"].as_str().unwrap())
        .header("ce-type", e["type"].as_str().unwrap())
        .content_type("application/json")
        .body(serde_json::to_vec(&e["data"]).unwrap())
        .send()
        .await;
    resp.assert_status(StatusCode::ACCEPTED);
    assert_eq!(run_count(&store).await, 22);

    // A repeat is accepted and ignored.
    let resp = cli
        .post("/events")
        .content_type(BATCH_CONTENT_TYPE)
        .body(serde_json::to_vec(&events[..5]).unwrap())
        .send()
        .await;
    resp.assert_json(json!({"received": 5, "applied": 0, "ignored": 5, "ignoredUnknown": 0, "emitted": 0})).await;
}

#[tokio::test]
async fn a_bad_event_in_a_batch_is_refused_with_its_index_and_nothing_is_written() {
    let store = new_store();
    let cli = TestClient::new(app(store.clone()));
    let mut events = events_json();
    events[3]["data"]["status"]["outcome"] = json!("Exploded");
    let resp =
        cli.post("/events").content_type(BATCH_CONTENT_TYPE).body(serde_json::to_vec(&events).unwrap()).send().await;
    resp.assert_status(StatusCode::BAD_REQUEST);
    let body = resp.0.into_body().into_string().await.unwrap();
    assert!(body.starts_with("event 3:") && body.contains("Exploded"), "{body}");
    assert_eq!(run_count(&store).await, 0, "nothing of a refused batch is written");
}

#[tokio::test]
async fn refusals_name_the_reason() {
    let store = new_store();
    let cli = TestClient::new(app(store.clone()));
    let event = events_json().remove(0);
    let cases: Vec<(Value, &str)> = vec![
        (
            {
                let mut e = event.clone();
                e["type"] = json!("com.example.other");
                e
            },
            "unsupported event type `com.example.other`",
        ),
        (
            {
                let mut e = event.clone();
                e.as_object_mut().unwrap().remove("data");
                e
            },
            "has no data",
        ),
        (
            {
                let mut e = event.clone();
                e["data"]["surprise"] = json!(1);
                e
            },
            "unknown field `surprise`",
        ),
        (
            {
                let mut e = event.clone();
                e["data"]["kind"] = json!("TaskRun");
                e
            },
            "type says PipelineRun but data.kind is TaskRun",
        ),
        (
            {
                let mut e = event.clone();
                e["data"]["schemaVersion"] = json!(99);
                e
            },
            "unsupported fact schemaVersion 99",
        ),
        (
            {
                let mut e = event.clone();
                e["data"]["name"] = json!("");
                e
            },
            "name \"\" is empty",
        ),
        (
            {
                // The issue's hostile fact: a REPO_COMMIT of `abcdefgé` once panicked a lineage query.
                let mut e = event.clone();
                e["data"]["supplyChain"] =
                    json!({ "source": { "repositoryUrl": "https://github.com/o/r", "commitSha": "abcdefgé" } });
                e
            },
            "supplyChain.source.commitSha \"abcdefgé\" is not a commit id",
        ),
        (
            {
                let mut e = event.clone();
                e["data"]["namespace"] = json!("Ci/../x");
                e
            },
            "namespace \"Ci/../x\" is not a name ('/' is not allowed)",
        ),
    ];
    for (body, expected) in cases {
        let resp = cli
            .post("/events")
            .content_type(STRUCTURED_CONTENT_TYPE)
            .body(serde_json::to_vec(&body).unwrap())
            .send()
            .await;
        resp.assert_status(StatusCode::BAD_REQUEST);
        let text = resp.0.into_body().into_string().await.unwrap();
        assert!(text.contains(expected), "expected `{expected}` in `{text}`");
    }
    let resp = cli.post("/events").content_type(BATCH_CONTENT_TYPE).body("{oops").send().await;
    resp.assert_status(StatusCode::BAD_REQUEST);
    let text = resp.0.into_body().into_string().await.unwrap();
    assert!(text.contains("batch body is not a JSON array"), "{text}");
    let resp = cli.post("/events").content_type("text/plain").body("hello").send().await;
    resp.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(run_count(&store).await, 0);
}

#[tokio::test]
async fn graphql_graphiql_and_health() {
    let store = new_store();
    store.apply(&support::seed_facts()).await.unwrap();
    let cli = TestClient::new(app(store));
    let resp = cli
        .post("/graphql")
        .content_type("application/json")
        .body(json!({"query": "{ stats { pipelineRuns taskRuns } }"}).to_string())
        .send()
        .await;
    resp.assert_status_is_ok();
    resp.assert_json(json!({"data": {"stats": {"pipelineRuns": 9, "taskRuns": 18}}})).await;

    let resp = cli.get("/graphql").send().await;
    resp.assert_status_is_ok();
    let html = resp.0.into_body().into_string().await.unwrap();
    assert!(html.contains("graphiql"), "GraphiQL page expected");

    let resp = cli.get("/healthz").send().await;
    resp.assert_status_is_ok();
    let body: Value = serde_json::from_str(&resp.0.into_body().into_string().await.unwrap()).unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["auth"], "off", "{body}");
    assert!(body.get("counts").is_none(), "liveness makes no store call: {body}");
    let resp = cli.get("/readyz").send().await;
    resp.assert_status_is_ok();
}
