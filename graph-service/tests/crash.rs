//! Crash and fault tests with real processes and real engines: a generated backfill (≥ 10k PipelineRuns with their
//! TaskRuns) goes through Kafka into graph-service processes writing to Neo4j while they are `kill -9`ed, and while
//! Neo4j and Kafka themselves restart. The final graph must equal a clean load of the same facts: same counts, same
//! fingerprint (every run's newest observation and every edge), and no edge contribution counted twice.
//!
//! Needs `scripts/services.sh up` (the test restarts the engines through the same script). `CRASH_TEST_BUILDS`
//! sets the size (default 5200 builds ≈ 10.4k PipelineRuns, 64k facts).

mod support;

use support::crash::{assert_equal_to_clean_load, clean_load, generated_facts, kill_9_rounds, services, wait_for_runs};

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use graph_service::model::ProjectionConfig;
use graph_service::store::neo4j::Neo4jStore;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tekton_graph_schema::envelope::{STRUCTURED_CONTENT_TYPE, partition_key, to_cloudevent};
use tekton_graph_schema::{RunFact, RunKind};

fn bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP").unwrap_or_else(|_| {
        panic!("KAFKA_BOOTSTRAP is not set: run `scripts/services.sh up` and `eval \"$(scripts/services.sh env)\"`")
    })
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_points_loses_and_doubles_nothing() {
    let _neo4j = support::neo4j_engine(ProjectionConfig::default()).await;
    let reader = Neo4jStore::connect(&support::neo4j_settings(), ProjectionConfig::default()).await.unwrap();
    let facts = Arc::new(generated_facts(5200));
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
    let group = format!("crash-{suffix}");
    let mut last = kill_9_rounds(&reader, expected_runs, &log, || spawn_graph_service(&topic, &group, &log)).await;
    assert_equal_to_clean_load(&reader, &facts).await;
    last.kill().expect("kill");
    last.wait().expect("reap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neo4j_and_kafka_restart_mid_stream_and_nothing_is_lost() {
    let _neo4j = support::neo4j_engine(ProjectionConfig::default()).await;
    let facts = Arc::new(generated_facts(5200));
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
    let backoffs = std::fs::read_to_string(&log).unwrap_or_default().lines().filter(|l| l.contains("retry")).count();
    println!("graph-service logged {backoffs} retries while the engines restarted");
    assert_equal_to_clean_load(&reader, &facts).await;
    child.kill().expect("kill");
    child.wait().expect("reap");
}
