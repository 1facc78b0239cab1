//! `--sink kafka://HOST:PORT[,HOST:PORT…]/TOPIC`: produces each fact as one structured-mode CloudEvent (JSON value,
//! header `content-type: application/cloudevents+json`) keyed by [`partition_key`], so all facts of one PipelineRun
//! and its TaskRuns land in one partition, in order.
//!
//! The producer is idempotent with `acks=all`: librdkafka retries by itself until `message.timeout.ms`
//! (`--sink-timeout`) has passed; a message that still fails is reported as lost with the broker's reason.
//! Deliveries are awaited in the background, up to [`MAX_IN_FLIGHT`] at a time; `flush` waits for all of them.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use cloudevents::{AttributesReader, Data, Event};
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use tekton_graph_schema::RunFact;
use tekton_graph_schema::envelope::{STRUCTURED_CONTENT_TYPE, partition_key};

use super::SinkError;

/// Messages handed to librdkafka and not yet acknowledged, before `push` waits for the oldest.
const MAX_IN_FLIGHT: usize = 10_000;
/// Producer settings the sink relies on; `--kafka-option` cannot change them.
const ENFORCED: &[(&str, &str)] = &[("enable.idempotence", "true"), ("acks", "all")];

pub use tekton_graph_schema::kafka::KafkaOption;

pub struct KafkaSinkOptions {
    /// Comma-separated `HOST:PORT` bootstrap servers.
    pub brokers: String,
    pub topic: String,
    /// How long librdkafka may try to deliver one message (`message.timeout.ms`).
    pub delivery_timeout: Duration,
    pub options: Vec<KafkaOption>,
}

pub struct KafkaSink {
    producer: FutureProducer,
    topic: String,
    in_flight: VecDeque<DeliveryFuture>,
    /// Deliveries confirmed since the last successful return (kept when a call reports a failure).
    delivered: usize,
}

/// Deliveries that completed during one call: how many succeeded, and the failures grouped by reason.
#[derive(Default)]
struct Outcomes {
    delivered: usize,
    failed: BTreeMap<String, usize>,
}

impl KafkaSink {
    pub fn new(options: KafkaSinkOptions) -> Result<Self, SinkError> {
        for option in &options.options {
            if ENFORCED.iter().any(|(key, _)| *key == option.key) {
                return Err(SinkError::Client(format!("--kafka-option {}: set by the Kafka sink itself", option.key)));
            }
        }
        let producer = match create_producer(&options, "lz4") {
            Ok(producer) => producer,
            // A librdkafka built without LZ4 refuses the setting at creation: send uncompressed instead.
            Err(KafkaError::ClientConfig(_, _, key, _)) if key == "compression.type" => {
                tracing::warn!("librdkafka has no lz4 support: producing uncompressed");
                create_producer(&options, "none").map_err(|e| config_error(e, &options.options))?
            }
            Err(e) => return Err(config_error(e, &options.options)),
        };
        tracing::debug!(brokers = %options.brokers, topic = %options.topic, "Kafka producer ready");
        Ok(KafkaSink { producer, topic: options.topic, in_flight: VecDeque::new(), delivered: 0 })
    }

    /// Hands one event to librdkafka. Returns the deliveries confirmed meanwhile; failed ones are returned as one
    /// [`SinkError::Lost`] per call (with the successes of the same call, which the caller still counts).
    pub async fn push(&mut self, event: Event) -> Result<usize, SinkError> {
        let key = event_key(&event);
        let payload = serde_json::to_vec(&event).map_err(SinkError::Encode)?;
        let traceparent = event.extension("traceparent").map(ToString::to_string);
        let mut outcomes = Outcomes::default();
        loop {
            let mut headers =
                OwnedHeaders::new().insert(Header { key: "content-type", value: Some(STRUCTURED_CONTENT_TYPE) });
            // The trace context also as a transport header (CloudEvents' distributed-tracing extension).
            if let Some(traceparent) = &traceparent {
                headers = headers.insert(Header { key: "traceparent", value: Some(traceparent.as_str()) });
            }
            let record = FutureRecord::to(&self.topic).key(&key).payload(&payload).headers(headers);
            match self.producer.send_result(record) {
                Ok(delivery) => {
                    self.in_flight.push_back(delivery);
                    break;
                }
                // librdkafka's local queue is full: wait for the oldest delivery, then try again.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) if !self.in_flight.is_empty() => {
                    self.await_oldest(&mut outcomes).await;
                }
                Err((error, _)) => {
                    *outcomes.failed.entry(error.to_string()).or_default() += 1;
                    break;
                }
            }
        }
        while self.in_flight.len() > MAX_IN_FLIGHT {
            self.await_oldest(&mut outcomes).await;
        }
        self.collect_ready(&mut outcomes);
        self.report(outcomes)
    }

    /// Waits until every message handed to librdkafka is delivered or has failed.
    pub async fn flush(&mut self) -> Result<usize, SinkError> {
        let mut outcomes = Outcomes::default();
        while !self.in_flight.is_empty() {
            self.await_oldest(&mut outcomes).await;
        }
        self.report(outcomes)
    }

    async fn await_oldest(&mut self, outcomes: &mut Outcomes) {
        if let Some(delivery) = self.in_flight.pop_front() {
            record(delivery.await, outcomes);
        }
    }

    /// Takes the deliveries that are already settled, oldest first, without waiting.
    fn collect_ready(&mut self, outcomes: &mut Outcomes) {
        let mut cx = Context::from_waker(Waker::noop());
        while let Some(front) = self.in_flight.front_mut() {
            match Pin::new(front).poll(&mut cx) {
                Poll::Ready(result) => {
                    self.in_flight.pop_front();
                    record(result, outcomes);
                }
                Poll::Pending => break,
            }
        }
    }

    fn report(&mut self, outcomes: Outcomes) -> Result<usize, SinkError> {
        self.delivered += outcomes.delivered;
        if outcomes.failed.is_empty() {
            return Ok(std::mem::take(&mut self.delivered));
        }
        let events = outcomes.failed.values().sum();
        let reason = outcomes
            .failed
            .into_iter()
            .map(|(reason, n)| if n == 1 { reason } else { format!("{reason} (×{n})") })
            .collect::<Vec<_>>()
            .join("; ");
        Err(SinkError::Lost { broker: "Kafka", events, delivered: std::mem::take(&mut self.delivered), reason })
    }
}

fn create_producer(options: &KafkaSinkOptions, compression: &str) -> Result<FutureProducer, KafkaError> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &options.brokers)
        .set("client.id", concat!("tekton-graph-harvester/", env!("CARGO_PKG_VERSION")))
        .set("linger.ms", "5")
        .set("compression.type", compression)
        .set("message.timeout.ms", options.delivery_timeout.as_millis().max(1).to_string());
    for option in &options.options {
        config.set(&option.key, &option.value);
    }
    for (key, value) in ENFORCED {
        config.set(*key, *value);
    }
    config.create()
}

/// A configuration error, without the value when it is one of the user's (it may be a password).
fn config_error(error: KafkaError, options: &[KafkaOption]) -> SinkError {
    match &error {
        KafkaError::ClientConfig(_, _, key, _) if options.iter().any(|o| &o.key == key) => {
            SinkError::Client(format!("Kafka setting `{key}` from --kafka-option is invalid (value not shown)"))
        }
        _ => SinkError::Client(error.to_string()),
    }
}

fn record(
    result: Result<rdkafka::producer::future_producer::OwnedDeliveryResult, impl fmt::Display>,
    outcomes: &mut Outcomes,
) {
    match result {
        Ok(Ok(_)) => outcomes.delivered += 1,
        Ok(Err((error, _))) => *outcomes.failed.entry(error.to_string()).or_default() += 1,
        Err(canceled) => *outcomes.failed.entry(format!("delivery report lost: {canceled}")).or_default() += 1,
    }
}

/// The partition key of the fact an event carries. Events come from `to_cloudevent`, so the data is a fact; the
/// subject (the run key) is the fallback should it ever not parse.
fn event_key(event: &Event) -> String {
    let fact: Option<RunFact> = match event.data() {
        Some(Data::Json(value)) => serde_json::from_value(value.clone()).ok(),
        Some(Data::String(text)) => serde_json::from_str(text).ok(),
        Some(Data::Binary(bytes)) => serde_json::from_slice(bytes).ok(),
        None => None,
    };
    match fact {
        Some(fact) => partition_key(&fact),
        None => event.subject().unwrap_or_else(|| event.id()).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_hide_their_values() {
        let option = KafkaOption::parse("sasl.password=s3cr=t").unwrap();
        assert_eq!(option.key, "sasl.password");
        assert_eq!(option.value, "s3cr=t");
        assert_eq!(format!("{option:?}"), "sasl.password=<redacted>");
        assert!(KafkaOption::parse("novalue").is_err());
        assert!(KafkaOption::parse("=x").is_err());
    }

    #[test]
    fn enforced_settings_cannot_be_overridden() {
        let options = KafkaSinkOptions {
            brokers: "127.0.0.1:9".into(),
            topic: "facts".into(),
            delivery_timeout: Duration::from_secs(1),
            options: vec![KafkaOption::parse("acks=1").unwrap()],
        };
        let err = KafkaSink::new(options).err().expect("refused");
        assert!(err.to_string().contains("acks"), "{err}");
    }
}
