//! Kafka in and out on the real broker of `scripts/services.sh`: graph-service's real events are produced to a
//! topic (in binary and structured mode) with junk between them; the notifier's Kafka source delivers what its
//! rules ask for to a local webhook and to a Kafka channel (read back from its topic), and sends the junk to the
//! dead-letter topic with the reason. The same events produced again deliver nothing more.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use notifier::Notifier;
use notifier::config::Config;
use serde_json::Value;
use support::{Answer, Receiver, failed_runs};
use tekton_graph_kafka::testing::{bootstrap, create_topics, fresh_topic, produce, read};
use tekton_graph_kafka::{KafkaSourceConfig, Shutdown};

const WITHIN: Duration = Duration::from_secs(60);

/// Produces the events: the first in binary mode (attributes as `ce_*` headers), the rest structured.
async fn produce_events(topic: &str, events: &[Value]) {
    for (i, event) in events.iter().enumerate() {
        let id = event["id"].as_str().expect("id");
        if i == 0 {
            let data = serde_json::to_vec(&event["data"]).expect("data");
            let headers = [
                ("ce_specversion", "1.0"),
                ("ce_id", id),
                ("ce_type", event["type"].as_str().expect("type")),
                ("ce_source", event["source"].as_str().expect("source")),
                ("ce_subject", event["subject"].as_str().unwrap_or("none")),
                ("content-type", "application/json"),
            ];
            produce(topic, id, &data, &headers).await;
        } else {
            let body = serde_json::to_vec(event).expect("json");
            produce(topic, id, &body, &[("content-type", "application/cloudevents+json")]).await;
        }
    }
}

#[tokio::test]
async fn events_from_kafka_are_delivered_to_a_webhook_and_a_kafka_channel_and_junk_is_dead_lettered() {
    let (input, output) = (fresh_topic("notifier-in"), fresh_topic("notifier-out"));
    let dlq = format!("{input}.dlq");
    // One input partition: the marker below is read after every repeat before it.
    create_topics(&[&input], 1).await;
    create_topics(&[&dlq, &output], 2).await;
    let hook = Receiver::start(vec![], Answer::new(200, "ok")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = format!(
        r#"
channels:
  hook: {{ type: webhook, url: "{hook}" }}
  bus: {{ type: kafka, brokers: "{brokers}", topic: "{output}" }}
triggers:
  run-failed:
    on: dev.cdevents.pipelinerun.finished.0.2.0
    when: data.subject.content.outcome != "success"
subscriptions:
  - {{ triggers: [run-failed], channels: [hook, bus] }}
delivery: {{ maxAttempts: 3, firstBackoffMillis: 50, maxBackoffSeconds: 1, timeoutSeconds: 10 }}
"#,
        hook = hook.url("/hook"),
        brokers = bootstrap(),
    );
    let config = Config::parse(&yaml).expect("rule file");
    let notifier = Notifier::start(&config, &dir.path().join("outbox.db")).await.expect("start");

    let failed = failed_runs().await;
    let failed_ids: BTreeSet<String> = failed.iter().map(|e| e["id"].as_str().expect("id").to_string()).collect();
    produce_events(&input, &failed[..1]).await;
    produce(&input, "junk-1", b"not json at all", &[]).await;
    produce_events(&input, &failed[1..]).await;
    produce(&input, "junk-2", br#"{"hello":"no specversion"}"#, &[]).await;

    let mut source = KafkaSourceConfig::new(bootstrap(), &input);
    source.group = format!("{input}-notifier");
    source.batch_wait = Duration::from_millis(50);
    let (stop, shutdown) = Shutdown::new();
    let consumer = tokio::spawn({
        let notifier = notifier.clone();
        async move { notifier::source::run(&notifier::source::SourceConfig::Kafka(source), notifier, shutdown).await }
    });

    let hooked = hook.wait_for(failed.len(), WITHIN).await;
    let hooked_ids: BTreeSet<String> =
        hooked.iter().map(|r| r.body["event"]["id"].as_str().expect("event id").to_string()).collect();
    assert_eq!(hooked_ids, failed_ids, "the webhook got each failed run once, the binary-mode one included");

    let bused = read(&output, failed.len(), WITHIN).await;
    let mut keys = BTreeSet::new();
    for message in &bused {
        let body: Value = serde_json::from_slice(&message.payload).expect("a JSON body");
        assert_eq!(body["trigger"], "run-failed");
        assert_eq!(body["event"]["id"].as_str(), Some(message.key.as_str()), "keyed by the event id");
        assert_eq!(message.header("content-type"), Some("application/json"));
        keys.insert(message.header("idempotency-key").expect("idempotency key").to_string());
    }
    assert_eq!(keys.len(), failed.len(), "one idempotency key per delivery");

    let dead = read(&dlq, 2, WITHIN).await;
    let mut reasons: Vec<(String, String)> =
        dead.iter().map(|m| (m.key.clone(), m.header("dlq-reason").expect("a reason").to_string())).collect();
    reasons.sort();
    assert_eq!(reasons[0].0, "junk-1");
    assert!(reasons[0].1.contains("not JSON"), "{reasons:?}");
    assert_eq!(reasons[1].0, "junk-2");
    assert!(reasons[1].1.contains("specversion"), "{reasons:?}");
    assert!(dead.iter().all(|m| m.header("dlq-topic") == Some(input.as_str())));

    // A redelivery (the same events once more) is absorbed by the outbox: no new deliveries are recorded.
    produce_events(&input, &failed).await;
    let mut marker = support::sensemaker_events().await.into_iter().next().expect("an event");
    marker["id"] = Value::String("marker-after-the-repeats".into());
    produce_events(&input, &[marker]).await;
    support::eventually(WITHIN, "the marker after the repeats to be recorded", || async {
        notifier.outbox().event_seen("marker-after-the-repeats").await.expect("outbox").then_some(())
    })
    .await;
    assert_eq!(hook.received().len(), failed.len(), "the repeats delivered nothing");

    stop.trigger();
    consumer.await.expect("source task").expect("source");
}
