//! `GET /metrics`: what graph-service counts, in Prometheus' text format as Prometheus' own `promtool check metrics`
//! accepts it, behind authentication (`viewer`). Facts in by source and outcome, batch sizes, store latency by
//! engine, GraphQL latency by operation name. The queue sources' counts (dead-lettered, lag) are checked against
//! real brokers in `kafka.rs` and `amqp.rs`.

mod support;

use std::sync::Arc;

use graph_service::auth::{Authenticator, StaticTokens};
use graph_service::ingest::Ingestor;
use graph_service::model::ProjectionConfig;
use graph_service::server::{AppConfig, app_with_config};
use graph_service::store::GraphStore;
use graph_service::store::embedded::EmbeddedStore;
use poem::http::StatusCode;
use poem::test::TestClient;
use serde_json::json;
use tekton_graph_schema::envelope::{BATCH_CONTENT_TYPE, to_cloudevent};
use tekton_graph_telemetry::testing::{promtool_check, sample, value};

const VIEWER: &str = "Bearer viewer-token-0123456789abcdef";
const INGESTER: &str = "Bearer ingester-token-0123456789abcdef";

fn client() -> TestClient<impl poem::Endpoint> {
    let tokens = StaticTokens::parse(
        "viewer-token-0123456789abcdef viewer ops\ningester-token-0123456789abcdef ingester harvester\n",
    )
    .expect("tokens");
    let authenticator = Authenticator { tokens: Some(tokens), ..Authenticator::default() };
    let store: Arc<dyn GraphStore> = Arc::new(EmbeddedStore::in_memory(ProjectionConfig::default()));
    let config = AppConfig { authenticator: Some(Arc::new(authenticator)), ..AppConfig::default() };
    TestClient::new(app_with_config(Arc::new(Ingestor::new(store)), config))
}

async fn post(cli: &TestClient<impl poem::Endpoint>, body: Vec<u8>) -> StatusCode {
    let resp =
        cli.post("/events").header("authorization", INGESTER).content_type(BATCH_CONTENT_TYPE).body(body).send().await;
    resp.0.status()
}

async fn graphql(cli: &TestClient<impl poem::Endpoint>, body: serde_json::Value) {
    let resp = cli
        .post("/graphql")
        .header("authorization", VIEWER)
        .content_type("application/json")
        .body(body.to_string())
        .send()
        .await;
    resp.assert_status_is_ok();
}

async fn scrape(cli: &TestClient<impl poem::Endpoint>, authorization: Option<&str>) -> (StatusCode, String) {
    let mut req = cli.get("/metrics");
    if let Some(value) = authorization {
        req = req.header("authorization", value);
    }
    let resp = req.send().await;
    let status = resp.0.status();
    (status, resp.0.into_body().into_string().await.expect("body"))
}

#[tokio::test]
async fn metrics_count_ingest_and_graphql_and_need_a_viewer() {
    let cli = client();
    let facts = support::seed_facts();
    let events: Vec<_> = facts.iter().map(|f| to_cloudevent(f).expect("event")).collect();
    let batch = serde_json::to_vec(&events).expect("json");

    assert_eq!(post(&cli, batch.clone()).await, StatusCode::ACCEPTED);
    assert_eq!(post(&cli, batch).await, StatusCode::ACCEPTED, "the same facts again: unchanged");
    assert_eq!(post(&cli, b"[{\"not\": \"an event\"}]".to_vec()).await, StatusCode::BAD_REQUEST);
    graphql(&cli, json!({ "query": "query RunsPage { stats { pipelineRuns } }", "operationName": "RunsPage" })).await;
    graphql(&cli, json!({ "query": "{ stats { taskRuns } }" })).await;

    let (status, _) = scrape(&cli, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "metrics need authentication");
    let (status, _) = scrape(&cli, Some(INGESTER)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an ingester does not read");
    let (status, text) = scrape(&cli, Some(VIEWER)).await;
    assert_eq!(status, StatusCode::OK);
    promtool_check(&text).unwrap();

    let n = facts.len() as f64;
    let events = "tekton_graph_service_events_total";
    assert_eq!(value(&text, events, r#"source="http",outcome="applied""#), n);
    assert_eq!(value(&text, events, r#"source="http",outcome="unchanged""#), n);
    assert_eq!(value(&text, events, r#"source="http",outcome="rejected""#), 1.0);
    assert_eq!(value(&text, "tekton_graph_service_batch_facts_count", r#"source="http""#), 2.0);
    assert_eq!(value(&text, "tekton_graph_service_batch_facts_sum", r#"source="http""#), 2.0 * n);
    assert_eq!(value(&text, "tekton_graph_service_store_apply_duration_seconds_count", r#"engine="embedded""#), 2.0);
    assert!(sample(&text, "tekton_graph_service_store_apply_failures_total", r#"engine="embedded""#).is_none());
    let graphql = "tekton_graph_service_graphql_request_duration_seconds_count";
    assert_eq!(value(&text, graphql, r#"operation="RunsPage""#), 1.0);
    assert_eq!(value(&text, graphql, r#"operation="anonymous""#), 1.0);
}
