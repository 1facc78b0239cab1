//! Two callers scoped to different namespaces, through the whole HTTP surface: GraphQL, the web UI's pages and its
//! live updates answer each with their own part of the graph, and a run outside a caller's scope answers exactly as
//! a run that does not exist.

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use graph_service::auth::{Authenticator, Policy, StaticTokens};
use graph_service::ingest::Ingestor;
use graph_service::model::ProjectionConfig;
use graph_service::server::{AppConfig, app_with_config};
use graph_service::store::GraphStore;
use graph_service::store::embedded::EmbeddedStore;
use poem::http::StatusCode;
use poem::test::TestClient;
use serde_json::{Value, json};
use tekton_graph_schema::envelope::{STRUCTURED_CONTENT_TYPE, to_cloudevent};
use tekton_graph_schema::{RunFact, RunKind};

const ALICE: &str = "Bearer alice-token-0123456789abcdef";
const BOB: &str = "Bearer bob-token-0123456789abcdef";
const HARVESTER: &str = "Bearer harvester-token-0123456789abcdef";

const POLICY: &str = r#"
rules:
  - subject: alice
    role: viewer
    namespaces: [idec]
  - subject: bob
    role: viewer
    namespaces: [payments]
"#;

/// The seed scenario in `idec`, and the same runs again in `payments`.
fn facts() -> Vec<RunFact> {
    let seed = support::seed_facts();
    let copies = seed.iter().cloned().map(|mut f| {
        f.namespace = "payments".into();
        f
    });
    seed.iter().cloned().chain(copies).collect()
}

async fn client() -> (TestClient<impl poem::Endpoint>, Arc<dyn GraphStore>) {
    let store: Arc<dyn GraphStore> = Arc::new(EmbeddedStore::in_memory(ProjectionConfig::default()));
    store.apply(&facts()).await.expect("seed");
    let tokens = StaticTokens::parse(&format!(
        "{} viewer alice\n{} viewer bob\n{} ingester harvester\n",
        &ALICE[7..],
        &BOB[7..],
        &HARVESTER[7..]
    ))
    .expect("tokens");
    let authenticator =
        Authenticator { tokens: Some(tokens), policy: Policy::parse(POLICY).expect("policy"), ..Default::default() };
    let config = AppConfig { authenticator: Some(Arc::new(authenticator)), ..AppConfig::default() };
    (TestClient::new(app_with_config(Arc::new(Ingestor::new(store.clone())), config)), store)
}

async fn graphql(cli: &TestClient<impl poem::Endpoint>, who: &str, q: &str) -> Value {
    let resp = cli
        .post("/graphql")
        .header("authorization", who)
        .content_type("application/json")
        .body(json!({ "query": q }).to_string())
        .send()
        .await;
    resp.assert_status_is_ok();
    let body: Value = serde_json::from_str(&resp.0.into_body().into_string().await.expect("body")).expect("json");
    assert!(body.get("errors").is_none(), "{q}: {body}");
    body["data"].clone()
}

async fn page(cli: &TestClient<impl poem::Endpoint>, who: &str, path: &str) -> (StatusCode, String) {
    let resp = cli.get(path).header("authorization", who).send().await;
    let status = resp.0.status();
    (status, resp.0.into_body().into_string().await.expect("body"))
}

const LIST: &str = "{ pipelineRuns(first: 100) { edges { node { namespace name } } } stats { pipelineRuns nodes } }";

#[tokio::test]
async fn two_callers_see_their_own_namespace_everywhere() {
    let (cli, _store) = client().await;
    let seed_runs = support::seed_facts().iter().filter(|f| f.kind == RunKind::PipelineRun).count();
    for (who, own) in [(ALICE, "idec"), (BOB, "payments")] {
        let data = graphql(&cli, who, LIST).await;
        let namespaces: Vec<&str> = data["pipelineRuns"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| e["node"]["namespace"].as_str().expect("namespace"))
            .collect();
        assert_eq!(namespaces.len(), seed_runs, "{own}: {data}");
        assert!(namespaces.iter().all(|ns| *ns == own), "{own}: {namespaces:?}");
        assert_eq!(data["stats"]["pipelineRuns"], seed_runs, "counts are scoped");
        assert!(data["stats"]["nodes"].is_null(), "no whole-graph counts for a scoped caller");
    }

    // A run of the other namespace is answered as a run that does not exist: GraphQL null, the same 404 page.
    let name = support::seed_facts().into_iter().find(|f| f.kind == RunKind::PipelineRun).expect("a run").name;
    let q = format!(r#"{{ pipelineRun(namespace: "payments", name: "{name}") {{ name }} }}"#);
    assert_eq!(graphql(&cli, BOB, &q).await["pipelineRun"]["name"], name.as_str());
    assert!(graphql(&cli, ALICE, &q).await["pipelineRun"].is_null());
    let (hidden_status, hidden) = page(&cli, ALICE, &format!("/runs/payments/{name}")).await;
    let (missing_status, missing) = page(&cli, ALICE, &format!("/runs/payments/{name}-gone")).await;
    assert_eq!(hidden_status, StatusCode::NOT_FOUND);
    assert_eq!((hidden_status, hidden), (missing_status, missing.replace(&format!("{name}-gone"), &name)));
    let (status, own) = page(&cli, BOB, &format!("/runs/payments/{name}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(own.contains(&name));

    // The Runs page lists only the caller's runs.
    let (_, home) = page(&cli, ALICE, "/").await;
    assert!(home.contains("/runs/idec/") && !home.contains("/runs/payments/"), "alice's home page");
}

/// The next `runs` event of an SSE stream, as JSON.
async fn next_runs_event<B: AsRef<[u8]>>(
    stream: &mut (impl futures::Stream<Item = std::io::Result<B>> + Unpin),
) -> Value {
    let mut text = String::new();
    loop {
        if let Some(start) = text.find("event: runs\n") {
            let rest = &text[start..];
            if let Some(end) = rest.find("\n\n") {
                let data = rest[..end].lines().find_map(|l| l.strip_prefix("data: ")).expect("data line");
                return serde_json::from_str(data).expect("json");
            }
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("an event within 10 s")
            .expect("the stream goes on")
            .expect("bytes");
        text.push_str(&String::from_utf8_lossy(chunk.as_ref()));
    }
}

#[tokio::test]
async fn live_updates_announce_only_the_callers_runs() {
    let (cli, _store) = client().await;
    let open = |who: &'static str| {
        let cli = &cli;
        async move {
            let resp = cli.get("/ui/live").header("authorization", who).send().await;
            resp.assert_status_is_ok();
            resp.0.into_body().into_bytes_stream().boxed()
        }
    };
    let mut alice = open(ALICE).await;
    let mut bob = open(BOB).await;
    let post = |namespace: &str, name: &str| {
        let mut fact = support::seed_facts().remove(0);
        fact.namespace = namespace.into();
        fact.name = name.into();
        serde_json::to_vec(&to_cloudevent(&fact).expect("event")).expect("json")
    };
    // Bob's run first: alice's stream must skip it, and her first event is her own run.
    for (namespace, name) in [("payments", "bobs-new-run"), ("idec", "alices-new-run")] {
        cli.post("/events")
            .header("authorization", HARVESTER)
            .content_type(STRUCTURED_CONTENT_TYPE)
            .body(post(namespace, name))
            .send()
            .await
            .assert_status(StatusCode::ACCEPTED);
    }
    let names = |event: &Value| -> Vec<String> {
        event.as_array().expect("a list").iter().map(|r| format!("{}/{}", r["namespace"], r["name"])).collect()
    };
    assert_eq!(names(&next_runs_event(&mut alice).await), [r#""idec"/"alices-new-run""#]);
    assert_eq!(names(&next_runs_event(&mut bob).await), [r#""payments"/"bobs-new-run""#]);
}
