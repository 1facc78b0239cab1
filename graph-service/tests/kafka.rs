//! The Kafka source against a real broker (`scripts/services.sh up`, then `eval "$(scripts/services.sh env)"`):
//! dead-lettering, at-least-once delivery with a failing store, the facts a store refuses found in their batch and
//! dead-lettered, and two instances sharing a consumer group.
//! Every test uses its own topics and group (random suffix), created with 3 partitions, and is bounded in time.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use graph_service::ingest::Ingestor;
use graph_service::metrics::ServiceMetrics;
use graph_service::model::ProjectionConfig;
use graph_service::source::kafka::{KafkaSource, KafkaSourceConfig, KafkaSourceStats};
use graph_service::source::{Shutdown, ShutdownTrigger, SourceContext, SourceError};
use graph_service::store::GraphStore;
use graph_service::store::embedded::EmbeddedStore;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use support::faulty::FlakyStore;
use tekton_graph_schema::envelope::{STRUCTURED_CONTENT_TYPE, partition_key, to_cloudevent};
use tekton_graph_schema::{RunFact, RunKey, RunKind};
use tekton_graph_telemetry::testing::{promtool_check, value};
use tokio::task::JoinHandle;

const PARTITIONS: i32 = 3;
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

fn bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP").unwrap_or_else(|_| {
        panic!(
            "KAFKA_BOOTSTRAP is not set: start the engines with `scripts/services.sh up` and \
             `eval \"$(scripts/services.sh env)\"`"
        )
    })
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{:08x}", std::process::id(), rand::random::<u32>())
}

async fn create_topic(name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap()).create().expect("admin client");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(&[NewTopic::new(name, partitions, TopicReplication::Fixed(1))], &options)
        .await
        .unwrap_or_else(|e| panic!("creating topic {name}: {e} (is Kafka up on {}?)", bootstrap()));
    for result in results {
        result.unwrap_or_else(|(topic, code)| panic!("creating topic {topic}: {code}"));
    }
}

fn producer() -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("message.timeout.ms", "20000")
        .create()
        .expect("producer")
}

/// Produces one message and waits for its delivery.
async fn produce(
    producer: &FutureProducer,
    topic: &str,
    key: &str,
    payload: &[u8],
    headers: &[(&str, &str)],
) -> (i32, i64) {
    let mut owned = OwnedHeaders::new();
    for (key, value) in headers {
        owned = owned.insert(Header { key, value: Some(*value) });
    }
    let record = FutureRecord::to(topic).key(key).payload(payload).headers(owned);
    let delivery = producer.send(record, Duration::from_secs(20)).await.unwrap_or_else(|(e, _)| panic!("produce: {e}"));
    (delivery.partition, delivery.offset)
}

async fn produce_fact(producer: &FutureProducer, topic: &str, fact: &RunFact) {
    let payload = serde_json::to_vec(&to_cloudevent(fact).expect("event")).expect("JSON");
    produce(producer, topic, &partition_key(fact), &payload, &[("content-type", STRUCTURED_CONTENT_TYPE)]).await;
}

/// A source config for tests: short batches, quick backoff.
fn source_config(topic: &str, group: &str) -> KafkaSourceConfig {
    let mut config = KafkaSourceConfig::new(bootstrap(), topic);
    config.group = group.to_string();
    config.batch_size = 50;
    config.batch_wait = Duration::from_millis(100);
    config.first_backoff = Duration::from_millis(100);
    config.max_backoff = Duration::from_secs(1);
    config
}

struct RunningSource {
    stop: ShutdownTrigger,
    task: JoinHandle<Result<(), SourceError>>,
    stats: Arc<KafkaSourceStats>,
    metrics: Arc<ServiceMetrics>,
}

impl RunningSource {
    fn start(config: &KafkaSourceConfig, store: Arc<dyn GraphStore>) -> Self {
        let source = KafkaSource::new(config).expect("Kafka source");
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

/// The group's committed offset of every partition of `topic` (`None` when nothing is committed).
async fn committed(topic: &str, group: &str) -> Vec<Option<i64>> {
    let (topic, group) = (topic.to_string(), group.to_string());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap())
            .set("group.id", &group)
            .create()
            .expect("consumer");
        let partitions = partition_count(&consumer, &topic);
        let mut list = TopicPartitionList::new();
        for partition in 0..partitions {
            list.add_partition(&topic, partition);
        }
        let offsets = consumer.committed_offsets(list, Duration::from_secs(10)).expect("committed offsets");
        (0..partitions)
            .map(|p| match offsets.find_partition(&topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => Some(o),
                _ => None,
            })
            .collect()
    })
    .await
    .unwrap()
}

/// How many partitions `topic` has.
fn partition_count(consumer: &BaseConsumer, topic: &str) -> i32 {
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).expect("metadata");
    let partitions = metadata.topics().first().map(|t| t.partitions().len()).expect("the topic's metadata");
    i32::try_from(partitions).expect("a partition count")
}

/// The end offset (high watermark) of every partition.
async fn end_offsets(topic: &str) -> Vec<i64> {
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer =
            ClientConfig::new().set("bootstrap.servers", bootstrap()).create().expect("consumer");
        (0..partition_count(&consumer, &topic))
            .map(|p| consumer.fetch_watermarks(&topic, p, Duration::from_secs(10)).expect("watermarks").1)
            .collect()
    })
    .await
    .unwrap()
}

/// True when the group has committed the end of every non-empty partition.
async fn all_committed(topic: &str, group: &str) -> bool {
    let ends = end_offsets(topic).await;
    let done = committed(topic, group).await;
    ends.iter().zip(&done).all(|(end, done)| *end == 0 || *done == Some(*end))
}

/// Reads `count` messages of a topic from the beginning with a throwaway group.
async fn read_all(topic: &str, count: usize) -> Vec<OwnedMessage> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut messages = Vec::new();
    tokio::time::timeout(TEST_TIMEOUT, async {
        while messages.len() < count {
            messages.push(consumer.recv().await.expect("message").detach());
        }
    })
    .await
    .unwrap_or_else(|_| panic!("read {} of {count} messages from {topic} in time", messages.len()));
    messages
}

fn header<'a>(message: &'a OwnedMessage, name: &str) -> Option<&'a str> {
    let headers = message.headers()?;
    headers.iter().find(|h| h.key == name).and_then(|h| h.value).and_then(|v| std::str::from_utf8(v).ok())
}

fn in_memory() -> Arc<EmbeddedStore> {
    Arc::new(EmbeddedStore::in_memory(ProjectionConfig::default()))
}

async fn runs(store: &dyn GraphStore) -> usize {
    let counts = store.counts().await.expect("counts");
    counts.pipeline_runs + counts.task_runs
}

fn sample_pipeline_run() -> RunFact {
    graph_service::demo::sample_facts()
        .expect("samples")
        .into_iter()
        .find(|f| f.kind == RunKind::PipelineRun)
        .expect("a PipelineRun")
}

/// `n` distinct PipelineRuns (`kafka-run-0`…), so that keys spread over the partitions.
fn distinct_runs(n: usize) -> Vec<RunFact> {
    let base = sample_pipeline_run();
    (0..n)
        .map(|i| {
            let mut fact = base.clone();
            fact.name = format!("kafka-run-{i}");
            fact.uid = None;
            fact
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_go_to_the_dead_letter_topic_and_are_committed_past() {
    let topic = unique("facts-dlq-test");
    let group = unique("group");
    let config = source_config(&topic, &group);
    create_topic(&topic, PARTITIONS).await;
    create_topic(&config.dlq_topic, 1).await;

    let producer = producer();
    let garbage_key = "garbage-key";
    produce(&producer, &topic, garbage_key, b"\x00 certainly not JSON", &[("x-origin", "kafka-test")]).await;
    let valid = sample_pipeline_run();
    let mut wrong_type = serde_json::to_value(to_cloudevent(&valid).unwrap()).unwrap();
    wrong_type["type"] = "com.example.not.a.fact".into();
    produce(
        &producer,
        &topic,
        "wrong-type-key",
        &serde_json::to_vec(&wrong_type).unwrap(),
        &[("content-type", STRUCTURED_CONTENT_TYPE)],
    )
    .await;
    produce_fact(&producer, &topic, &valid).await;
    // The same fact for another run in binary mode (ce_ headers, payload = the fact).
    let mut binary = valid.clone();
    binary.name = format!("{}-binary", valid.name);
    let event = to_cloudevent(&binary).unwrap();
    let ty = tekton_graph_schema::envelope::event_type(binary.kind);
    let source = tekton_graph_schema::envelope::event_source(&binary);
    let id = serde_json::to_value(&event).unwrap()["id"].as_str().unwrap().to_string();
    produce(
        &producer,
        &topic,
        &partition_key(&binary),
        &serde_json::to_vec(&binary).unwrap(),
        &[
            ("ce_specversion", "1.0"),
            ("ce_id", &id),
            ("ce_type", ty),
            ("ce_source", &source),
            ("content-type", "application/json"),
        ],
    )
    .await;

    let store = in_memory();
    let running = RunningSource::start(&config, store.clone());
    // The lag comes with librdkafka's statistics, every 5 s: wait for the report after the last commit.
    wait_until("two facts applied, two dead-lettered, all committed, no lag", || async {
        let stats = running.stats.snapshot();
        stats.applied >= 2 && stats.dead_lettered >= 2 && stats.lag == Some(0) && all_committed(&topic, &group).await
    })
    .await;
    let stats = running.stats.snapshot();
    let metrics = running.metrics.registry().render();
    running.stop().await;
    promtool_check(&metrics).unwrap();
    let events = "tekton_graph_service_events_total";
    assert_eq!(value(&metrics, events, r#"source="kafka",outcome="dead_lettered""#), 2.0);
    assert_eq!(value(&metrics, events, r#"source="kafka",outcome="applied""#), 2.0);
    assert_eq!(value(&metrics, "tekton_graph_service_source_lag_messages", r#"source="kafka""#), 0.0);

    let keys = [valid.key(), binary.key()];
    let stored = store.facts(&keys).await.expect("facts");
    assert!(stored.iter().all(Option::is_some), "both valid facts are stored: {stored:?}");
    assert_eq!(runs(store.as_ref()).await, 2);
    assert_eq!(stats.dead_lettered, 2, "{stats:?}");

    let dead = read_all(&config.dlq_topic, 2).await;
    let garbage = dead.iter().find(|m| m.key() == Some(garbage_key.as_bytes())).expect("garbage dead-lettered");
    assert_eq!(garbage.payload(), Some(&b"\x00 certainly not JSON"[..]), "original payload");
    assert_eq!(header(garbage, "x-origin"), Some("kafka-test"), "original headers kept");
    let reason = header(garbage, "dlq-reason").expect("dlq-reason");
    assert!(reason.contains("payload is not JSON"), "{reason}");
    assert_eq!(header(garbage, "dlq-topic"), Some(topic.as_str()));
    assert!(header(garbage, "dlq-partition").and_then(|p| p.parse::<i32>().ok()).is_some());
    assert!(header(garbage, "dlq-offset").and_then(|o| o.parse::<i64>().ok()).is_some());

    let wrong = dead.iter().find(|m| m.key() == Some(&b"wrong-type-key"[..])).expect("wrong type dead-lettered");
    let reason = header(wrong, "dlq-reason").expect("dlq-reason");
    assert!(reason.contains("unsupported event type `com.example.not.a.fact`"), "{reason}");
    assert_eq!(header(wrong, "content-type"), Some(STRUCTURED_CONTENT_TYPE));

    // The group's committed offsets are past all four messages.
    let ends = end_offsets(&topic).await;
    assert_eq!(ends.iter().sum::<i64>(), 4);
    let done = committed(&topic, &group).await;
    for (partition, (end, done)) in ends.iter().zip(&done).enumerate() {
        if *end > 0 {
            assert_eq!(*done, Some(*end), "partition {partition} committed to its end");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fact_the_store_refuses_is_dead_lettered_and_the_rest_of_its_batch_goes_in() {
    let topic = unique("facts-poison-test");
    let group = unique("group");
    let mut config = source_config(&topic, &group);
    // One partition and one batch: the poison facts sit among good ones, and block everything behind them unless
    // the source finds them.
    config.batch_size = 500;
    config.batch_wait = Duration::from_secs(2);
    create_topic(&topic, 1).await;
    create_topic(&config.dlq_topic, 1).await;
    let facts = distinct_runs(40);
    let producer = producer();
    for fact in &facts {
        produce_fact(&producer, &topic, fact).await;
    }

    let store = Arc::new(FlakyStore::refusing(&["kafka-run-7", "kafka-run-31"]));
    let running = RunningSource::start(&config, store.clone());
    wait_until("38 facts applied, 2 dead-lettered, all committed", || async {
        let stats = running.stats.snapshot();
        stats.applied >= 38 && stats.dead_lettered >= 2 && all_committed(&topic, &group).await
    })
    .await;
    let stats = running.stats.snapshot();
    running.stop().await;

    assert_eq!((stats.applied, stats.dead_lettered), (38, 2), "{stats:?}");
    assert_eq!(store.facts_applied.load(Ordering::SeqCst), 38, "each good fact went in once");
    assert_eq!(runs(store.as_ref()).await, 38);
    let calls = store.calls.load(Ordering::SeqCst);
    assert!(calls <= 1 + 4 * 6, "two refused of 40 found in {calls} applies, not one per fact");
    let dead = read_all(&config.dlq_topic, 2).await;
    let mut refused: Vec<(String, String)> = dead
        .iter()
        .map(|m| {
            let event: serde_json::Value = serde_json::from_slice(m.payload().expect("payload")).expect("the event");
            (event["data"]["name"].as_str().expect("name").to_string(), header(m, "dlq-reason").expect("reason").into())
        })
        .collect();
    refused.sort();
    assert_eq!(
        refused,
        vec![
            (
                "kafka-run-31".to_string(),
                "the store refused it: the store refuses the write: run `kafka-run-31` cannot be written".to_string()
            ),
            (
                "kafka-run-7".to_string(),
                "the store refused it: the store refuses the write: run `kafka-run-7` cannot be written".to_string()
            ),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_store_delays_the_commit_and_loses_nothing() {
    let topic = unique("facts-retry-test");
    let group = unique("group");
    create_topic(&topic, PARTITIONS).await;
    let facts = distinct_runs(12);
    let producer = producer();
    for fact in &facts {
        produce_fact(&producer, &topic, fact).await;
    }

    // 1. A store that never works: the source keeps retrying, commits nothing, and stops cleanly on shutdown.
    let broken = Arc::new(FlakyStore::new(usize::MAX));
    let mut config = source_config(&topic, &group);
    config.batch_size = 100;
    config.batch_wait = Duration::from_millis(500);
    let first = RunningSource::start(&config, broken.clone());
    wait_until("two failed applies", || async { first.stats.snapshot().store_failures >= 2 }).await;
    assert_eq!(committed(&topic, &group).await, vec![None; PARTITIONS as usize], "nothing committed while failing");
    first.stop().await;
    assert_eq!(broken.facts_applied.load(Ordering::SeqCst), 0);
    assert_eq!(committed(&topic, &group).await, vec![None; PARTITIONS as usize], "shutdown commits nothing");

    // 2. A new member of the same group gets every message again; its store fails twice, then works.
    let flaky = Arc::new(FlakyStore::new(2));
    config.first_backoff = Duration::from_secs(1);
    let second = RunningSource::start(&config, flaky.clone());
    wait_until("a failed apply", || async { second.stats.snapshot().store_failures >= 1 }).await;
    assert_eq!(committed(&topic, &group).await, vec![None; PARTITIONS as usize], "nothing committed before success");
    wait_until("everything applied and committed", || async {
        runs(flaky.as_ref()).await == facts.len() && all_committed(&topic, &group).await
    })
    .await;
    let stats = second.stats.snapshot();
    second.stop().await;

    assert_eq!(stats.store_failures, 2, "{stats:?}");
    assert_eq!(flaky.facts_applied.load(Ordering::SeqCst), facts.len(), "each fact applied exactly once");
    assert_eq!(stats.applied, facts.len() as u64);
    let keys: Vec<RunKey> = facts.iter().map(RunFact::key).collect();
    let stored = flaky.facts(&keys).await.unwrap();
    assert!(stored.iter().all(Option::is_some));
    assert_eq!(runs(flaky.as_ref()).await, facts.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_of_one_group_share_the_partitions() {
    let topic = unique("facts-group-test");
    let group = unique("group");
    create_topic(&topic, PARTITIONS).await;
    let store = in_memory();
    let config = source_config(&topic, &group);
    let a = RunningSource::start(&config, store.clone());
    let b = RunningSource::start(&config, store.clone());

    wait_until("both members hold a disjoint share covering all partitions", || async {
        let (a, b) = (a.stats.snapshot().assignment, b.stats.snapshot().assignment);
        let union: BTreeSet<_> = a.iter().chain(&b).cloned().collect();
        !a.is_empty() && !b.is_empty() && union.len() == PARTITIONS as usize && a.len() + b.len() == union.len()
    })
    .await;

    let facts = distinct_runs(30);
    let producer = producer();
    for fact in &facts {
        produce_fact(&producer, &topic, fact).await;
    }
    wait_until("all 30 runs applied and committed", || async {
        runs(store.as_ref()).await == facts.len() && all_committed(&topic, &group).await
    })
    .await;

    let (sa, sb) = (a.stats.snapshot(), b.stats.snapshot());
    a.stop().await;
    b.stop().await;
    assert!(sa.applied > 0 && sb.applied > 0, "both members applied something: {sa:?} {sb:?}");
    assert!(sa.applied + sb.applied >= facts.len() as u64, "{sa:?} {sb:?}");
    let partitions: BTreeSet<i32> = sa.assignment.iter().chain(&sb.assignment).map(|(_, p)| *p).collect();
    assert_eq!(partitions, (0..PARTITIONS).collect());
}
