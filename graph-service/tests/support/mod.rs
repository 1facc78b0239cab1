//! Shared test support: fixture facts, the list of engines every conformance test runs against, and GraphQL
//! helpers.
#![allow(dead_code)]

pub mod crash;
pub mod faulty;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use graph_service::api::{GraphSchema, build_schema};
use graph_service::model::ProjectionConfig;
use graph_service::store::GraphStore;
use graph_service::store::embedded::EmbeddedStore;
use graph_service::store::neo4j::{Neo4jConfig, Neo4jStore};
use serde_json::Value;
use tekton_graph_schema::RunFact;

pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

/// Facts translated from one fixture file (relative to testdata/).
pub fn fixture_facts(relative: &str) -> Vec<RunFact> {
    let path = testdata().join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut facts = Vec::new();
    for doc in tekton_translate::parse_documents(&text) {
        let doc = doc.unwrap_or_else(|e| panic!("{relative}: {e}"));
        facts.extend(tekton_translate::translate_value(&doc).unwrap_or_else(|e| panic!("{relative}: {e}")));
    }
    facts
}

pub const SEED: &str = "seed-conventions/list-v1-idec-builds-scans-rerun.json";

pub fn seed_facts() -> Vec<RunFact> {
    fixture_facts(SEED)
}

/// The fact of one CDEvent fixture (`testdata/cdevents/NAME`), decoded as graph-service decodes the structured
/// CloudEvent that carries it.
pub fn cdevent_fact(name: &str) -> RunFact {
    let path = testdata().join("cdevents").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cdevent: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let context = &cdevent["context"];
    let event = serde_json::json!([{
        "specversion": "1.0", "id": context["id"], "type": context["type"], "source": context["source"],
        "datacontenttype": "application/json", "data": cdevent,
    }]);
    let body = serde_json::to_vec(&event).expect("JSON");
    let decoded = graph_service::ingest::decode::decode_batch(&body, Default::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let [fact] = <[RunFact; 1]>::try_from(decoded.facts).unwrap_or_else(|f| panic!("{name}: {} facts", f.len()));
    fact
}

/// Facts from every Tekton fixture (all of testdata/tekton and the seed scenario).
pub fn all_fixture_facts() -> Vec<RunFact> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(testdata().join("tekton"))
        .expect("testdata/tekton")
        .map(|e| e.expect("dir entry").path())
        .collect();
    files.sort();
    let mut facts = seed_facts();
    for file in files {
        let relative = format!("tekton/{}", file.file_name().and_then(|n| n.to_str()).expect("utf-8 name"));
        facts.extend(fixture_facts(&relative));
    }
    facts
}

/// One engine under test. Holds what must outlive the store: a temp dir, or the lock on the shared Neo4j.
pub struct Engine {
    pub name: &'static str,
    pub store: Arc<dyn GraphStore>,
    _dir: Option<tempfile::TempDir>,
    _neo4j: Option<tokio::sync::OwnedMutexGuard<()>>,
}

/// Neo4j settings from the environment that `scripts/services.sh env` prints. The suite needs a real Neo4j: a
/// missing one fails the test instead of skipping it.
pub fn neo4j_settings() -> Neo4jConfig {
    let uri = std::env::var("NEO4J_URI").unwrap_or_else(|_| {
        panic!(
            "NEO4J_URI is not set: the conformance suite runs against a real Neo4j. Start the engines with \
             `scripts/services.sh up` and `eval \"$(scripts/services.sh env)\"`, or run `bash scripts/test.sh`"
        )
    });
    Neo4jConfig {
        uri,
        user: std::env::var("NEO4J_USER").unwrap_or_else(|_| "neo4j".into()),
        password: std::env::var("NEO4J_PASSWORD").expect("NEO4J_PASSWORD must be set with NEO4J_URI"),
        database: None,
        max_connections: 4,
        ca_file: None,
    }
}

/// Community edition has one user database, so tests take turns on it (within a test binary; cargo runs test
/// binaries one after another).
fn neo4j_turn() -> Arc<tokio::sync::Mutex<()>> {
    static TURN: std::sync::OnceLock<Arc<tokio::sync::Mutex<()>>> = std::sync::OnceLock::new();
    TURN.get_or_init(|| Arc::new(tokio::sync::Mutex::new(()))).clone()
}

/// A Neo4j store on an emptied database, held exclusively until the returned engine is dropped.
pub async fn neo4j_engine(config: ProjectionConfig) -> Engine {
    let guard = neo4j_turn().lock_owned().await;
    let store = Neo4jStore::connect(&neo4j_settings(), config).await.expect("connect to Neo4j");
    store.clear().await.expect("clear Neo4j");
    Engine { name: "neo4j", store: Arc::new(store), _dir: None, _neo4j: Some(guard) }
}

/// Every engine the conformance suite runs against.
pub async fn engines(config: ProjectionConfig) -> Vec<Engine> {
    let dir = tempfile::tempdir().expect("temp dir");
    let durable = EmbeddedStore::open(dir.path(), config.clone()).expect("open embedded store");
    vec![
        Engine {
            name: "embedded-memory",
            store: Arc::new(EmbeddedStore::in_memory(config.clone())),
            _dir: None,
            _neo4j: None,
        },
        Engine { name: "embedded-redb", store: Arc::new(durable), _dir: Some(dir), _neo4j: None },
        neo4j_engine(config).await,
    ]
}

/// Runs a GraphQL query and returns its data, failing the test on any GraphQL error.
pub async fn query(schema: &GraphSchema, q: &str) -> Value {
    let response = schema.execute(q).await;
    assert!(response.errors.is_empty(), "query {q} failed: {:?}", response.errors);
    response.data.into_json().expect("data as JSON")
}

/// Runs a GraphQL query that must fail, returning the first error message.
pub async fn query_error(schema: &GraphSchema, q: &str) -> String {
    let response = schema.execute(q).await;
    assert!(!response.errors.is_empty(), "query {q} should fail");
    response.errors[0].message.clone()
}

pub fn schema(store: &Arc<dyn GraphStore>) -> GraphSchema {
    build_schema(store.clone())
}

/// A digest of everything a store answers about its runs: every run's newest observation (its order key), and
/// every edge touching a run or a node next to one. Equal fingerprints mean equal graphs, whatever the engine.
pub async fn fingerprint(store: &dyn GraphStore) -> (graph_service::store::StoreCounts, String) {
    use graph_service::model::{Edge, EdgeKind, NodeId};
    use graph_service::store::{RunFilter, RunPosition};
    use sha2::{Digest, Sha256};
    use std::collections::BTreeSet;

    let mut run_ids: BTreeSet<NodeId> = BTreeSet::new();
    let mut after: Option<RunPosition> = None;
    loop {
        let page = store.pipeline_runs(&RunFilter::default(), after.as_ref(), 1000).await.expect("list runs");
        after = page.runs.last().map(|(p, _)| p.clone());
        run_ids.extend(page.runs.iter().map(|(_, k)| NodeId::run(k)));
        if !page.has_next {
            break;
        }
    }
    let ids: Vec<NodeId> = run_ids.iter().cloned().collect();
    let mut edges: BTreeSet<Edge> = BTreeSet::new();
    for chunk in ids.chunks(1000) {
        edges.extend(store.edges(chunk, Some(&[EdgeKind::PartOf])).await.expect("edges"));
    }
    run_ids.extend(edges.iter().filter_map(|e| e.from.run_key().map(|k| NodeId::run(&k))));
    let mut visited: BTreeSet<NodeId> = BTreeSet::new();
    let mut frontier: Vec<NodeId> = run_ids.iter().cloned().collect();
    for _ in 0..2 {
        visited.extend(frontier.iter().cloned());
        let mut next: BTreeSet<NodeId> = BTreeSet::new();
        for chunk in frontier.chunks(1000) {
            for edge in store.edges(chunk, None).await.expect("edges") {
                for end in [&edge.from, &edge.to] {
                    if !visited.contains(end) {
                        next.insert(end.clone());
                    }
                }
                edges.insert(edge);
            }
        }
        frontier = next.into_iter().collect();
    }
    let mut hasher = Sha256::new();
    let keys: Vec<_> = run_ids.iter().filter_map(|id| id.run_key()).collect();
    for chunk in keys.chunks(1000) {
        for (key, fact) in chunk.iter().zip(store.facts(chunk).await.expect("facts")) {
            let observation = fact.map(|f| f.observation_key()).unwrap_or_default();
            hasher.update(format!("run {key} {observation}\n"));
        }
    }
    for edge in &edges {
        hasher.update(format!("edge {} {} {}\n", edge.from, edge.kind.as_str(), edge.to));
    }
    let counts = store.counts().await.expect("counts");
    (counts, hex::encode(hasher.finalize()))
}

/// A setting the test engines export (`eval "$(scripts/services.sh env)"`): missing fails the test, never skips it.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/services.sh up, then eval its env"))
}

/// An id token from Dex by the password grant.
pub async fn dex_token(user: &str) -> String {
    let issuer = env("DEX_ISSUER");
    let response = reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .basic_auth(env("DEX_CLIENT_ID"), Some(env("DEX_CLIENT_SECRET")))
        .form(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", &env("DEX_PASSWORD")),
            ("scope", "openid email groups profile"),
        ])
        .send()
        .await
        .expect("Dex answers");
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert!(status.is_success(), "Dex refused the password grant for {user}: {body}");
    body["id_token"].as_str().expect("an id_token").to_string()
}
