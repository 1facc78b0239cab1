//! Facts/s through each broker into each store, measured in the same run on the same facts.
//!
//! ```sh
//! scripts/services.sh up && eval "$(scripts/services.sh env)"
//! cargo bench -p graph-service --bench broker_ingest                           # 2000 builds ≈ 25k facts
//! BENCH_PIPELINE_RUNS=300 cargo bench -p graph-service --bench broker_ingest    # smoke
//! ```
//!
//! For each store (the embedded one on disk, Neo4j):
//!
//! * **direct**: `GraphStore::apply` in batches of `BENCH_BATCH` — the ceiling any broker path can reach;
//! * **kafka**: the facts are first produced to a fresh 3-partition topic as the harvester does (timed apart, as
//!   the publish rate), then graph-service's Kafka source consumes them into the emptied store (batches, apply,
//!   offset commits); timed until the source applied every fact;
//! * **rabbitmq**: the same with the facts published to a fresh exchange and quorum queue with publisher confirms
//!   (as the harvester's `--sink amqp://…`), consumed by graph-service's RabbitMQ source (batches, apply, one
//!   multiple-ack per batch).
//!
//! Prints facts/s per path, rabbitmq/kafka and broker/direct ratios, best of `BENCH_ROUNDS` (default 2). Needs
//! `KAFKA_BOOTSTRAP`, `RABBITMQ_URL`, `NEO4J_URI`, `NEO4J_PASSWORD` (`BENCH_STORES=embedded` skips Neo4j).

use std::sync::Arc;
use std::time::{Duration, Instant};

use graph_service::model::ProjectionConfig;
use graph_service::source::amqp::{AmqpSource, AmqpSourceConfig};
use graph_service::source::kafka::{KafkaSource, KafkaSourceConfig};
use graph_service::source::{Shutdown, SourceContext};
use graph_service::store::GraphStore;
use graph_service::store::embedded::EmbeddedStore;
use graph_service::store::neo4j::{Neo4jConfig, Neo4jStore};
use serde_json::json;
use tekton_generate::{GenerateConfig, generate};
use tekton_graph_amqp::{Outgoing, Publisher, PublisherConfig};
use tekton_graph_schema::RunFact;
use tekton_graph_schema::envelope::{STRUCTURED_CONTENT_TYPE, partition_key, to_cloudevent};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn required(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set (scripts/services.sh up; eval \"$(scripts/services.sh env)\")"))
}

fn facts(builds: usize) -> Vec<RunFact> {
    let config = GenerateConfig { pipeline_runs: builds, ..GenerateConfig::default() };
    generate(&config)
        .flat_map(|object| tekton_translate::translate_value(&object).expect("generated objects translate"))
        .collect()
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{:08x}", std::process::id(), rand::random::<u32>())
}

/// Produces the facts to a new 3-partition topic as the harvester does; returns the time it took.
async fn fill_topic(bootstrap: &str, topic: &str, facts: &[RunFact]) -> Duration {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::{FutureProducer, FutureRecord};
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
        .set("acks", "all")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let start = Instant::now();
    for chunk in facts.chunks(5000) {
        let mut pending = Vec::new();
        for fact in chunk {
            let payload = serde_json::to_vec(&to_cloudevent(fact).expect("event")).expect("json");
            let key = partition_key(fact);
            let headers =
                OwnedHeaders::new().insert(Header { key: "content-type", value: Some(STRUCTURED_CONTENT_TYPE) });
            let record = FutureRecord::to(topic).key(&key).payload(&payload).headers(headers);
            pending.push(producer.send_result(record).map_err(|(e, _)| e).expect("enqueue"));
        }
        for delivery in pending {
            delivery.await.expect("delivery").map_err(|(e, _)| e).expect("delivered");
        }
    }
    start.elapsed()
}

/// Declares the queue and publishes the facts with confirms, 500 per call (the harvester's batch); returns the time
/// the publishing took.
async fn fill_queue(config: &AmqpSourceConfig, url: &str, exchange: &str, facts: &[RunFact]) -> Duration {
    tekton_graph_amqp::AmqpSource::new(config).expect("config").declare().await.expect("declare");
    let publisher =
        Publisher::new(PublisherConfig::from_url(&format!("{url}?exchange={exchange}"), "unused").expect("URL"));
    let start = Instant::now();
    for chunk in facts.chunks(500) {
        let messages: Vec<Outgoing> = chunk
            .iter()
            .map(|fact| Outgoing::cloudevent(&to_cloudevent(fact).expect("event"), &[]).expect("message"))
            .collect();
        publisher.publish(&messages).await.expect("published");
    }
    let elapsed = start.elapsed();
    publisher.close().await;
    elapsed
}

/// Runs a source into the store until it applied `n` facts; returns the time from its start.
async fn consume(source: impl Consume, store: Arc<dyn GraphStore>, n: usize) -> Duration {
    let (trigger, shutdown) = Shutdown::new();
    let start = Instant::now();
    let applied = source.start(SourceContext::for_store(store, shutdown));
    while applied() < n as u64 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = start.elapsed();
    trigger.trigger();
    elapsed
}

/// Starts a source in a task; the returned function reads how many facts it applied.
trait Consume {
    fn start(self, cx: SourceContext) -> Box<dyn Fn() -> u64>;
}

impl Consume for KafkaSource {
    fn start(self, cx: SourceContext) -> Box<dyn Fn() -> u64> {
        let stats = self.stats();
        tokio::spawn(self.run(cx));
        Box::new(move || stats.snapshot().applied)
    }
}

impl Consume for AmqpSource {
    fn start(self, cx: SourceContext) -> Box<dyn Fn() -> u64> {
        let stats = self.stats();
        tokio::spawn(self.run(cx));
        Box::new(move || stats.snapshot().applied)
    }
}

struct Best {
    direct: Duration,
    kafka: Duration,
    amqp: Duration,
    kafka_publish: Duration,
    amqp_publish: Duration,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let builds = env_usize("BENCH_PIPELINE_RUNS", 2000);
    let batch = env_usize("BENCH_BATCH", 500);
    let rounds = env_usize("BENCH_ROUNDS", 2);
    let stores = std::env::var("BENCH_STORES").unwrap_or_else(|_| "embedded,neo4j".into());
    let (bootstrap, amqp_url) = (required("KAFKA_BOOTSTRAP"), required("RABBITMQ_URL"));
    let facts = facts(builds);
    let n = facts.len();
    println!("broker ingest: {n} facts from {builds} builds, batches of {batch}, best of {rounds} rounds");
    let mut summary = serde_json::Map::new();
    for store_name in stores.split(',').map(str::trim) {
        let mut best = Best {
            direct: Duration::MAX,
            kafka: Duration::MAX,
            amqp: Duration::MAX,
            kafka_publish: Duration::MAX,
            amqp_publish: Duration::MAX,
        };
        for round in 1..=rounds {
            let dir = tempfile::tempdir().expect("tempdir");
            let fresh = |name: &str| -> Arc<dyn GraphStore> {
                match store_name {
                    "embedded" => Arc::new(
                        EmbeddedStore::open(&dir.path().join(name), ProjectionConfig::default()).expect("embedded"),
                    ),
                    other => panic!("unknown store {other}"),
                }
            };
            let neo4j = if store_name == "neo4j" {
                let config = Neo4jConfig {
                    uri: required("NEO4J_URI"),
                    user: std::env::var("NEO4J_USER").unwrap_or_else(|_| "neo4j".into()),
                    password: required("NEO4J_PASSWORD"),
                    database: None,
                    max_connections: 4,
                    ca_file: None,
                };
                Some(Arc::new(Neo4jStore::connect(&config, ProjectionConfig::default()).await.expect("Neo4j")))
            } else {
                None
            };
            let store = |name: &str| -> Arc<dyn GraphStore> {
                match &neo4j {
                    Some(store) => store.clone(),
                    None => fresh(name),
                }
            };
            let clear = || async {
                if let Some(store) = &neo4j {
                    store.clear().await.expect("clear");
                }
            };

            clear().await;
            let direct_store = store("direct");
            let start = Instant::now();
            for chunk in facts.chunks(batch) {
                direct_store.apply(chunk).await.expect("apply");
            }
            let direct = start.elapsed();

            let topic = unique("bench");
            let kafka_publish = fill_topic(&bootstrap, &topic, &facts).await;
            let mut kafka_config = KafkaSourceConfig::new(bootstrap.clone(), topic.clone());
            kafka_config.group = format!("{topic}-bench");
            kafka_config.batch_size = batch;
            clear().await;
            let kafka = consume(KafkaSource::new(&kafka_config).expect("Kafka source"), store("kafka"), n).await;

            let (queue, exchange) = (unique("bench"), unique("bench-x"));
            let mut amqp_config = AmqpSourceConfig::from_url(
                &format!("{amqp_url}?queue={queue}&exchange={exchange}"),
                "unused",
                "unused",
            )
            .expect("RabbitMQ source URL");
            amqp_config.batch_size = batch;
            let amqp_publish = fill_queue(&amqp_config, &amqp_url, &exchange, &facts).await;
            clear().await;
            let amqp = consume(AmqpSource::new(&amqp_config).expect("RabbitMQ source"), store("amqp"), n).await;
            tekton_graph_amqp::testing::delete(&[&queue, &amqp_config.dlq()], &[&exchange, &amqp_config.dlx]).await;

            println!(
                "{store_name} round {round}: direct {:>7.0}  kafka {:>7.0}  rabbitmq {:>7.0} facts/s  \
                 rabbitmq/kafka {:.2}  |  publish: kafka {:>7.0}  rabbitmq {:>7.0} facts/s",
                rate(n, direct),
                rate(n, kafka),
                rate(n, amqp),
                kafka.as_secs_f64() / amqp.as_secs_f64(),
                rate(n, kafka_publish),
                rate(n, amqp_publish),
            );
            best.direct = best.direct.min(direct);
            best.kafka = best.kafka.min(kafka);
            best.amqp = best.amqp.min(amqp);
            best.kafka_publish = best.kafka_publish.min(kafka_publish);
            best.amqp_publish = best.amqp_publish.min(amqp_publish);
        }
        let ratio = |a: Duration, b: Duration| (a.as_secs_f64() / b.as_secs_f64() * 100.0).round() / 100.0;
        summary.insert(
            store_name.to_string(),
            json!({
                "direct_facts_per_s": rate(n, best.direct).round(),
                "kafka_facts_per_s": rate(n, best.kafka).round(),
                "rabbitmq_facts_per_s": rate(n, best.amqp).round(),
                "ratio_rabbitmq_over_kafka": ratio(best.kafka, best.amqp),
                "ratio_kafka_over_direct": ratio(best.direct, best.kafka),
                "ratio_rabbitmq_over_direct": ratio(best.direct, best.amqp),
                "kafka_publish_facts_per_s": rate(n, best.kafka_publish).round(),
                "rabbitmq_publish_facts_per_s": rate(n, best.amqp_publish).round(),
            }),
        );
    }
    println!("summary: {}", serde_json::Value::Object(summary));
}
