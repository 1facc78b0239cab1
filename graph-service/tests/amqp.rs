//! The RabbitMQ source against a real broker (`scripts/services.sh up`, then `eval "$(scripts/services.sh env)"`),
//! with the same guarantees as the Kafka path: the fixtures through RabbitMQ give the answers of a direct load on
//! every engine (sent twice, the second time in reverse order); junk lands in the dead-letter queue with its reason;
//! `kill -9` of graph-service processes mid-stream and a broker restart mid-stream lose nothing and double nothing.
//! Every test uses its own queue and exchange (random suffix) and is bounded in time.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cloudevents::{AttributesReader, Data};
use graph_service::ingest::Ingestor;
use graph_service::metrics::ServiceMetrics;
use graph_service::model::ProjectionConfig;
use graph_service::source::amqp::{AmqpSource, AmqpSourceConfig, AmqpSourceStats};
use graph_service::source::{Shutdown, ShutdownTrigger, SourceContext, SourceError};
use graph_service::store::GraphStore;
use graph_service::store::embedded::EmbeddedStore;
use graph_service::store::neo4j::Neo4jStore;
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable};
use support::crash::{assert_equal_to_clean_load, clean_load, generated_facts, kill_9_rounds, services, wait_for_runs};
use support::faulty::FlakyStore;
use tekton_graph_amqp::testing::{broker_url, depth, drain, fresh_name, publish};
use tekton_graph_amqp::{Outgoing, Publisher, PublisherConfig};
use tekton_graph_schema::envelope::to_cloudevent;
use tekton_graph_schema::{RunFact, RunKind};
use tekton_graph_telemetry::testing::{promtool_check, value};
use tokio::task::JoinHandle;

const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// `RABBITMQ_URL` with the source's parameters.
fn source_config(queue: &str, exchange: &str) -> AmqpSourceConfig {
    let url = format!("{}?queue={queue}&exchange={exchange}", broker_url());
    let mut config = AmqpSourceConfig::from_url(&url, "unused", "unused").expect("source URL");
    config.batch_size = 200;
    config.batch_wait = Duration::from_millis(100);
    config.first_backoff = Duration::from_millis(100);
    config.max_backoff = Duration::from_secs(1);
    config
}

/// A publisher to `exchange` as the harvester's `--sink amqp://…` makes it, patient enough to outlast a broker
/// restart.
fn publisher(exchange: &str) -> Publisher {
    let mut config =
        PublisherConfig::from_url(&format!("{}?exchange={exchange}", broker_url()), "unused").expect("publisher URL");
    config.attempts = 60;
    config.max_backoff = Duration::from_secs(1);
    Publisher::new(config)
}

/// Publishes every fact as a structured CloudEvent, 2000 confirms at a time.
async fn publish_facts(publisher: &Publisher, facts: &[RunFact]) {
    for chunk in facts.chunks(2000) {
        let messages: Vec<Outgoing> = chunk
            .iter()
            .map(|fact| Outgoing::cloudevent(&to_cloudevent(fact).expect("event"), &[]).expect("message"))
            .collect();
        publisher.publish(&messages).await.unwrap_or_else(|e| panic!("publishing facts: {e}"));
    }
}

/// Declares the queue (and its binding and dead-letter queue) before anything is published to the exchange.
async fn declare(config: &AmqpSourceConfig) {
    tekton_graph_amqp::AmqpSource::new(config).expect("config").declare().await.expect("declare the queue");
}

struct RunningSource {
    stop: ShutdownTrigger,
    task: JoinHandle<Result<(), SourceError>>,
    stats: Arc<AmqpSourceStats>,
    metrics: Arc<ServiceMetrics>,
}

impl RunningSource {
    fn start(config: &AmqpSourceConfig, store: Arc<dyn GraphStore>) -> Self {
        let source = AmqpSource::new(config).expect("RabbitMQ source");
        let stats = source.stats();
        let (stop, shutdown) = Shutdown::new();
        let ingest = Arc::new(Ingestor::new(store));
        let metrics = ingest.metrics().clone();
        let task = tokio::spawn(source.run(SourceContext { ingest, shutdown }));
        RunningSource { stop, task, stats, metrics }
    }

    async fn stop(self) {
        self.stop.trigger();
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("source stops within 20 s")
            .expect("source task")
            .expect("source ran");
    }
}

/// Polls `check` every 100 ms until it holds; panics with `what` after the test timeout.
async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + TEST_TIMEOUT;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out after {TEST_TIMEOUT:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn header(properties: &BasicProperties, name: &str) -> Option<String> {
    match properties.headers().as_ref()?.inner().get(name)? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        other => Some(format!("{other:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixtures_through_rabbitmq_answer_as_a_direct_load_on_every_engine() {
    let facts = support::all_fixture_facts();
    let reference = EmbeddedStore::in_memory(ProjectionConfig::default());
    reference.apply(&facts).await.expect("direct load");
    let expected = support::fingerprint(&reference).await;
    let mut twice = facts.clone();
    twice.extend(facts.iter().rev().cloned());

    for engine in support::engines(ProjectionConfig::default()).await {
        let (queue, exchange) = (fresh_name("facts"), fresh_name("facts-x"));
        let config = source_config(&queue, &exchange);
        declare(&config).await;
        let publisher = publisher(&exchange);
        publish_facts(&publisher, &twice).await;
        publisher.close().await;

        let running = RunningSource::start(&config, engine.store.clone());
        wait_until(&format!("{} facts applied to {}", twice.len(), engine.name), || async {
            running.stats.snapshot().applied >= twice.len() as u64
        })
        .await;
        let stats = running.stats.snapshot();
        running.stop().await;
        assert_eq!(stats.dead_lettered, 0, "{}: {stats:?}", engine.name);
        assert_eq!(depth(&queue).await, 0, "{}: every message acknowledged", engine.name);
        assert_eq!(support::fingerprint(engine.store.as_ref()).await, expected, "{} differs", engine.name);
        println!(
            "{}: {} facts through RabbitMQ in {} batches, equal to a direct load",
            engine.name,
            twice.len(),
            stats.acks
        );
        tekton_graph_amqp::testing::delete(&[&queue, &config.dlq()], &[&exchange, &config.dlx]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_is_dead_lettered_with_its_reason_and_the_rest_applied() {
    let (queue, exchange) = (fresh_name("facts-dlq"), fresh_name("facts-dlq-x"));
    let config = source_config(&queue, &exchange);
    declare(&config).await;

    let facts = support::seed_facts();
    let (first, second, binary) = (&facts[0], &facts[1], &facts[2]);
    let publisher = publisher(&exchange);
    publish_facts(&publisher, std::slice::from_ref(first)).await;
    let mut origin = FieldTable::default();
    origin.insert("x-origin".into(), AMQPValue::LongString("amqp-test".into()));
    publish(&exchange, "junk", b"\x00 certainly not JSON", BasicProperties::default().with_headers(origin)).await;
    let no_specversion = BasicProperties::default().with_content_type("application/json".into());
    publish(&exchange, "junk", br#"{"hello":"no specversion"}"#, no_specversion).await;
    publish_facts(&publisher, std::slice::from_ref(second)).await;
    // A fact in binary mode: attributes as `cloudEvents_` application headers, the body is the data.
    let event = to_cloudevent(binary).expect("event");
    let mut attributes = FieldTable::default();
    for (name, value) in event.iter_attributes() {
        if name != "datacontenttype" {
            attributes.insert(format!("cloudEvents_{name}").into(), AMQPValue::LongString(value.to_string().into()));
        }
    }
    let Some(Data::Json(data)) = event.data() else { panic!("facts carry JSON data") };
    let properties = BasicProperties::default().with_content_type("application/json".into()).with_headers(attributes);
    publish(&exchange, event.ty(), &serde_json::to_vec(data).expect("JSON"), properties).await;
    publisher.close().await;

    let store = Arc::new(EmbeddedStore::in_memory(ProjectionConfig::default()));
    let running = RunningSource::start(&config, store.clone());
    wait_until("three facts applied, two dead-lettered, and the queue seen empty", || async {
        let stats = running.stats.snapshot();
        stats.applied >= 3 && stats.dead_lettered >= 2 && stats.lag == Some(0)
    })
    .await;
    let stats = running.stats.snapshot();
    let metrics = running.metrics.registry().render();
    running.stop().await;
    assert_eq!((stats.applied, stats.dead_lettered), (3, 2), "{stats:?}");
    // The same in graph-service's metrics, with the queue's depth after the last acknowledgement.
    promtool_check(&metrics).unwrap();
    let events = "tekton_graph_service_events_total";
    assert_eq!(value(&metrics, events, r#"source="amqp",outcome="dead_lettered""#), 2.0);
    assert_eq!(value(&metrics, events, r#"source="amqp",outcome="applied""#), 3.0);
    assert_eq!(value(&metrics, "tekton_graph_service_source_lag_messages", r#"source="amqp""#), 0.0);
    let stored = store.facts(&[first.key(), second.key(), binary.key()]).await.expect("facts");
    assert!(stored.iter().all(Option::is_some), "the three facts are stored: {stored:?}");
    assert_eq!(depth(&queue).await, 0, "junk and facts alike are acknowledged");

    let dead = drain(&config.dlq(), 2, TEST_TIMEOUT).await;
    assert_eq!(dead.len(), 2, "two messages in {}", config.dlq());
    let garbage = dead.iter().find(|d| d.data == b"\x00 certainly not JSON").expect("the garbage is dead-lettered");
    let reason = header(&garbage.properties, tekton_graph_amqp::source::REASON_HEADER).expect("a reason header");
    assert!(reason.contains("payload is not JSON"), "{reason}");
    assert_eq!(header(&garbage.properties, tekton_graph_amqp::source::QUEUE_HEADER).as_deref(), Some(queue.as_str()));
    assert_eq!(header(&garbage.properties, "x-origin").as_deref(), Some("amqp-test"), "original headers kept");
    let unversioned = dead.iter().find(|d| d.data.starts_with(b"{\"hello\"")).expect("the JSON without specversion");
    let reason = header(&unversioned.properties, tekton_graph_amqp::source::REASON_HEADER).expect("a reason header");
    assert!(reason.contains("specversion"), "{reason}");
    assert_eq!(unversioned.properties.content_type().as_ref().map(|c| c.as_str()), Some("application/json"));
    tekton_graph_amqp::testing::delete(&[&queue, &config.dlq()], &[&exchange, &config.dlx]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fact_the_store_refuses_is_dead_lettered_and_the_rest_of_its_batch_goes_in() {
    let (queue, exchange) = (fresh_name("facts-poison"), fresh_name("facts-poison-x"));
    let mut config = source_config(&queue, &exchange);
    config.batch_size = 100;
    declare(&config).await;
    let facts = generated_facts(4);
    let refused = [facts[3].name.clone(), facts[facts.len() - 2].name.clone()];
    let publisher = publisher(&exchange);
    publish_facts(&publisher, &facts).await;
    publisher.close().await;
    let refused_facts = facts.iter().filter(|f| refused.contains(&f.name)).count();
    let good = facts.len() - refused_facts;

    let store = Arc::new(FlakyStore::refusing(&[refused[0].as_str(), refused[1].as_str()]));
    let running = RunningSource::start(&config, store.clone());
    wait_until("the good facts applied, the refused dead-lettered, the queue seen empty", || async {
        let stats = running.stats.snapshot();
        stats.applied >= good as u64 && stats.dead_lettered >= refused_facts as u64 && stats.lag == Some(0)
    })
    .await;
    let stats = running.stats.snapshot();
    running.stop().await;
    assert_eq!((stats.applied, stats.dead_lettered), (good as u64, refused_facts as u64), "{stats:?}");
    assert_eq!(store.facts_applied.load(std::sync::atomic::Ordering::SeqCst), good, "each good fact went in once");
    assert_eq!(depth(&queue).await, 0, "refused and applied alike are acknowledged");
    let dead = drain(&config.dlq(), refused_facts, TEST_TIMEOUT).await;
    assert_eq!(dead.len(), refused_facts, "{} in {}", refused_facts, config.dlq());
    for message in &dead {
        let event: serde_json::Value = serde_json::from_slice(&message.data).expect("the event");
        let name = event["data"]["name"].as_str().expect("a run name");
        assert!(refused.iter().any(|r| r == name), "{name} was not refused");
        let reason = header(&message.properties, tekton_graph_amqp::source::REASON_HEADER).expect("a reason header");
        assert!(reason.starts_with("the store refused it: the store refuses the write: run `"), "{reason}");
        assert!(reason.contains("cannot be written"), "{reason}");
    }
    tekton_graph_amqp::testing::delete(&[&queue, &config.dlq()], &[&exchange, &config.dlx]).await;
}

/// A graph-service process consuming the queue into Neo4j. Its log goes to `log`.
fn spawn_graph_service(queue: &str, exchange: &str, log: &Path) -> Child {
    let settings = support::neo4j_settings();
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log file");
    Command::new(env!("CARGO_BIN_EXE_graph-service"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store", &settings.uri])
        .arg(format!("--source={}?queue={queue}&exchange={exchange}", broker_url()))
        .env("NEO4J_USER", &settings.user)
        .env("NEO4J_PASSWORD", &settings.password)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start graph-service")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_loses_and_doubles_nothing() {
    let _neo4j = support::neo4j_engine(ProjectionConfig::default()).await;
    let reader = Neo4jStore::connect(&support::neo4j_settings(), ProjectionConfig::default()).await.unwrap();
    let facts = generated_facts(5200);
    let prs = facts.iter().filter(|f| f.kind == RunKind::PipelineRun).count();
    assert!(prs >= 10_000, "the backfill must hold at least 10k PipelineRuns, has {prs}");
    let (_, expected_runs, _) = clean_load(&facts).await;

    let (queue, exchange) = (fresh_name("crash"), fresh_name("crash-x"));
    let config = source_config(&queue, &exchange);
    declare(&config).await;
    let backfilled = Instant::now();
    let publisher = publisher(&exchange);
    publish_facts(&publisher, &facts).await;
    publisher.close().await;
    println!("published {} facts ({prs} PipelineRuns) in {:?}", facts.len(), backfilled.elapsed());

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("graph-service.log");
    let mut last = kill_9_rounds(&reader, expected_runs, &log, || spawn_graph_service(&queue, &exchange, &log)).await;
    assert_equal_to_clean_load(&reader, &facts).await;
    last.kill().expect("kill");
    last.wait().expect("reap");
    assert_eq!(depth(&queue).await, 0, "every message acknowledged at the end");
    assert_eq!(depth(&config.dlq()).await, 0, "nothing dead-lettered: no message reached the delivery limit");
    tekton_graph_amqp::testing::delete(&[&queue, &config.dlq()], &[&exchange, &config.dlx]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_mid_stream_loses_and_doubles_nothing() {
    let _neo4j = support::neo4j_engine(ProjectionConfig::default()).await;
    let facts = Arc::new(generated_facts(5200));
    let (_, expected_runs, _) = clean_load(&facts).await;
    let (queue, exchange) = (fresh_name("restart"), fresh_name("restart-x"));
    let config = source_config(&queue, &exchange);
    declare(&config).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("graph-service.log");
    let mut child = spawn_graph_service(&queue, &exchange, &log);
    let producing = tokio::spawn({
        let (facts, exchange) = (facts.clone(), exchange.clone());
        async move {
            let publisher = publisher(&exchange);
            publish_facts(&publisher, &facts).await;
            publisher.close().await;
        }
    });

    let reader = Neo4jStore::connect(&support::neo4j_settings(), ProjectionConfig::default()).await.unwrap();
    // Restart once the load is under way (something stored), not at a fixed time.
    wait_until("graph-service stored its first runs", || async {
        reader.counts().await.is_ok_and(|c| c.pipeline_runs > 0)
    })
    .await;
    tokio::task::spawn_blocking(|| services("restart-rabbitmq")).await.expect("restart");
    producing.await.expect("the publisher finished despite the broker restart");

    wait_for_runs(&reader, expected_runs, Duration::from_secs(600), &log).await;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let reconnects = text.lines().filter(|l| l.contains("RabbitMQ source consuming")).count();
    assert!(reconnects >= 2, "graph-service reconnected after the restart (consumed {reconnects} times)");
    println!("graph-service connected {reconnects} times across the broker restart");
    assert_equal_to_clean_load(&reader, &facts).await;
    child.kill().expect("kill");
    child.wait().expect("reap");
    assert_eq!(depth(&queue).await, 0, "every message acknowledged at the end");
    tekton_graph_amqp::testing::delete(&[&queue, &config.dlq()], &[&exchange, &config.dlx]).await;
}
