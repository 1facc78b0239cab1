//! `harvester replay … --sink kafka://…` against a real broker (`scripts/services.sh up`, then
//! `eval "$(scripts/services.sh env)"`), consumed by graph-service's Kafka source in-process, answered in GraphQL.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use graph_service::model::ProjectionConfig;
use graph_service::source::kafka::{KafkaSource, KafkaSourceConfig};
use graph_service::source::{Shutdown, SourceContext};
use graph_service::store::GraphStore;
use graph_service::store::embedded::EmbeddedStore;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use tekton_graph_schema::RunFact;
use tekton_graph_schema::envelope::{STRUCTURED_CONTENT_TYPE, partition_key};

const TIMEOUT: Duration = Duration::from_secs(60);
const SEED_RUNS: usize = 27;

fn bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP").unwrap_or_else(|_| {
        panic!(
            "KAFKA_BOOTSTRAP is not set: start the engines with `scripts/services.sh up` and \
             `eval \"$(scripts/services.sh env)\"`"
        )
    })
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}-{}-{nanos:08x}", std::process::id())
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata")
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_to_kafka_is_consumed_into_the_graph_one_partition_per_pipelinerun() {
    let topic = unique("facts-replay-test");
    create_topic(&topic, 3).await;

    let sink = format!("kafka://{}/{topic}", bootstrap());
    let seed = testdata().join("seed-conventions");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_harvester"))
            .args(["replay", seed.to_str().unwrap(), "--sink", &sink, "--sink-timeout-secs", "30"])
            .output()
            .expect("run harvester")
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "harvester failed: {stderr}");
    assert!(stderr.contains(&format!("replayed {SEED_RUNS} facts from 1 files (0 errors)")), "{stderr}");

    // graph-service's Kafka source, in-process, into an in-memory store.
    let store: Arc<dyn GraphStore> = Arc::new(EmbeddedStore::in_memory(ProjectionConfig::default()));
    let mut config = KafkaSourceConfig::new(bootstrap(), &topic);
    config.group = unique("graph");
    let source = KafkaSource::new(&config).expect("Kafka source");
    let (stop, shutdown) = Shutdown::new();
    let task = tokio::spawn(source.run(SourceContext::for_store(store.clone(), shutdown)));
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let counts = store.counts().await.expect("counts");
        if counts.pipeline_runs + counts.task_runs == SEED_RUNS {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "store holds {counts:?} after {TIMEOUT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.trigger();
    tokio::time::timeout(Duration::from_secs(20), task).await.expect("source stops").unwrap().unwrap();

    let schema = graph_service::api::build_schema(store);
    let response = schema
        .execute(
            r#"{ image(digest: "sha256:b29e0ef986b98535b9cbad3ef3399b2f5dbcfca775f304586e3d5c53f0e6e0e9") {
                   builtBy { name } } }"#,
        )
        .await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let data = response.data.into_json().expect("JSON");
    assert_eq!(data["image"]["builtBy"]["name"], "idec-image-builds-run-fb422", "{data}");

    // Raw: every message is a structured CloudEvent keyed by its PipelineRun, and one key lives in one partition.
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", unique("raw"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let mut partitions: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    let mut pipeline_runs = BTreeSet::new();
    for _ in 0..SEED_RUNS {
        let message = tokio::time::timeout(TIMEOUT, consumer.recv()).await.expect("message in time").expect("message");
        let key = String::from_utf8(message.key().expect("key").to_vec()).expect("UTF-8 key");
        let content_type = message
            .headers()
            .and_then(|h| h.iter().find(|h| h.key == "content-type"))
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).into_owned());
        assert_eq!(content_type.as_deref(), Some(STRUCTURED_CONTENT_TYPE));
        let event: serde_json::Value = serde_json::from_slice(message.payload().expect("payload")).expect("JSON");
        assert_eq!(event["specversion"], "1.0");
        let fact: RunFact = serde_json::from_value(event["data"].clone()).expect("fact in data");
        assert_eq!(key, partition_key(&fact));
        if let Some(owner) = &fact.pipeline_run {
            pipeline_runs.insert(format!("{}/{}", fact.namespace, owner.name));
        }
        partitions.entry(key).or_default().insert(message.partition());
    }
    for (key, found) in &partitions {
        assert_eq!(found.len(), 1, "facts of {key} spread over partitions {found:?}");
    }
    assert_eq!(partitions.len(), 9, "nine PipelineRuns: {:?}", partitions.keys());
    assert!(pipeline_runs.iter().all(|run| partitions.contains_key(run)), "TaskRuns keyed by their PipelineRun");
}

/// No broker on the port (loopback, nothing listening): every fact is reported lost with librdkafka's reason, and
/// the replay exits 1. Needs no running Kafka.
#[test]
fn undeliverable_facts_are_reported_lost() {
    let seed = testdata().join("seed-conventions");
    let output = Command::new(env!("CARGO_BIN_EXE_harvester"))
        .args(["replay", seed.to_str().unwrap(), "--sink", "kafka://127.0.0.1:1/facts", "--sink-timeout-secs", "1"])
        .env("HARVESTER_LOG", "off")
        .output()
        .expect("run harvester");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("error: sink: {SEED_RUNS} events lost: Kafka delivery failed: ")), "{stderr}");
    assert!(stderr.contains("Message timed out"), "the broker's (here: librdkafka's) reason: {stderr}");
    assert!(stderr.contains("replayed 0 facts from 1 files (1 errors)"), "{stderr}");
}

/// The secured listener of the test broker (SASL_SSL, SCRAM-SHA-512, a throwaway CA), from `scripts/services.sh env`.
struct Secured {
    bootstrap: String,
    user: String,
    password: String,
    ca_file: String,
}

fn secured() -> Secured {
    let var =
        |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: see `scripts/services.sh env`"));
    let password = std::fs::read_to_string(var("KAFKA_SASL_PASSWORD_FILE")).expect("the SASL password file");
    Secured {
        bootstrap: var("KAFKA_SASL_BOOTSTRAP"),
        user: var("KAFKA_SASL_USER"),
        password: password.trim().to_string(),
        ca_file: var("KAFKA_CA_FILE"),
    }
}

/// A librdkafka properties file, as a mounted Secret would hold it.
fn options_file(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("# client settings\n{}\n", lines.join("\n"))).expect("options file");
    path
}

async fn replay(sink: String, timeout_secs: u32, extra: Vec<String>) -> (bool, String) {
    let seed = testdata().join("seed-conventions");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_harvester"))
            .args(["replay", seed.to_str().unwrap(), "--sink", &sink, "--sink-timeout-secs", &timeout_secs.to_string()])
            .args(extra)
            .output()
            .expect("run harvester")
    })
    .await
    .unwrap();
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_scram_over_tls_carries_facts_and_refuses_a_wrong_password_or_an_unknown_ca() {
    let secured = secured();
    let topic = unique("facts-sasl-test");
    create_topic(&topic, 3).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = |password: &str, ca: bool| {
        let mut lines = vec![
            "security.protocol=SASL_SSL".to_string(),
            "sasl.mechanism=SCRAM-SHA-512".to_string(),
            format!("sasl.username={}", secured.user),
            format!("sasl.password={password}"),
        ];
        if ca {
            lines.push(format!("ssl.ca.location={}", secured.ca_file));
        }
        lines
    };
    let good = options_file(dir.path(), "good.properties", &settings(&secured.password, true));
    let sink = format!("kafka://{}/{topic}", secured.bootstrap);

    // A secret on the command line is refused before anything connects.
    let (ok, stderr) =
        replay(sink.clone(), 3, vec!["--kafka-option".into(), format!("sasl.password={}", secured.password)]).await;
    assert!(!ok && stderr.contains("`sasl.password` is a secret"), "{stderr}");
    assert!(!stderr.contains(&secured.password), "the secret is not echoed");

    // A wrong password: the broker refuses the SCRAM exchange, nothing is delivered.
    let wrong = options_file(dir.path(), "wrong.properties", &settings("not-the-password", true));
    let (ok, stderr) = replay(sink.clone(), 3, vec!["--kafka-options-file".into(), wrong.display().to_string()]).await;
    assert!(!ok && stderr.contains("replayed 0 facts"), "a wrong password delivered: {stderr}");
    assert!(stderr.contains("Authentication failed during authentication due to invalid credentials"), "{stderr}");
    // Without the test CA the broker's certificate is not trusted.
    let no_ca = options_file(dir.path(), "no-ca.properties", &settings(&secured.password, false));
    let (ok, stderr) = replay(sink.clone(), 3, vec!["--kafka-options-file".into(), no_ca.display().to_string()]).await;
    assert!(!ok && stderr.contains("replayed 0 facts"), "an untrusted broker got facts: {stderr}");
    assert!(stderr.contains("certificate verify failed"), "{stderr}");

    // The right settings from the file: delivered, and consumed over the same listener by graph-service's source.
    let (ok, stderr) = replay(sink, 30, vec!["--kafka-options-file".into(), good.display().to_string()]).await;
    assert!(ok && stderr.contains(&format!("replayed {SEED_RUNS} facts from 1 files (0 errors)")), "{stderr}");
    assert!(!stderr.contains(&secured.password), "the secret is never logged");

    let store: Arc<dyn GraphStore> = Arc::new(EmbeddedStore::in_memory(ProjectionConfig::default()));
    let mut config = KafkaSourceConfig::new(secured.bootstrap.clone(), &topic);
    config.group = unique("graph-sasl");
    config.options = tekton_graph_schema::kafka::OptionsFile::parse(good.to_str().unwrap()).expect("options").0;
    let source = KafkaSource::new(&config).expect("Kafka source");
    let (stop, shutdown) = Shutdown::new();
    let task = tokio::spawn(source.run(SourceContext::for_store(store.clone(), shutdown)));
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let counts = store.counts().await.expect("counts");
        if counts.pipeline_runs + counts.task_runs == SEED_RUNS {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "store holds {counts:?} after {TIMEOUT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.trigger();
    tokio::time::timeout(Duration::from_secs(20), task).await.expect("source stops").unwrap().unwrap();
}
