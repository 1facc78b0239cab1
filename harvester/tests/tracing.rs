//! One trace from the harvester to an emitted event, read back from a real OpenTelemetry Collector: `harvester
//! replay` (its own process, exporting as `harvester`) sends facts to a real Kafka topic with their `traceparent`;
//! graph-service's Kafka source (in this process, exporting as `graph-service`) continues each fact's trace, and the
//! event its sensemaker emits to another topic carries that trace on. Needs `scripts/services.sh up` (Kafka and
//! otelcol) and `eval "$(scripts/services.sh env)"`: without them the test fails, never skips.
//!
//! Then the same replay to an HTTP receiver: each batch request carries the `traceparent` of an exported
//! `send batch` span.
//!
//! This file holds one test: it installs the process's tracing subscriber, exporting to the collector.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use graph_service::ingest::Ingestor;
use graph_service::model::ProjectionConfig;
use graph_service::sensemaker::{EmitOutbox, Sensemaker, SensemakerConfig, emitter_from_url};
use graph_service::source::kafka::{KafkaSource, KafkaSourceConfig};
use graph_service::source::{Shutdown, SourceContext};
use graph_service::store::embedded::EmbeddedStore;
use serde_json::Value;
use tekton_graph_kafka::testing::{bootstrap, create_topics, fresh_topic, read};
use tekton_graph_telemetry::logging::{LogFormat, init};
use tekton_graph_telemetry::testing::{ExportedSpan, exported_spans};
use tekton_graph_telemetry::trace::trace_id;

const WITHIN: Duration = Duration::from_secs(60);

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: see `scripts/services.sh env`"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_spans_harvester_kafka_graph_service_and_the_emitted_event() {
    let endpoint = var("OTELCOL_ENDPOINT");
    let traces_file = var("OTELCOL_TRACES_FILE");
    // SAFETY: set before anything else in this process runs or reads the environment (one test per binary).
    unsafe { std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint) };
    let telemetry = init(LogFormat::Text, "TEST_LOG", "warn", "graph-service");
    assert!(telemetry.tracing(), "tracing is on with OTEL_EXPORTER_OTLP_ENDPOINT set");

    let (facts_topic, events_topic) = (fresh_topic("traced-facts"), fresh_topic("traced-events"));
    create_topics(&[&facts_topic, &events_topic], 1).await;
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/seed-conventions");
    let replay = Command::new(env!("CARGO_BIN_EXE_harvester"))
        .args(["replay", seed.to_str().expect("path"), "--sink", &format!("kafka://{}/{facts_topic}", bootstrap())])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env_remove("OTEL_SERVICE_NAME")
        .output()
        .expect("run harvester");
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));

    // graph-service: the Kafka source into the embedded store, emitting to the events topic.
    let dir = tempfile::tempdir().expect("tempdir");
    let emitter = emitter_from_url(&format!("kafka://{}/{events_topic}", bootstrap()), &[]).expect("emitter");
    let outbox = EmitOutbox::open(&dir.path().join("outbox.redb")).expect("outbox");
    let sensemaker = Sensemaker::new(SensemakerConfig::default(), vec![emitter], outbox);
    let store = Arc::new(EmbeddedStore::in_memory(ProjectionConfig::default()));
    let ingest = Arc::new(Ingestor::new(store).with_sensemaker(sensemaker));
    let mut config = KafkaSourceConfig::new(bootstrap(), facts_topic.clone());
    config.group = fresh_topic("traced-group");
    let (stop, shutdown) = Shutdown::new();
    let source = tokio::spawn(KafkaSource::new(&config).expect("source").run(SourceContext { ingest, shutdown }));

    let emitted = read(&events_topic, 1, WITHIN).await.remove(0);
    stop.trigger();
    source.await.expect("source task").expect("source ran");
    let event: Value = serde_json::from_slice(&emitted.payload).expect("the emitted event");
    let traceparent = event["traceparent"].as_str().unwrap_or_else(|| panic!("no traceparent in {event}"));
    assert_eq!(emitted.header("traceparent"), Some(traceparent), "the transport header carries it too");
    let trace = trace_id(traceparent).expect("a valid traceparent");

    // The collector holds one trace: the harvester's span, graph-service's span for the fact (its child), and the
    // emission (the child of that).
    let deadline = tokio::time::Instant::now() + WITHIN;
    let spans = loop {
        // The emission's span ends just after the event is out: export again until it has.
        tokio::task::block_in_place(|| telemetry.flush());
        let spans: Vec<ExportedSpan> =
            exported_spans(&traces_file).into_iter().filter(|s| s.trace_id == trace).collect();
        let names: Vec<(&str, &str)> = spans.iter().map(|s| (s.service.as_str(), s.name.as_str())).collect();
        if ["harvest", "ingest fact", "emit"].iter().all(|n| names.iter().any(|(_, name)| name == n)) {
            break spans;
        }
        assert!(tokio::time::Instant::now() < deadline, "trace {trace} in {traces_file} holds only {names:?}");
        // A poll with a deadline, not a pause: the collector's file exporter writes on its own schedule (every
        // 100 ms) and tells no one, so the file is read again until the trace is complete.
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let by_id: HashMap<&str, &ExportedSpan> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let parent_of =
        |span: &ExportedSpan| by_id.get(span.parent_span_id.as_str()).map(|p| (p.service.as_str(), p.name.as_str()));
    let harvest = spans.iter().find(|s| s.name == "harvest").expect("harvest");
    assert_eq!(harvest.service, "harvester");
    let fact = spans.iter().find(|s| s.name == "ingest fact").expect("ingest fact");
    assert_eq!(fact.service, "graph-service");
    assert_eq!(parent_of(fact), Some(("harvester", "harvest")), "graph-service continues the harvester's span");
    let emit = spans.iter().find(|s| s.name == "emit").expect("emit");
    assert_eq!((emit.service.as_str(), parent_of(emit)), ("graph-service", Some(("graph-service", "ingest fact"))));
    println!("trace {trace}: {} spans, harvester → Kafka → graph-service → emitted event", spans.len());

    http_batches_carry_their_span(&endpoint, &traces_file, &seed).await;
    tokio::task::block_in_place(|| telemetry.shutdown());
}

/// `--sink http://…`: each batch request carries the `traceparent` of a `send batch` span the harvester exported.
async fn http_batches_carry_their_span(endpoint: &str, traces_file: &str, seed: &Path) {
    use poem::listener::{Acceptor, Listener, TcpListener};
    let seen = Arc::new(std::sync::Mutex::new(Vec::<Option<String>>::new()));
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.expect("bind");
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().expect("address");
    let record = seen.clone();
    let app = poem::endpoint::make_sync(move |request: poem::Request| {
        let header = request.headers().get("traceparent").and_then(|v| v.to_str().ok()).map(str::to_string);
        record.lock().expect("seen").push(header);
        poem::http::StatusCode::ACCEPTED
    });
    let server = tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    let replay = Command::new(env!("CARGO_BIN_EXE_harvester"))
        .args(["replay", seed.to_str().expect("path"), "--sink", &format!("http://{addr}/events")])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        .env_remove("OTEL_SERVICE_NAME")
        .output()
        .expect("run harvester");
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
    server.abort();
    let seen = seen.lock().expect("seen").clone();
    assert!(!seen.is_empty(), "the harvester sent no batch");
    // The harvester exported its spans before it exited (its shutdown flushes them); the collector writes them out
    // on its own schedule.
    for traceparent in seen {
        let traceparent = traceparent.expect("every batch request carries a traceparent");
        let (trace, span) = (trace_id(&traceparent).expect("valid"), traceparent.split('-').nth(2).expect("parent-id"));
        let deadline = tokio::time::Instant::now() + WITHIN;
        while !exported_spans(traces_file).iter().any(|s| s.trace_id == trace && s.span_id == span) {
            assert!(tokio::time::Instant::now() < deadline, "no span {span} of trace {trace} in {traces_file}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let batch = exported_spans(traces_file).into_iter().find(|s| s.span_id == span).expect("the span");
        assert_eq!((batch.service.as_str(), batch.name.as_str()), ("harvester", "send batch"));
    }
}
