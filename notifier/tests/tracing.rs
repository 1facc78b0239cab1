//! The notifier continues the trace an event carries, read back from a real OpenTelemetry Collector: a
//! `notify` span in the event's trace plans the deliveries, each send is a `deliver` span under it, and a machine
//! channel (a webhook) gets that span's `traceparent` while a chat service (Slack) gets none. Needs
//! `scripts/services.sh up otelcol` and `eval "$(scripts/services.sh env)"`: without them the test fails, never
//! skips.
//!
//! This file holds one test: it installs the process's tracing subscriber, exporting to the collector.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use notifier::Notifier;
use notifier::config::Config;
use notifier::server::{Access, routes};
use poem::test::TestClient;
use support::{Answer, Receiver, env, failed_runs};
use tekton_graph_telemetry::logging::{LogFormat, init};
use tekton_graph_telemetry::testing::{ExportedSpan, exported_spans};
use tekton_graph_telemetry::trace::trace_id;

const WITHIN: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_continue_the_trace_of_their_event() {
    let traces_file = env("OTELCOL_TRACES_FILE");
    // SAFETY: set before anything else in this process runs or reads the environment (one test per binary).
    unsafe { std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", env("OTELCOL_ENDPOINT")) };
    let telemetry = init(LogFormat::Text, "TEST_LOG", "warn", "notifier");
    assert!(telemetry.tracing(), "tracing is on with OTEL_EXPORTER_OTLP_ENDPOINT set");

    let (slack, hook) =
        (Receiver::start(vec![], Answer::new(200, "ok")).await, Receiver::start(vec![], Answer::new(204, "")).await);
    let dir = tempfile::tempdir().expect("tempdir");
    let slack_url = dir.path().join("slack");
    std::fs::write(&slack_url, slack.url("/services/T000/B000/XXXX")).expect("secret file");
    let yaml = format!(
        r#"
channels:
  slack: {{ type: slack, webhookUrl: {{ file: "{slack}" }} }}
  hook: {{ type: webhook, url: "{hook}" }}
triggers:
  run-failed: {{ on: dev.cdevents.pipelinerun.finished.0.2.0 }}
subscriptions:
  - {{ triggers: [run-failed], channels: [slack, hook] }}
"#,
        slack = slack_url.display(),
        hook = hook.url("/hook"),
    );
    let notifier =
        Notifier::start(&Config::parse(&yaml).expect("rule file"), &dir.path().join("outbox.db")).await.expect("start");
    let client = TestClient::new(poem::EndpointExt::map_to_response(routes(
        notifier.clone(),
        Access::Open { reason: "test".into() },
    )));

    // The event as graph-service emits it, in a trace of its own (a fresh one: the collector's file is shared).
    let (trace, emit_span) = (format!("{:032x}", rand::random::<u128>()), format!("{:016x}", rand::random::<u64>()));
    let mut event = failed_runs().await.remove(0);
    event["traceparent"] = format!("00-{trace}-{emit_span}-01").into();
    client
        .post("/events")
        .content_type("application/cloudevents+json")
        .body(serde_json::to_vec(&event).expect("json"))
        .send()
        .await
        .assert_status(http::StatusCode::ACCEPTED);

    let to_hook = hook.wait_for(1, WITHIN).await.remove(0);
    let to_slack = slack.wait_for(1, WITHIN).await.remove(0);
    let passed =
        to_hook.headers.get("traceparent").and_then(|v| v.to_str().ok()).expect("the webhook got a traceparent");
    assert_eq!(trace_id(passed).as_deref(), Some(trace.as_str()), "the webhook continues the event's trace");
    assert!(to_slack.headers.get("traceparent").is_none(), "Slack gets no trace context");

    // `notify` is the child of the event's span; one `deliver` per channel is the child of `notify`, and the
    // webhook's `traceparent` names its own `deliver` span.
    let deadline = tokio::time::Instant::now() + WITHIN;
    let spans = loop {
        tokio::task::block_in_place(|| telemetry.flush());
        let spans: Vec<ExportedSpan> =
            exported_spans(&traces_file).into_iter().filter(|s| s.trace_id == trace).collect();
        if spans.iter().filter(|s| s.name == "deliver").count() == 2 && spans.iter().any(|s| s.name == "notify") {
            break spans;
        }
        let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        assert!(tokio::time::Instant::now() < deadline, "trace {trace} in {traces_file} holds only {names:?}");
        // A poll with a deadline: the collector's file exporter writes on its own schedule and tells no one.
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let notify = spans.iter().find(|s| s.name == "notify").expect("notify");
    assert_eq!((notify.service.as_str(), notify.parent_span_id.as_str()), ("notifier", emit_span.as_str()));
    let delivers: HashMap<&str, &ExportedSpan> =
        spans.iter().filter(|s| s.name == "deliver").map(|s| (s.span_id.as_str(), s)).collect();
    assert!(delivers.values().all(|d| d.parent_span_id == notify.span_id), "each send is a child of notify");
    let hook_span = passed.split('-').nth(2).expect("traceparent parent-id");
    assert!(delivers.contains_key(hook_span), "the webhook's traceparent {passed} names a deliver span");
    tokio::task::block_in_place(|| telemetry.shutdown());
    println!("trace {trace}: event → notify → {} deliveries (webhook got {passed})", delivers.len());
}
