//! Shared test support: fixture facts, the list of engines every conformance test runs against, and GraphQL
//! helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use graph_service::api::{GraphSchema, build_schema};
use graph_service::model::ProjectionConfig;
use graph_service::store::GraphStore;
use graph_service::store::embedded::EmbeddedStore;
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

/// One engine under test. Holds what must outlive the store (a temp dir).
pub struct Engine {
    pub name: &'static str,
    pub store: Arc<dyn GraphStore>,
    _dir: Option<tempfile::TempDir>,
}

/// Every engine the conformance suite runs against. The Neo4j engine joins this list.
pub fn engines(config: ProjectionConfig) -> Vec<Engine> {
    let dir = tempfile::tempdir().expect("temp dir");
    let durable = EmbeddedStore::open(dir.path(), config.clone()).expect("open embedded store");
    vec![
        Engine { name: "embedded-memory", store: Arc::new(EmbeddedStore::in_memory(config)), _dir: None },
        Engine { name: "embedded-redb", store: Arc::new(durable), _dir: Some(dir) },
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
