//! Neo4j ingest rate of our store against a raw baseline, measured in the same run on the same rows.
//!
//! ```sh
//! scripts/services.sh up && eval "$(scripts/services.sh env)"
//! cargo bench -p graph-service --bench neo4j_ingest                         # 5000 builds ≈ 60k facts
//! BENCH_PIPELINE_RUNS=500 cargo bench -p graph-service --bench neo4j_ingest  # smoke
//! ```
//!
//! * **raw**: the rows our store would write for these facts (`rows_for_new_runs`), written by a minimal client
//!   with plain `UNWIND $rows … MERGE` statements, one transaction per batch — no locking, no reading of stored
//!   observations, no contribution bookkeeping.
//! * **ours**: `Neo4jStore::apply` on the same facts in the same batches (lock + read stored observations, keep
//!   the newer, upsert runs, add edge contributions), one transaction per batch.
//! * **ours, replayed**: the same facts again (every fact is now a duplicate: locked, read, and ignored).
//!
//! Both start from an emptied database with the schema applied. Prints facts/s and the ratio ours/raw.
//! Environment: `BENCH_PIPELINE_RUNS` (5000), `BENCH_BATCH` (500), `BENCH_ROUNDS` (3, best round reported),
//! `NEO4J_URI`, `NEO4J_USER`, `NEO4J_PASSWORD`.

use std::time::{Duration, Instant};

use graph_service::model::ProjectionConfig;
use graph_service::store::GraphStore;
use graph_service::store::neo4j::{Neo4jConfig, Neo4jStore, rows_for_new_runs};
use neo4rs::{BoltType, Query};
use serde_json::{Value, json};
use tekton_generate::{GenerateConfig, generate};
use tekton_graph_schema::RunFact;

const RAW_RUNS: &str = "UNWIND $rows AS row
MERGE (r:Node {id: row.id})
SET r:$(row.label)
SET r += row.props
SET r.observation = row.observation, r.fact = row.fact";

const RAW_EDGES: &str = "UNWIND $rows AS row
MERGE (a:Node {id: row.from}) ON CREATE SET a += row.fromProps
SET a:$(row.fromLabel)
MERGE (b:Node {id: row.to}) ON CREATE SET b += row.toProps
SET b:$(row.toLabel)
MERGE (a)-[e:$(row.kind)]->(b)
SET e.count = coalesce(e.count, 0) + row.n";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn settings() -> Neo4jConfig {
    Neo4jConfig {
        uri: std::env::var("NEO4J_URI")
            .expect("NEO4J_URI (run scripts/services.sh up; eval \"$(scripts/services.sh env)\")"),
        user: std::env::var("NEO4J_USER").unwrap_or_else(|_| "neo4j".into()),
        password: std::env::var("NEO4J_PASSWORD").expect("NEO4J_PASSWORD"),
        database: None,
        max_connections: 4,
    }
}

fn facts(builds: usize) -> Vec<RunFact> {
    let config = GenerateConfig { pipeline_runs: builds, ..GenerateConfig::default() };
    generate(&config)
        .flat_map(|object| tekton_translate::translate_value(&object).expect("generated objects translate"))
        .collect()
}

fn bolt(rows: Vec<Value>) -> BoltType {
    BoltType::try_from(Value::Array(rows)).expect("rows convert to Bolt")
}

async fn raw(store: &Neo4jStore, facts: &[RunFact], batch: usize) -> Duration {
    let config = ProjectionConfig::default();
    let batches: Vec<(Vec<Value>, Vec<Value>)> = facts.chunks(batch).map(|c| rows_for_new_runs(c, &config)).collect();
    let start = Instant::now();
    for (runs, edges) in batches {
        let mut txn = store.graph().start_txn().await.expect("txn");
        txn.run(Query::new(RAW_RUNS.into()).param("rows", bolt(runs))).await.expect("raw runs");
        txn.run(Query::new(RAW_EDGES.into()).param("rows", bolt(edges))).await.expect("raw edges");
        txn.commit().await.expect("commit");
    }
    start.elapsed()
}

async fn ours(store: &Neo4jStore, facts: &[RunFact], batch: usize) -> Duration {
    let start = Instant::now();
    for chunk in facts.chunks(batch) {
        store.apply(chunk).await.expect("apply");
    }
    start.elapsed()
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

#[tokio::main]
async fn main() {
    // RUST_LOG=graph_service=debug shows where each apply spends its time.
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let builds = env_usize("BENCH_PIPELINE_RUNS", 5000);
    let batch = env_usize("BENCH_BATCH", 500);
    let rounds = env_usize("BENCH_ROUNDS", 3);
    let facts = facts(builds);
    if let Ok(path) = std::env::var("BENCH_DUMP_ROWS") {
        // The rows of the first batch, for profiling the statements by hand (PROFILE in Neo4j Browser).
        let (runs, edges) = rows_for_new_runs(&facts[..batch.min(facts.len())], &ProjectionConfig::default());
        std::fs::write(&path, json!({ "runs": runs, "edges": edges }).to_string()).expect("write rows");
    }
    let store = Neo4jStore::connect(&settings(), ProjectionConfig::default()).await.expect("connect");
    println!("neo4j ingest: {} facts from {builds} builds, batches of {batch}, best of {rounds} rounds", facts.len());
    let (mut best_raw, mut best_ours, mut best_replay) = (Duration::MAX, Duration::MAX, Duration::MAX);
    for round in 1..=rounds {
        store.clear().await.expect("clear");
        let r = raw(&store, &facts, batch).await;
        store.clear().await.expect("clear");
        let o = ours(&store, &facts, batch).await;
        let p = ours(&store, &facts, batch).await;
        let counts = store.counts().await.expect("counts");
        println!(
            "round {round}: raw {:>8.0} facts/s  ours {:>8.0} facts/s  ours/raw {:.2}  replay {:>8.0} facts/s  ({} runs, {} nodes, {} edges)",
            rate(facts.len(), r),
            rate(facts.len(), o),
            r.as_secs_f64() / o.as_secs_f64(),
            rate(facts.len(), p),
            counts.pipeline_runs + counts.task_runs,
            counts.nodes,
            counts.edges
        );
        best_raw = best_raw.min(r);
        best_ours = best_ours.min(o);
        best_replay = best_replay.min(p);
    }
    let summary = json!({
        "facts": facts.len(),
        "raw_facts_per_s": rate(facts.len(), best_raw).round(),
        "ours_facts_per_s": rate(facts.len(), best_ours).round(),
        "ratio_ours_over_raw": (best_raw.as_secs_f64() / best_ours.as_secs_f64() * 100.0).round() / 100.0,
        "replay_facts_per_s": rate(facts.len(), best_replay).round(),
    });
    println!("summary: {summary}");
}
