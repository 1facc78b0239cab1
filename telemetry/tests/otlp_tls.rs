//! Spans exported over `https://` to a real OpenTelemetry Collector whose certificate a throwaway CA signed
//! (`scripts/services.sh up otelcol`, then `eval "$(scripts/services.sh env)"`; without them the test fails, never
//! skips): trusted through `OTEL_EXPORTER_OTLP_CERTIFICATE`, and refused without it.
//!
//! This file holds one test: it installs the process's tracing subscriber.

use std::time::Duration;

use tekton_graph_telemetry::logging::{LogFormat, init};
use tekton_graph_telemetry::testing::exported_spans;
use tekton_graph_telemetry::trace::{trace_id, traceparent};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: see `scripts/services.sh env`"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_a_collector_over_tls_with_its_ca() {
    let (endpoint, ca, traces_file) = (var("OTELCOL_TLS_ENDPOINT"), var("OTELCOL_CA_FILE"), var("OTELCOL_TRACES_FILE"));
    assert!(endpoint.starts_with("https://"), "{endpoint}");
    // Without the CA the collector's certificate is not trusted: the connection is refused.
    let untrusted = reqwest::Client::new().post(format!("{endpoint}/v1/traces")).send().await;
    assert!(untrusted.is_err_and(|e| format!("{e:?}").contains("Certificate")), "an unknown CA is refused");

    // SAFETY: set before anything else in this process runs or reads the environment (one test per binary).
    unsafe {
        std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint);
        std::env::set_var("OTEL_EXPORTER_OTLP_CERTIFICATE", &ca);
    }
    let telemetry = init(LogFormat::Text, "TEST_LOG", "warn", "telemetry-test");
    assert!(telemetry.tracing(), "tracing is on with an https:// endpoint and its CA");
    let span = tracing::info_span!("over tls");
    let trace = trace_id(&traceparent(&span).expect("a traced span")).expect("trace id");
    drop(span);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        tokio::task::block_in_place(|| telemetry.flush());
        let spans = exported_spans(&traces_file);
        if let Some(span) = spans.iter().find(|s| s.trace_id == trace) {
            assert_eq!((span.service.as_str(), span.name.as_str()), ("telemetry-test", "over tls"));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "trace {trace} never reached {traces_file} over {endpoint}");
        // A poll with a deadline: the collector's file exporter writes on its own schedule and tells no one.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::task::block_in_place(|| telemetry.shutdown());
    println!("trace {trace} exported over {endpoint}");
}
