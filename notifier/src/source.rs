//! `--source`: events from a broker (e.g. graph-service's `--emit kafka://…` or `--emit amqp://…`).
//!
//! * `kafka://HOST:PORT[,HOST:PORT…]/TOPIC?group=NAME&dlq=TOPIC`: the shared consumer-group source.
//! * `amqp[s]://[USER@]HOST[:PORT]/VHOST?queue=NAME&exchange=NAME&…`: the shared RabbitMQ source, a quorum queue
//!   (default `tekton-graph.notifier`) bound to graph-service's exchange (default `tekton-graph.events`).
//!
//! Either way a message that is not a CloudEvent goes to the dead-letter destination with the reason, and a batch
//! is committed or acknowledged only after [`Notifier::accept`] recorded its deliveries. A redelivered message is
//! absorbed (event ids are unique in the outbox).

use std::sync::Arc;

use tekton_graph_amqp::{AmqpSource, AmqpSourceConfig};
use tekton_graph_kafka::{ApplyError, Handler, KafkaOption, KafkaSource, KafkaSourceConfig, Shutdown, SourceError};

use crate::event::{Incoming, decode_kafka};
use crate::{AcceptError, Notifier};

/// Which broker events come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceConfig {
    Kafka(KafkaSourceConfig),
    Amqp(AmqpSourceConfig),
}

impl SourceConfig {
    /// `kafka://…` or `amqp[s]://…`.
    pub fn from_url(url: &str) -> Result<Self, SourceError> {
        if url.starts_with("amqp://") || url.starts_with("amqps://") {
            let config =
                AmqpSourceConfig::from_url(url, tekton_graph_amqp::EVENTS_QUEUE, tekton_graph_amqp::EVENTS_EXCHANGE)?;
            return Ok(SourceConfig::Amqp(config));
        }
        KafkaSourceConfig::from_url(url).map(SourceConfig::Kafka)
    }

    /// librdkafka settings for a Kafka source; refused for the others.
    pub fn with_kafka_options(mut self, options: Vec<KafkaOption>) -> Result<Self, SourceError> {
        match &mut self {
            SourceConfig::Kafka(config) => config.options = options,
            SourceConfig::Amqp(_) if !options.is_empty() => {
                return Err(SourceError::Config("Kafka options are for a kafka:// source, not amqp://".into()));
            }
            SourceConfig::Amqp(_) => {}
        }
        Ok(self)
    }
}

/// Consumes `config`'s topic or queue into `notifier` until `shutdown` fires.
pub async fn run(config: &SourceConfig, notifier: Arc<Notifier>, shutdown: Shutdown) -> Result<(), SourceError> {
    let name = concat!("tekton-graph-notifier/", env!("CARGO_PKG_VERSION")).to_string();
    match config {
        SourceConfig::Kafka(config) => {
            let mut config = config.clone();
            config.client_id = name;
            KafkaSource::new(&config)?.run(&Events { notifier, source: "kafka" }, shutdown).await
        }
        SourceConfig::Amqp(config) => {
            let mut config = config.clone();
            config.name = name;
            AmqpSource::new(&config)?.run(&Events { notifier, source: "amqp" }, shutdown).await
        }
    }
}

struct Events {
    notifier: Arc<Notifier>,
    /// The `source` label of the metrics.
    source: &'static str,
}

impl Handler for Events {
    type Item = Incoming;

    fn decode(&self, headers: &[(&str, &[u8])], payload: &[u8]) -> Result<Vec<Incoming>, String> {
        decode_kafka(headers, payload).map(|event| vec![event]).map_err(|e| {
            self.notifier.metrics().refused(self.source, "dead_lettered");
            e.to_string()
        })
    }

    async fn apply(&self, events: &[Incoming]) -> Result<(), ApplyError> {
        for event in events {
            let recorded = self.notifier.accept(event).await.map_err(|e| {
                let reason = format!("event `{}`: {e}", event.id);
                // The outbox may come back; an event the rules cannot render never will.
                if matches!(e, AcceptError::Outbox(_)) {
                    ApplyError::Transient(reason)
                } else {
                    ApplyError::Permanent(reason)
                }
            })?;
            self.notifier.metrics().accepted(self.source, &recorded);
            tracing::debug!(id = %event.id, queued = recorded.queued, duplicate = recorded.duplicate, "event from a broker");
        }
        Ok(())
    }
}
