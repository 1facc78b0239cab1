//! Produces each event as one structured-mode CloudEvent (JSON value, header
//! `content-type: application/cloudevents+json`), keyed by the event's subject so that the events about one run or
//! image keep their order in one partition. The producer is idempotent with `acks=all`; a call returns once every
//! message is acknowledged or has failed (librdkafka retries by itself until `message.timeout.ms`).

use async_trait::async_trait;
use cloudevents::{AttributesReader, Event};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tekton_graph_schema::envelope::STRUCTURED_CONTENT_TYPE;
use tekton_graph_schema::kafka::KafkaOption;

use super::{EmitError, Emitter};

/// Default delivery timeout of one message (librdkafka's own retries included); a Kafka option may change it.
const MESSAGE_TIMEOUT_MS: &str = "15000";

pub struct KafkaEmitter {
    producer: FutureProducer,
    brokers: String,
    topic: String,
}

impl KafkaEmitter {
    pub fn new(brokers: &str, topic: &str, options: &[KafkaOption]) -> Result<Self, EmitError> {
        let producer = tekton_graph_kafka::producer::producer(
            brokers,
            concat!("tekton-graph-sensemaker/", env!("CARGO_PKG_VERSION")),
            &[("message.timeout.ms", MESSAGE_TIMEOUT_MS)],
            options,
        )
        .map_err(EmitError::Client)?;
        Ok(KafkaEmitter { producer, brokers: brokers.to_string(), topic: topic.to_string() })
    }
}

#[async_trait]
impl Emitter for KafkaEmitter {
    async fn emit(&self, events: &[Event]) -> Result<(), EmitError> {
        let mut failures = Vec::new();
        let mut deliveries = Vec::with_capacity(events.len());
        for event in events {
            let payload = serde_json::to_vec(event)
                .map_err(|e| EmitError::Encode { id: event.id().to_string(), reason: e.to_string() })?;
            let key = event.subject().unwrap_or_else(|| event.id()).to_string();
            let mut headers =
                OwnedHeaders::new().insert(Header { key: "content-type", value: Some(STRUCTURED_CONTENT_TYPE) });
            // The trace context also as a transport header (CloudEvents' distributed-tracing extension).
            let traceparent = event.extension("traceparent").map(ToString::to_string);
            if let Some(traceparent) = &traceparent {
                headers = headers.insert(Header { key: "traceparent", value: Some(traceparent.as_str()) });
            }
            let record = FutureRecord::to(&self.topic).key(&key).payload(&payload).headers(headers);
            // Enqueued now, awaited below: all messages of the call are in flight together.
            match self.producer.send_result(record) {
                Ok(delivery) => deliveries.push(delivery),
                Err((error, _)) => failures.push(error.to_string()),
            }
        }
        for delivery in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) => failures.push(error.to_string()),
                Err(canceled) => failures.push(format!("delivery report lost: {canceled}")),
            }
        }
        if failures.is_empty() {
            return Ok(());
        }
        let failed = failures.len();
        failures.sort();
        failures.dedup();
        Err(EmitError::Lost { failed, total: events.len(), reason: failures.join("; ") })
    }

    fn describe(&self) -> String {
        format!("kafka://{}/{}", self.brokers, self.topic)
    }
}
