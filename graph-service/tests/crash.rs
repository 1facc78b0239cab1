//! Crash and fault tests with real processes and real engines: a generated backfill (≥ 10k PipelineRuns with their
//! TaskRuns) goes through Kafka into graph-service processes writing to Neo4j while they are `kill -9`ed, and while
//! Neo4j and Kafka themselves restart. The final graph must equal a clean load of the same facts: same counts, same
//! fingerprint (every run's newest observation and every edge), and no edge contribution counted twice.
//!
//! Needs `scripts/services.sh up` (the test restarts the engines through the same script). `CRASH_TEST_BUILDS`
//! sets the size (default 5200 builds ≈ 10.4k PipelineRuns, 64k facts).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use graph_service::model::{ProjectionConfig, project};
use graph_service::store::GraphStore;
use graph_service::store::embedded::EmbeddedStore;
use graph_service::store::neo4j::Neo4jStore;
use rand::{Rng, SeedableRng};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tekton_generate::{GenerateConfig, generate};
use tekton_graph_schema::envelope::{STRUCTURED_CONTENT_TYPE, partition_key, to_cloudevent};
use tekton_graph_schema::{RunFact, RunKind};

fn bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP").unwrap_or_else(|_| {
        panic!("KAFKA_BOOTSTRAP is not set: run `scripts/services.sh up` and `eval \"$(scripts/services.sh env)\"`")
    })
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn generated_facts() -> Vec<RunFact> {
    let builds = std::env::var("CRASH_TEST_BUILDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5200);
    let config = GenerateConfig { pipeline_runs: builds, seed: 7, ..GenerateConfig::default() };
    generate(&config)
        .flat_map(|o| tekton_translate::translate_value(&o).expect("generated objects translate"))
        .collect()
}

async fn create_topic(name: &str) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap()).create().expect("admin client");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin
        .create_topics(&[NewTopic::new(name, 3, TopicReplication::Fixed(1))], &options)
        .await
        .expect("create topic")
    {
        result.unwrap_or_else(|(topic, code)| panic!("creating {topic}: {code}"));
    }
}

/// Produces every fact as a structured CloudEvent keyed by its PipelineRun, as the harvester does.
async fn backfill(topic: String, facts: Arc<Vec<RunFact>>) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "180000")
        .set("linger.ms", "20")
        .create()
        .expect("producer");
    for chunk in facts.chunks(2000) {
        let mut pending = Vec::with_capacity(chunk.len());
        for fact in chunk {
            let payload = serde_json::to_vec(&to_cloudevent(fact).expect("event")).expect("json");
            let key = partition_key(fact);
            let headers =
                OwnedHeaders::new().insert(Header { key: "content-type", value: Some(STRUCTURED_CONTENT_TYPE) });
            let record = FutureRecord::to(&topic).key(&key).payload(&payload).headers(headers);
            // Enqueue now, await deliveries per chunk: thousands in flight instead of one.
            pending.push(producer.send_result(record).unwrap_or_else(|(e, _)| panic!("enqueue: {e}")));
        }
        for delivery in pending {
            let result = delivery.await.expect("delivery future");
            result.unwrap_or_else(|(e, _)| panic!("backfill delivery failed: {e}"));
        }
    }
}

/// A graph-service process consuming the topic into Neo4j. Its log goes to `log`.
fn spawn_graph_service(topic: &str, group: &str, log: &Path) -> Child {
    let settings = support::neo4j_settings();
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log file");
    Command::new(env!("CARGO_BIN_EXE_graph-service"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store", &settings.uri])
        .arg(format!("--source=kafka://{}/{topic}?group={group}", bootstrap()))
        // A killed member's partitions move on after the session timeout; keep it short so rounds make progress.
        .args(["--kafka-option", "session.timeout.ms=6000", "--kafka-option", "heartbeat.interval.ms=1000"])
        .env("NEO4J_USER", &settings.user)
        .env("NEO4J_PASSWORD", &settings.password)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start graph-service")
}

fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Waits until Neo4j holds every run, then a little longer for the last commit.
async fn wait_for_runs(reader: &Neo4jStore, expected: usize, timeout: Duration, log: &Path) {
    let started = Instant::now();
    loop {
        let counts = reader.counts().await;
        if let Ok(c) = &counts
            && c.pipeline_runs + c.task_runs == expected
        {
            return;
        }
        assert!(
            started.elapsed() < timeout,
            "graph-service did not load all {expected} runs within {timeout:?} (now {counts:?}); log tail:\n{}",
            log_tail(log)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The reference: the same facts applied once, in order, to a fresh embedded store.
async fn clean_load(facts: &[RunFact]) -> (EmbeddedStore, usize, i64) {
    let store = EmbeddedStore::in_memory(ProjectionConfig::default());
    for chunk in facts.chunks(1000) {
        store.apply(chunk).await.expect("clean apply");
    }
    let mut keys: Vec<_> = facts.iter().map(|f| f.key()).collect();
    keys.sort();
    keys.dedup();
    let newest = store.facts(&keys).await.expect("facts");
    let contributions: usize = newest.iter().flatten().map(|f| project(f, &ProjectionConfig::default()).len()).sum();
    (store, keys.len(), contributions as i64)
}

async fn assert_equal_to_clean_load(reader: &Neo4jStore, facts: &[RunFact]) {
    let (reference, _, contributions) = clean_load(facts).await;
    let (expected_counts, expected_hash) = support::fingerprint(&reference).await;
    let (counts, hash) = support::fingerprint(reader).await;
    assert_eq!(counts, expected_counts, "counts differ from a clean load");
    assert_eq!(hash, expected_hash, "graph fingerprint differs from a clean load");
    let rows = reader.read_only("MATCH ()-[e]->() RETURN sum(e.count) AS n", Default::default()).await.unwrap();
    assert_eq!(rows[0]["n"], contributions, "edge contributions counted twice or lost");
    println!("equal to a clean load: {counts:?}, fingerprint {hash}, {contributions} edge contributions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_points_loses_and_doubles_nothing() {
    let _neo4j = support::neo4j_engine(ProjectionConfig::default()).await;
    let reader = Neo4jStore::connect(&support::neo4j_settings(), ProjectionConfig::default()).await.unwrap();
    let facts = Arc::new(generated_facts());
    let prs = facts.iter().filter(|f| f.kind == RunKind::PipelineRun).count();
    assert!(prs >= 10_000, "the backfill must hold at least 10k PipelineRuns, has {prs}");
    let (_, expected_runs, _) = clean_load(&facts).await;

    let suffix = format!("{}-{:08x}", std::process::id(), rand::random::<u32>());
    let topic = format!("crash-{suffix}");
    create_topic(&topic).await;
    let backfilled = Instant::now();
    backfill(topic.clone(), facts.clone()).await;
    println!("backfilled {} facts ({prs} PipelineRuns) in {:?}", facts.len(), backfilled.elapsed());

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("graph-service.log");
    let seed: u64 = rand::random();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    println!("kill schedule seed {seed}");
    let mut peak = 0.0f64;
    let stored = |c: graph_service::store::StoreCounts| c.pipeline_runs + c.task_runs;
    for round in 1..=5 {
        let before = stored(reader.counts().await.unwrap());
        let mut child = spawn_graph_service(&topic, &format!("crash-{suffix}"), &log);
        // Kill at a random moment once this process is writing: after it stored something, 0–1.5 s later.
        let started = Instant::now();
        while stored(reader.counts().await.unwrap()) == before {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "round {round} made no progress:\n{}",
                log_tail(&log)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..1500))).await;
        peak = peak.max(peak_rss_mib(child.id()).unwrap_or(0.0));
        child.kill().expect("kill -9");
        child.wait().expect("reap");
        let after = stored(reader.counts().await.unwrap());
        println!("round {round}: killed after {:?}; runs stored {before} → {after}", started.elapsed());
        assert!(after < expected_runs, "round {round} finished the load before the kill; make the backfill larger");
    }
    let mut child = spawn_graph_service(&topic, &format!("crash-{suffix}"), &log);
    wait_for_runs(&reader, expected_runs, Duration::from_secs(600), &log).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    peak = peak.max(peak_rss_mib(child.id()).unwrap_or(0.0));
    child.kill().expect("kill");
    child.wait().expect("reap");
    println!("graph-service peak RSS {peak:.0} MiB");
    assert_equal_to_clean_load(&reader, &facts).await;
}

fn services(command: &str) {
    let status = Command::new("bash")
        .arg(repo_root().join("scripts/services.sh"))
        .arg(command)
        .status()
        .unwrap_or_else(|e| panic!("scripts/services.sh {command}: {e}"));
    assert!(status.success(), "scripts/services.sh {command} failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neo4j_and_kafka_restart_mid_stream_and_nothing_is_lost() {
    let _neo4j = support::neo4j_engine(ProjectionConfig::default()).await;
    let facts = Arc::new(generated_facts());
    let (_, expected_runs, _) = clean_load(&facts).await;
    let suffix = format!("{}-{:08x}", std::process::id(), rand::random::<u32>());
    let topic = format!("restart-{suffix}");
    create_topic(&topic).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("graph-service.log");
    let mut child = spawn_graph_service(&topic, &format!("restart-{suffix}"), &log);
    let producing = tokio::spawn(backfill(topic.clone(), facts.clone()));

    tokio::time::sleep(Duration::from_secs(4)).await;
    let restarts = tokio::task::spawn_blocking(|| {
        services("restart-neo4j");
        services("restart-kafka");
    });
    restarts.await.expect("restarts");
    producing.await.expect("backfill finished despite the Kafka restart");

    let reader = Neo4jStore::connect(&support::neo4j_settings(), ProjectionConfig::default()).await.unwrap();
    wait_for_runs(&reader, expected_runs, Duration::from_secs(600), &log).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let backoffs = std::fs::read_to_string(&log).unwrap_or_default().lines().filter(|l| l.contains("retry")).count();
    println!("graph-service logged {backoffs} retries while the engines restarted");
    child.kill().expect("kill");
    child.wait().expect("reap");
    assert_equal_to_clean_load(&reader, &facts).await;
}
