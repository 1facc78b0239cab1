//! The Sensemaker's Kafka emitter against a real broker (`scripts/services.sh up kafka`, then
//! `eval "$(scripts/services.sh env)"`): the events of the seed fixture are produced to a fresh topic and consumed
//! back. Fails (never skips) without `KAFKA_BOOTSTRAP`.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cloudevents::{AttributesReader, Event};
use graph_service::model::ProjectionConfig;
use graph_service::sensemaker::{Change, EmitOutbox, Sensemaker, SensemakerConfig, emitter_from_url};
use graph_service::store::GraphStore;
use graph_service::store::embedded::EmbeddedStore;
use tekton_graph_kafka::testing::{bootstrap, create_topics, fresh_topic, read};
use tekton_graph_schema::kafka::KafkaOption;

const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Reads `count` messages from the beginning of a topic: (key, content-type header, event).
async fn read_back(topic: &str, count: usize) -> Vec<(String, String, Event)> {
    read(topic, count, TEST_TIMEOUT)
        .await
        .into_iter()
        .map(|message| {
            let content_type = message.header("content-type").unwrap_or_default().to_string();
            let event: Event = serde_json::from_slice(&message.payload).expect("CloudEvent");
            (message.key, content_type, event)
        })
        .collect()
}

#[tokio::test]
async fn the_kafka_emitter_produces_structured_events_keyed_by_subject() {
    let topic = fresh_topic("sensemaker");
    create_topics(&[&topic], 3).await;
    let facts = support::seed_facts();
    let store: Arc<dyn GraphStore> = Arc::new(EmbeddedStore::in_memory(ProjectionConfig::default()));
    store.apply(&facts).await.expect("apply");
    let changes: Vec<Change> = facts.iter().map(|f| Change { before: None, after: f.clone(), trace: None }).collect();

    let tuning = [KafkaOption::parse("linger.ms=1").expect("option")];
    let emitter = emitter_from_url(&format!("kafka://{}/{topic}", bootstrap()), &tuning).expect("emitter");
    assert_eq!(emitter.describe(), format!("kafka://{}/{topic}", bootstrap()));
    let outbox = EmitOutbox::in_memory().expect("outbox");
    let sensemaker = Sensemaker::new(SensemakerConfig::default(), vec![emitter], outbox);
    let expected = sensemaker.derive(store.as_ref(), &changes).await.expect("derive");
    let sent = sensemaker.observe(store.as_ref(), &changes).await.expect("observe");
    tokio::time::timeout(TEST_TIMEOUT, sensemaker.flush()).await.expect("in time").expect("flush");
    assert_eq!(sent, expected.len());
    assert_eq!(sensemaker.observe(store.as_ref(), &changes).await.expect("observe"), 0, "already sent");

    let received = read_back(&topic, expected.len()).await;
    let by_id: BTreeMap<String, &(String, String, Event)> =
        received.iter().map(|r| (r.2.id().to_string(), r)).collect();
    assert_eq!(by_id.len(), expected.len(), "each event once");
    for event in &expected {
        let (key, content_type, got) = by_id[event.id()];
        assert_eq!(got, event);
        assert_eq!(Some(key.as_str()), event.subject());
        assert_eq!(content_type, "application/cloudevents+json");
    }

    let refused =
        emitter_from_url(&format!("kafka://{}/{topic}", bootstrap()), &[KafkaOption::parse("acks=1").unwrap()]);
    assert!(refused.err().expect("refused").to_string().contains("acks"));
}
