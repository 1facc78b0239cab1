//! A Kafka topic: one message per delivery, the rendered JSON body as the value, the event id as the key (the
//! deliveries of one event keep their order), `content-type: application/json` and `idempotency-key` headers (the
//! same for every attempt: a consumer drops the repeat a crash may cause), and `traceparent` when tracing is on. The producer is idempotent with
//! `acks=all`; librdkafka retries within `message.timeout.ms` (the delivery timeout) before an attempt fails.

use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use tekton_graph_schema::kafka::{KafkaOption, parse_brokers_and_topic};

use super::{ChannelError, Outcome};
use crate::config::ChannelConfig;
use crate::outbox::Pending;

pub struct KafkaSender {
    producer: FutureProducer,
    topic: String,
    timeout: Duration,
}

impl KafkaSender {
    pub fn build(name: &str, config: &ChannelConfig, timeout: Duration) -> Result<KafkaSender, ChannelError> {
        let invalid = |reason: String| ChannelError::Invalid { channel: name.to_string(), reason };
        let ChannelConfig::Kafka { brokers, topic, options_file, .. } = config else {
            return Err(invalid("not a Kafka channel".into()));
        };
        parse_brokers_and_topic(&format!("{brokers}/{topic}"))
            .map_err(|why| invalid(format!("`brokers` and `topic`: {why}")))?;
        let options = match options_file {
            Some(path) => KafkaOption::read_file(path).map_err(invalid)?,
            None => Vec::new(),
        };
        let timeout_ms = timeout.as_millis().max(1).to_string();
        let producer = tekton_graph_kafka::producer::producer(
            brokers,
            concat!("tekton-graph-notifier/", env!("CARGO_PKG_VERSION")),
            &[("message.timeout.ms", &timeout_ms), ("linger.ms", "5")],
            &options,
        )
        .map_err(invalid)?;
        Ok(KafkaSender { producer, topic: topic.clone(), timeout })
    }

    pub async fn send(&self, delivery: &Pending) -> Outcome {
        let key = delivery.idempotency_key();
        let mut headers = OwnedHeaders::new()
            .insert(Header { key: "content-type", value: Some("application/json") })
            .insert(Header { key: "idempotency-key", value: Some(&key) });
        // The trace to continue: the `deliver` span's.
        let traceparent = tekton_graph_telemetry::trace::traceparent(&tracing::Span::current());
        if let Some(traceparent) = &traceparent {
            headers = headers.insert(Header { key: "traceparent", value: Some(traceparent) });
        }
        let record = FutureRecord::to(&self.topic).key(&delivery.event_id).payload(&delivery.body).headers(headers);
        match self.producer.send(record, Timeout::After(self.timeout)).await {
            Ok(delivered) => Outcome::Sent {
                response: Some(format!("partition {} offset {}", delivered.partition, delivered.offset)),
                pause: None,
            },
            Err((error, _)) => classify(error),
        }
    }
}

/// Errors no retry can fix: the message is refused as it is, or the producer is not allowed to write.
fn classify(error: KafkaError) -> Outcome {
    let permanent = matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidRecord
                | RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
                | RDKafkaErrorCode::InvalidTopic
        )
    );
    let error = format!("Kafka: {error}");
    if permanent { Outcome::Permanent { error } } else { Outcome::Retry { error, after: None } }
}
