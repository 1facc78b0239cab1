//! RabbitMQ between graph-service and the notifier, on the real broker of `scripts/services.sh`: graph-service's
//! own emitter (`--emit amqp://…`) publishes its real events to an exchange, with junk between them; the notifier's
//! RabbitMQ source (a quorum queue bound to that exchange) delivers what its rules ask for to a local webhook and
//! dead-letters the junk with the reason. The same events published again deliver nothing more.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use cloudevents::Event;
use graph_service::sensemaker::emitter_from_url;
use lapin::BasicProperties;
use lapin::types::AMQPValue;
use notifier::Notifier;
use notifier::config::Config;
use notifier::source::SourceConfig;
use serde_json::Value;
use support::{Answer, Receiver, failed_runs};
use tekton_graph_amqp::testing::{broker_url, depth, drain, fresh_name, publish};
use tekton_graph_amqp::{AmqpSource, Shutdown};

const WITHIN: Duration = Duration::from_secs(60);

fn reason(properties: &BasicProperties) -> String {
    match properties.headers().as_ref().and_then(|h| h.inner().get(tekton_graph_amqp::source::REASON_HEADER)) {
        Some(AMQPValue::LongString(text)) => text.to_string(),
        other => panic!("no reason header: {other:?}"),
    }
}

#[tokio::test]
async fn events_emitted_to_rabbitmq_reach_the_webhook_once_and_junk_is_dead_lettered() {
    let (queue, exchange) = (fresh_name("notifier"), fresh_name("events-x"));
    let url = format!("{}?queue={queue}&exchange={exchange}", broker_url());
    let SourceConfig::Amqp(mut amqp) = SourceConfig::from_url(&url).expect("source URL") else {
        panic!("an amqp:// URL makes a RabbitMQ source")
    };
    amqp.batch_wait = Duration::from_millis(50);
    AmqpSource::new(&amqp).expect("config").declare().await.expect("declare the queue");

    let hook = Receiver::start(vec![], Answer::new(200, "ok")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = format!(
        r#"
channels:
  hook: {{ type: webhook, url: "{hook}" }}
triggers:
  run-failed:
    on: dev.cdevents.pipelinerun.finished.0.2.0
    when: data.subject.content.outcome != "success"
subscriptions:
  - {{ triggers: [run-failed], channels: [hook] }}
delivery: {{ maxAttempts: 3, firstBackoffMillis: 50, maxBackoffSeconds: 1, timeoutSeconds: 10 }}
"#,
        hook = hook.url("/hook"),
    );
    let config = Config::parse(&yaml).expect("rule file");
    let notifier = Notifier::start(&config, &dir.path().join("outbox.db")).await.expect("start");

    let failed = failed_runs().await;
    let failed_ids: BTreeSet<String> = failed.iter().map(|e| e["id"].as_str().expect("id").to_string()).collect();
    let events: Vec<Event> = support::sensemaker_events()
        .await
        .into_iter()
        .map(|e| serde_json::from_value(e).expect("a CloudEvent"))
        .collect();
    let emitter = emitter_from_url(&format!("{}?exchange={exchange}", broker_url()), &[]).expect("emitter");
    assert!(!emitter.describe().contains(&broker_password()), "no password in {}", emitter.describe());
    emitter.emit(&events[..1]).await.expect("emitted");
    publish(&exchange, "junk", b"not json at all", BasicProperties::default()).await;
    emitter.emit(&events[1..]).await.expect("emitted");
    publish(&exchange, "junk", br#"{"hello":"no specversion"}"#, BasicProperties::default()).await;

    let (stop, shutdown) = Shutdown::new();
    let consumer = tokio::spawn({
        let (notifier, source) = (notifier.clone(), SourceConfig::Amqp(amqp.clone()));
        async move { notifier::source::run(&source, notifier, shutdown).await }
    });
    let hooked = hook.wait_for(failed.len(), WITHIN).await;
    let hooked_ids: BTreeSet<String> =
        hooked.iter().map(|r| r.body["event"]["id"].as_str().expect("event id").to_string()).collect();
    assert_eq!(hooked_ids, failed_ids, "the webhook got each failed run once");

    let dead = drain(&amqp.dlq(), 2, WITHIN).await;
    let mut reasons: Vec<(Vec<u8>, String)> = dead.iter().map(|d| (d.data.clone(), reason(&d.properties))).collect();
    reasons.sort();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    // Sorted by body: `not json…` before `{"hello"…}`.
    assert!(reasons[0].1.contains("not JSON"), "{reasons:?}");
    assert!(reasons[1].1.contains("specversion"), "{reasons:?}");

    // A redelivery (the same events once more) is absorbed by the outbox: no new deliveries are recorded.
    emitter.emit(&events).await.expect("emitted again");
    let mut marker = support::sensemaker_events().await.into_iter().next().expect("an event");
    marker["id"] = Value::String("marker-after-the-repeats".into());
    emitter.emit(&[serde_json::from_value(marker).expect("event")]).await.expect("marker");
    support::eventually(WITHIN, "the marker after the repeats to be recorded", || async {
        notifier.outbox().event_seen("marker-after-the-repeats").await.expect("outbox").then_some(())
    })
    .await;
    assert_eq!(hook.received().len(), failed.len(), "the repeats delivered nothing");
    stop.trigger();
    consumer.await.expect("source task").expect("source");
    assert_eq!(depth(&queue).await, 0, "every message acknowledged");
    tekton_graph_amqp::testing::delete(&[&queue, &amqp.dlq()], &[&exchange, &amqp.dlx]).await;
}

fn broker_password() -> String {
    url::Url::parse(&broker_url()).ok().and_then(|u| u.password().map(str::to_string)).unwrap_or_else(|| "\u{0}".into())
}
