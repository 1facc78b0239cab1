//! Neo4j ingest rate of our store against two raw baselines, measured in the same run on the same graph.
//!
//! ```sh
//! scripts/services.sh up neo4j && eval "$(scripts/services.sh env)"
//! cargo bench -p graph-service --bench neo4j_ingest                         # 5000 builds ≈ 60k facts
//! BENCH_PIPELINE_RUNS=500 cargo bench -p graph-service --bench neo4j_ingest  # smoke
//! ```
//!
//! * **raw-tuned**: the graph our store writes for these facts (`rows_for_new_runs`), written the way Neo4j writes
//!   fastest from a plain client (`cypher/bench/raw_tuned.cypher`): all nodes first, one statement per label, then
//!   all relationships, one statement per type, both ends matched by the id index; 10k rows per transaction; no
//!   locks, no reads, no bookkeeping. The upper bound.
//! * **raw-current**: the same rows written by the statements this store used before (dynamic labels and types,
//!   nodes merged with every edge), one transaction per batch.
//! * **ours**: `Neo4jStore::apply` on the same facts in the same batches (read stored keys, lock the runs that
//!   change, read the facts they replace, keep the newer, upsert runs, create missing nodes, add edge
//!   contributions), one transaction per batch.
//! * **ours, replayed**: the same facts again (every fact is now a duplicate: read and ignored, nothing locked).
//! * **kafka → ours** (when `KAFKA_BOOTSTRAP` is set): the facts are first produced to a fresh 3-partition topic
//!   (not timed), then graph-service's Kafka source consumes them into the store (batches, apply, offset commits);
//!   timed from the start of consumption until the store holds every run.
//!
//! Each starts from an emptied database with the schema applied, and each must end with the same counts. Prints
//! facts/s and the ratios. Environment: `BENCH_PIPELINE_RUNS` (5000), `BENCH_BATCH` (500), `BENCH_ROUNDS` (3, best
//! round reported), `NEO4J_URI`, `NEO4J_USER`, `NEO4J_PASSWORD`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use graph_service::model::ProjectionConfig;
use graph_service::source::kafka::{KafkaSource, KafkaSourceConfig};
use graph_service::source::{Shutdown, SourceContext};
use graph_service::store::GraphStore;
use graph_service::store::neo4j::{Neo4jConfig, Neo4jStore, NewRunRows, rows_for_new_runs, strip_comments};
use neo4rs::{BoltType, Query};
use serde_json::{Map, Value, json};
use tekton_generate::{GenerateConfig, generate};
use tekton_graph_schema::RunFact;

const RAW_TUNED: &str = include_str!("../../cypher/bench/raw_tuned.cypher");

/// Rows per raw-tuned transaction.
const TUNED_BATCH: usize = 10_000;

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

/// A run row's properties as the former statements took them: everything but `id` and `label` in `props`, except
/// `observation` and `fact`, set on their own.
fn props_of_run(run: &Value) -> Value {
    let mut props = run.as_object().cloned().unwrap_or_default();
    for key in ["id", "label", "observation", "fact"] {
        props.remove(key);
    }
    Value::Object(props)
}

/// The rows of the former statements: runs with a `props` map, edges carrying both ends' labels and properties.
fn current_rows(rows: NewRunRows) -> (Vec<Value>, Vec<Value>) {
    let mut ends: std::collections::HashMap<String, (Value, Value)> = std::collections::HashMap::new();
    for node in &rows.nodes {
        ends.insert(node["id"].as_str().unwrap_or_default().into(), (node["label"].clone(), node["props"].clone()));
    }
    let runs: Vec<Value> = rows
        .runs
        .iter()
        .map(|run| {
            let props = props_of_run(run);
            let end = json!({ "kind": props["kind"], "namespace": props["namespace"], "name": props["name"] });
            ends.insert(run["id"].as_str().unwrap_or_default().into(), (run["label"].clone(), end));
            json!({ "id": run["id"], "label": run["label"], "observation": run["observation"], "fact": run["fact"], "props": props })
        })
        .collect();
    let edges = rows
        .edges
        .iter()
        .map(|edge| {
            let end =
                |key: &str| ends.get(edge[key].as_str().unwrap_or_default()).cloned().expect("edge end has a row");
            let ((from_label, from_props), (to_label, to_props)) = (end("from"), end("to"));
            json!({
                "from": edge["from"], "fromLabel": from_label, "fromProps": from_props,
                "to": edge["to"], "toLabel": to_label, "toProps": to_props, "kind": edge["kind"], "n": edge["n"],
            })
        })
        .collect();
    (runs, edges)
}

async fn raw_current(store: &Neo4jStore, facts: &[RunFact], batch: usize) -> Duration {
    let config = ProjectionConfig::default();
    let batches: Vec<(Vec<Value>, Vec<Value>)> =
        facts.chunks(batch).map(|c| current_rows(rows_for_new_runs(c, &config))).collect();
    let start = Instant::now();
    for (runs, edges) in batches {
        let mut txn = store.graph().start_txn().await.expect("txn");
        txn.run(Query::new(RAW_RUNS.into()).param("rows", bolt(runs))).await.expect("raw runs");
        txn.run(Query::new(RAW_EDGES.into()).param("rows", bolt(edges))).await.expect("raw edges");
        txn.commit().await.expect("commit");
    }
    start.elapsed()
}

/// The raw-tuned statement that writes nodes of `label` or relationships of `kind` (exactly one must match).
fn tuned_statement(marker: &str) -> String {
    let statements: Vec<String> =
        strip_comments(RAW_TUNED).split(';').map(str::trim).filter(|s| s.contains(marker)).map(String::from).collect();
    assert_eq!(statements.len(), 1, "raw_tuned.cypher must hold one statement with `{marker}`");
    statements.into_iter().next().unwrap_or_default()
}

/// Every node (runs included, with all their properties) grouped by label, then every edge grouped by type, each
/// with its statement, in transactions of 10k rows.
fn tuned_writes(rows: NewRunRows) -> Vec<(String, Vec<Value>)> {
    let mut by_label: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for run in &rows.runs {
        let mut props: Map<String, Value> = props_of_run(run).as_object().cloned().unwrap_or_default();
        props.insert("observation".into(), run["observation"].clone());
        props.insert("fact".into(), run["fact"].clone());
        let label = run["label"].as_str().unwrap_or_default().to_string();
        by_label.entry(label).or_default().push(json!({ "id": run["id"], "props": props }));
    }
    for node in rows.nodes {
        by_label.entry(node["label"].as_str().unwrap_or_default().into()).or_default().push(node);
    }
    let mut by_kind: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for edge in rows.edges {
        by_kind.entry(edge["kind"].as_str().unwrap_or_default().into()).or_default().push(edge);
    }
    let mut writes = Vec::new();
    for (label, nodes) in by_label {
        let statement = tuned_statement(&format!("SET n:{label},"));
        writes.extend(nodes.chunks(TUNED_BATCH).map(|c| (statement.clone(), c.to_vec())));
    }
    for (kind, edges) in by_kind {
        let statement = tuned_statement(&format!("[e:{kind}]"));
        writes.extend(edges.chunks(TUNED_BATCH).map(|c| (statement.clone(), c.to_vec())));
    }
    writes
}

async fn raw_tuned(store: &Neo4jStore, facts: &[RunFact]) -> Duration {
    let writes = tuned_writes(rows_for_new_runs(facts, &ProjectionConfig::default()));
    let start = Instant::now();
    for (statement, rows) in writes {
        let mut txn = store.graph().start_txn().await.expect("txn");
        txn.run(Query::new(statement).param("rows", bolt(rows))).await.expect("raw-tuned write");
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

/// What the store holds, to check that every writer wrote the same graph.
async fn shape(store: &Neo4jStore) -> (usize, usize, usize) {
    let c = store.counts().await.expect("counts");
    (c.pipeline_runs + c.task_runs, c.nodes, c.edges)
}

fn ratio(baseline: Duration, ours: Duration) -> f64 {
    (baseline.as_secs_f64() / ours.as_secs_f64() * 100.0).round() / 100.0
}

#[tokio::main]
async fn main() {
    // RUST_LOG=graph_service=debug shows where each apply spends its time.
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let builds = env_usize("BENCH_PIPELINE_RUNS", 5000);
    let batch = env_usize("BENCH_BATCH", 500);
    let rounds = env_usize("BENCH_ROUNDS", 3);
    let facts = facts(builds);
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
    let mut best = [Duration::MAX; 4];
    for round in 1..=rounds {
        store.clear().await.expect("clear");
        let tuned = raw_tuned(&store, &facts).await;
        let tuned_shape = shape(&store).await;
        store.clear().await.expect("clear");
        let current = raw_current(&store, &facts, batch).await;
        let current_shape = shape(&store).await;
        store.clear().await.expect("clear");
        let o = ours(&store, &facts, batch).await;
        let ours_shape = shape(&store).await;
        let p = ours(&store, &facts, batch).await;
        assert_eq!(shape(&store).await, ours_shape, "a replay changed the graph");
        assert_eq!(tuned_shape, ours_shape, "raw-tuned wrote another graph (runs, nodes, edges)");
        assert_eq!(current_shape, ours_shape, "raw-current wrote another graph (runs, nodes, edges)");
        let (runs_held, nodes, edges) = ours_shape;
        println!(
            "round {round}: raw-tuned {:>6.0}  raw-current {:>6.0}  ours {:>6.0}  replay {:>6.0} facts/s  \
             ours/raw-tuned {:.2}  ours/raw-current {:.2}  replay/ours {:.1}  ({runs_held} runs, {nodes} nodes, {edges} edges)",
            rate(facts.len(), tuned),
            rate(facts.len(), current),
            rate(facts.len(), o),
            rate(facts.len(), p),
            ratio(tuned, o),
            ratio(current, o),
            ratio(o, p),
        );
        if let Some(bootstrap) = &bootstrap {
            let topic = format!("bench-{}-{round}-{:08x}", std::process::id(), rand::random::<u32>());
            fill_topic(bootstrap, &topic, &facts).await;
            store.clear().await.expect("clear");
            let k = kafka_to_store(bootstrap, &topic, store.clone(), runs).await;
            println!(
                "round {round}: kafka → ours {:>8.0} facts/s  (kafka → ours)/raw-tuned {:.2}",
                rate(facts.len(), k),
                ratio(tuned, k)
            );
            best_kafka = best_kafka.min(k);
        }
        for (slot, d) in best.iter_mut().zip([tuned, current, o, p]) {
            *slot = (*slot).min(d);
        }
    }
    let [tuned, current, o, p] = best;
    let summary = json!({
        "facts": facts.len(),
        "batch": batch,
        "raw_tuned_facts_per_s": rate(facts.len(), tuned).round(),
        "raw_current_facts_per_s": rate(facts.len(), current).round(),
        "ours_facts_per_s": rate(facts.len(), o).round(),
        "replay_facts_per_s": rate(facts.len(), p).round(),
        "ratio_ours_over_raw_tuned": ratio(tuned, o),
        "ratio_ours_over_raw_current": ratio(current, o),
        "ratio_replay_over_ours": ratio(o, p),
        "kafka_to_ours_facts_per_s": bootstrap.as_ref().map(|_| rate(facts.len(), best_kafka).round()),
        "ratio_kafka_to_ours_over_raw_tuned": bootstrap.as_ref().map(|_| ratio(tuned, best_kafka)),
    });
    println!("summary: {summary}");
}
