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
//! * **kafka → ours** (when `KAFKA_BOOTSTRAP` is set): the facts are first produced to a fresh 3-partition topic
//!   (not timed), then graph-service's Kafka source consumes them into the store (batches, apply, offset commits);
//!   timed from the start of consumption until the store holds every run.
//!
//! Both start from an emptied database with the schema applied. Prints facts/s and the ratio ours/raw.
//! Environment: `BENCH_PIPELINE_RUNS` (5000), `BENCH_BATCH` (500), `BENCH_ROUNDS` (3, best round reported),
//! `NEO4J_URI`, `NEO4J_USER`, `NEO4J_PASSWORD`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use graph_service::model::ProjectionConfig;
use graph_service::source::kafka::{KafkaSource, KafkaSourceConfig};
use graph_service::source::{Shutdown, SourceContext};
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
        ca_file: None,
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

/// Produces the facts to a new topic as the harvester would (structured CloudEvents keyed by PipelineRun).
async fn fill_topic(bootstrap: &str, topic: &str, facts: &[RunFact]) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use tekton_graph_schema::envelope::{partition_key, to_cloudevent};
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("admin");
    for result in admin
        .create_topics(&[NewTopic::new(topic, 3, TopicReplication::Fixed(1))], &AdminOptions::new())
        .await
        .expect("create topic")
    {
        result.expect("topic created");
    }
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .create()
        .expect("producer");
    for chunk in facts.chunks(5000) {
        let mut pending = Vec::new();
        for fact in chunk {
            let payload = serde_json::to_vec(&to_cloudevent(fact).expect("event")).expect("json");
            let key = partition_key(fact);
            let record = FutureRecord::to(topic).key(&key).payload(&payload);
            pending.push(producer.send_result(record).map_err(|(e, _)| e).expect("enqueue"));
        }
        for delivery in pending {
            delivery.await.expect("delivery").map_err(|(e, _)| e).expect("delivered");
        }
    }
}

/// Consumes the topic with the graph-service Kafka source into the store; returns the time to hold all runs.
async fn kafka_to_store(bootstrap: &str, topic: &str, store: Arc<Neo4jStore>, runs: usize) -> Duration {
    let mut config = KafkaSourceConfig::new(bootstrap, topic);
    config.group = format!("{topic}-bench");
    let source = KafkaSource::new(&config).expect("source");
    let (trigger, shutdown) = Shutdown::new();
    let start = Instant::now();
    let task = tokio::spawn(source.run(SourceContext::for_store(store.clone(), shutdown)));
    loop {
        let c = store.counts().await.expect("counts");
        if c.pipeline_runs + c.task_runs >= runs {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = start.elapsed();
    trigger.trigger();
    task.await.expect("source task").expect("source");
    elapsed
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
    let store = Arc::new(Neo4jStore::connect(&settings(), ProjectionConfig::default()).await.expect("connect"));
    let runs = {
        let mut keys: Vec<_> = facts.iter().map(|f| f.key()).collect();
        keys.sort();
        keys.dedup();
        keys.len()
    };
    let bootstrap = std::env::var("KAFKA_BOOTSTRAP").ok();
    let mut best_kafka = Duration::MAX;
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
        if let Some(bootstrap) = &bootstrap {
            let topic = format!("bench-{}-{round}-{:08x}", std::process::id(), rand::random::<u32>());
            fill_topic(bootstrap, &topic, &facts).await;
            store.clear().await.expect("clear");
            let k = kafka_to_store(bootstrap, &topic, store.clone(), runs).await;
            println!(
                "round {round}: kafka → ours {:>8.0} facts/s  (kafka → ours)/raw {:.2}",
                rate(facts.len(), k),
                r.as_secs_f64() / k.as_secs_f64()
            );
            best_kafka = best_kafka.min(k);
        }
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
        "kafka_to_ours_facts_per_s": bootstrap.as_ref().map(|_| rate(facts.len(), best_kafka).round()),
        "ratio_kafka_to_ours_over_raw": bootstrap.as_ref().map(|_| (best_raw.as_secs_f64() / best_kafka.as_secs_f64() * 100.0).round() / 100.0),
    });
    println!("summary: {summary}");
}
