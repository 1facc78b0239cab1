//! The HTTP edge: oversized, deep, aliased, complex and batched GraphQL requests are refused with the limit they
//! broke; a full server answers 503 with Retry-After; a slow request meets its deadline; introspection and
//! GraphiQL can be turned off.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use graph_service::edge::{EdgeConfig, EdgeLimits, GraphqlLimits};
use graph_service::ingest::Ingestor;
use graph_service::model::ProjectionConfig;
use graph_service::server::{AppConfig, app_with_config};
use graph_service::store::GraphStore;
use graph_service::store::embedded::EmbeddedStore;
use poem::http::StatusCode;
use poem::test::TestClient;
use serde_json::{Value, json};
use tekton_graph_schema::envelope::STRUCTURED_CONTENT_TYPE;

async fn client(edge: EdgeConfig) -> TestClient<impl poem::Endpoint> {
    let store: Arc<dyn GraphStore> = Arc::new(EmbeddedStore::in_memory(ProjectionConfig::default()));
    store.apply(&support::seed_facts()).await.expect("seed");
    let config = AppConfig { edge, ..AppConfig::default() };
    TestClient::new(app_with_config(Arc::new(Ingestor::new(store)), config))
}

async fn post(cli: &TestClient<impl poem::Endpoint>, body: String) -> (StatusCode, Value) {
    let resp = cli.post("/graphql").content_type("application/json").body(body).send().await;
    let status = resp.0.status();
    let text = resp.0.into_body().into_string().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or_else(|_| json!({ "text": text })))
}

fn first_error(answer: &Value) -> String {
    answer["errors"][0]["message"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn oversized_deep_aliased_and_complex_queries_are_refused() {
    let cli = client(EdgeConfig::default()).await;
    let limits = GraphqlLimits::default();

    // A body over the limit: 413, without reading it all.
    let huge = json!({ "query": format!("{{ stats {{ pipelineRuns }} }} #{}", "x".repeat(limits.max_body_bytes)) });
    let (status, answer) = post(&cli, huge.to_string()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert!(first_error(&answer).contains("larger than"), "{answer}");

    // Deeper than the limit.
    let deep = format!(
        "{{ pipelineRun(namespace: \"idec\", name: \"x\") {{ {} name {} }} }}",
        "previous {".repeat(limits.max_depth),
        "}".repeat(limits.max_depth)
    );
    let (_, answer) = post(&cli, json!({ "query": deep }).to_string()).await;
    assert!(first_error(&answer).contains("nested too deep"), "{answer}");

    // The attack: 300 aliased lists of 1000 runs.
    let aliased: String =
        (0..300).map(|i| format!("a{i}: pipelineRuns(first: 1000) {{ edges {{ node {{ name }} }} }} ")).collect();
    let (_, answer) = post(&cli, json!({ "query": format!("{{ {aliased} }}") }).to_string()).await;
    assert!(first_error(&answer).contains("300 aliases; at most 32"), "{answer}");

    // One list of 1000 runs with their commits and images: `first` counts in the complexity.
    let complex = "{ pipelineRuns(first: 1000) { edges { node { name status commit { sha author title } images { digest repository } scans { critical high } previous { name } } } } }";
    let (_, answer) = post(&cli, json!({ "query": complex }).to_string()).await;
    assert!(first_error(&answer).contains("too complex"), "{answer}");
    // Ten aliases (within their limit) of such lists: refused by complexity.
    let ten: String =
        (0..10).map(|i| format!("a{i}: pipelineRuns(first: 1000) {{ edges {{ node {{ name }} }} }} ")).collect();
    let (_, answer) = post(&cli, json!({ "query": format!("{{ {ten} }}") }).to_string()).await;
    assert!(first_error(&answer).contains("too complex"), "{answer}");
    // The same with first: 20 is fine.
    let (status, answer) = post(&cli, json!({ "query": complex.replace("1000", "20") }).to_string()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(answer["errors"].is_null(), "{answer}");
}

#[tokio::test]
async fn batches_are_bounded() {
    let cli = client(EdgeConfig::default()).await;
    let one = json!({ "query": "{ stats { pipelineRuns } }" });
    let (status, answer) = post(&cli, json!([one, one]).to_string()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer.as_array().map(Vec::len), Some(2), "{answer}");
    let many: Vec<Value> = (0..11).map(|_| one.clone()).collect();
    let (status, answer) = post(&cli, json!(many).to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(first_error(&answer).contains("11 operations; from 1 to 10"), "{answer}");
    let (status, answer) = post(&cli, "[]".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (status, answer) = post(&cli, "{not json".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(first_error(&answer).contains("not a GraphQL request"), "{answer}");
}

#[tokio::test]
async fn introspection_and_graphiql_can_be_turned_off() {
    let on = client(EdgeConfig::default()).await;
    let (_, answer) = post(&on, json!({ "query": "{ __schema { queryType { name } } }" }).to_string()).await;
    assert_eq!(answer["data"]["__schema"]["queryType"]["name"], "QueryRoot", "{answer}");
    on.get("/graphql").send().await.assert_status_is_ok();

    let limits = GraphqlLimits { introspection: false, graphiql: false, ..GraphqlLimits::default() };
    let off = client(EdgeConfig { graphql: limits, ..EdgeConfig::default() }).await;
    let (_, answer) = post(&off, json!({ "query": "{ __schema { queryType { name } } }" }).to_string()).await;
    assert!(answer["data"]["__schema"].is_null(), "introspection answers nothing: {answer}");
    off.get("/graphql").send().await.assert_status(StatusCode::NOT_FOUND);
    // Ordinary queries still work.
    let (_, answer) = post(&off, json!({ "query": "{ stats { pipelineRuns } }" }).to_string()).await;
    assert!(answer["data"]["stats"]["pipelineRuns"].is_number(), "{answer}");
}

/// A request body that arrives only when told to: holds its request (and its permit) open.
fn held_body() -> (tokio::sync::mpsc::Sender<Vec<u8>>, poem::Body) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(1);
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (Ok::<_, std::io::Error>(chunk), rx))
    });
    (tx, poem::Body::from_bytes_stream(stream))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_answers_503_with_retry_after() {
    let edge = EdgeConfig {
        http: EdgeLimits { max_concurrent: 1, request_timeout: Duration::from_secs(30) },
        ..EdgeConfig::default()
    };
    let cli = Arc::new(client(edge).await);
    let hold = |cli: Arc<TestClient<_>>| {
        let (tx, body) = held_body();
        let task = tokio::spawn(async move {
            let resp = cli.post("/events").content_type(STRUCTURED_CONTENT_TYPE).body(body).send().await;
            resp.0.status()
        });
        (tx, task)
    };
    let (mut tx, mut holder) = hold(cli.clone());
    // Wait until the held request has the only permit: then every other request is refused at once. (Should a
    // probe have had the permit at the moment the held request arrived, that one was refused: hold another.)
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let resp = cli.get("/healthz").send().await;
        if resp.0.status() == StatusCode::SERVICE_UNAVAILABLE {
            break resp;
        }
        if holder.is_finished() {
            assert_eq!((&mut holder).await.expect("join"), StatusCode::SERVICE_UNAVAILABLE, "refused, not served");
            (tx, holder) = hold(cli.clone());
        }
        assert!(Instant::now() < deadline, "the server never reported itself full");
        tokio::task::yield_now().await;
    };
    assert_eq!(refused.0.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    // Release the held request (a bad event: 400), and the server takes requests again.
    tx.send(b"{}".to_vec()).await.expect("send");
    drop(tx);
    assert_eq!(holder.await.expect("join"), StatusCode::BAD_REQUEST);
    cli.get("/healthz").send().await.assert_status_is_ok();
}

#[tokio::test]
async fn a_request_past_its_deadline_is_answered_503() {
    let edge = EdgeConfig {
        http: EdgeLimits { max_concurrent: 8, request_timeout: Duration::from_millis(300) },
        ..EdgeConfig::default()
    };
    let cli = client(edge).await;
    let (_tx, body) = held_body(); // never completes
    let started = Instant::now();
    let resp = cli.post("/events").content_type(STRUCTURED_CONTENT_TYPE).body(body).send().await;
    resp.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() >= Duration::from_millis(300), "answered at the deadline, not before");
    let text = resp.0.into_body().into_string().await.expect("body");
    assert!(text.contains("took longer than"), "{text}");
}
