//! Sources feed facts into the store without HTTP: source → [`crate::ingest`] (decode + validate) →
//! [`Ingestor::apply`](crate::ingest::Ingestor::apply).
//!
//! As in Vector, each source has its own config struct and is handed a [`SourceContext`] (the ingestor and a shutdown
//! signal); sources never refer to each other or to the HTTP server — `main` wires them side by side.
//!
//! * [`kafka`]: a consumer-group member reading fact CloudEvents from a topic, with a dead-letter topic for
//!   messages that are not valid facts and offsets committed only after the store has applied a batch.
//! * [`amqp`]: a competing consumer of a RabbitMQ quorum queue, with a dead-letter exchange for messages that are
//!   not valid facts and acknowledgements only after the store has applied a batch.

pub mod amqp;
pub mod kafka;

use std::sync::Arc;
use std::time::Duration;

use tekton_graph_kafka::{ApplyError, Handler};
use tekton_graph_schema::RunFact;

use crate::ingest::{Ingestor, decode_kafka};
use crate::metrics::{IngestSource, Outcome};
use crate::store::GraphStore;

/// What a source gets from whoever runs it.
#[derive(Clone)]
pub struct SourceContext {
    pub ingest: Arc<Ingestor>,
    pub shutdown: Shutdown,
}

impl SourceContext {
    /// A context that ingests into `store` with default options (no sensemaker).
    pub fn for_store(store: Arc<dyn GraphStore>, shutdown: Shutdown) -> Self {
        SourceContext { ingest: Arc::new(Ingestor::new(store)), shutdown }
    }
}

pub use tekton_graph_kafka::{Shutdown, ShutdownTrigger, SourceError};

/// `--source`: which broker facts come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceConfig {
    Kafka(kafka::KafkaSourceConfig),
    Amqp(amqp::AmqpSourceConfig),
}

impl SourceConfig {
    /// `kafka://…` or `amqp[s]://…`.
    pub fn from_url(url: &str) -> Result<Self, SourceError> {
        if url.starts_with("amqp://") || url.starts_with("amqps://") {
            let config = amqp::AmqpSourceConfig::from_url(
                url,
                tekton_graph_amqp::FACTS_QUEUE,
                tekton_graph_amqp::FACTS_EXCHANGE,
            )?;
            return Ok(SourceConfig::Amqp(config));
        }
        kafka::KafkaSourceConfig::from_url(url).map(SourceConfig::Kafka)
    }

    /// Sets the batch limits of either source.
    pub fn set_batches(&mut self, size: usize, wait: Duration) {
        match self {
            SourceConfig::Kafka(config) => (config.batch_size, config.batch_wait) = (size, wait),
            SourceConfig::Amqp(config) => (config.batch_size, config.batch_wait) = (size, wait),
        }
    }

    /// Runs the source until `cx.shutdown` fires.
    pub async fn run(self, cx: SourceContext) -> Result<(), SourceError> {
        match self {
            SourceConfig::Kafka(config) => kafka::KafkaSource::new(&config)?.run(cx).await,
            SourceConfig::Amqp(config) => amqp::AmqpSource::new(&config)?.run(cx).await,
        }
    }
}

/// Messages are fact CloudEvents (structured or binary mode, headers in the shared shape); a batch is one ingest.
/// A message that is no fact goes to the dead-letter destination, and is counted so.
pub(crate) struct Facts {
    pub(crate) ingest: Arc<Ingestor>,
    pub(crate) source: IngestSource,
}

impl Handler for Facts {
    /// A fact and the trace context it came with.
    type Item = (RunFact, Option<String>);

    fn decode(&self, headers: &[(&str, &[u8])], payload: &[u8]) -> Result<Vec<Self::Item>, String> {
        let metrics = self.ingest.metrics();
        match decode_kafka(headers, payload, self.ingest.options()) {
            Ok(decoded) => {
                metrics.events(self.source, Outcome::UnknownType, decoded.ignored);
                Ok(decoded.facts.into_iter().zip(decoded.traces).collect())
            }
            Err(e) => {
                metrics.events(self.source, Outcome::DeadLettered, 1);
                Err(e.to_string())
            }
        }
    }

    async fn apply(&self, items: &[Self::Item]) -> Result<(), ApplyError> {
        let (facts, traces): (Vec<RunFact>, Vec<Option<String>>) = items.iter().cloned().unzip();
        let report = self.ingest.apply_from(self.source, &facts, &traces).await.map_err(|e| {
            if e.is_permanent() { ApplyError::Permanent(e.to_string()) } else { ApplyError::Transient(e.to_string()) }
        })?;
        tracing::debug!(
            facts = facts.len(),
            applied = report.applied,
            ignored = report.ignored,
            emitted = report.emitted,
            "batch applied"
        );
        Ok(())
    }
}
