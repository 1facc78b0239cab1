//! `--source kafka://HOST:PORT[,HOST:PORT…]/TOPIC?group=NAME&dlq=TOPIC`: events from a Kafka topic (e.g.
//! graph-service's `--emit kafka://…`), read by the shared consumer-group source: a message that is not a
//! CloudEvent goes to the dead-letter topic with the reason, and offsets are committed only after
//! [`Notifier::accept`] recorded the batch's deliveries. A redelivered message is absorbed (event ids are unique in
//! the outbox).

use std::sync::Arc;

use tekton_graph_kafka::{Handler, KafkaSource, KafkaSourceConfig, Shutdown, SourceError};

use crate::Notifier;
use crate::event::{Incoming, decode_kafka};

/// Consumes `config`'s topic into `notifier` until `shutdown` fires.
pub async fn run(config: &KafkaSourceConfig, notifier: Arc<Notifier>, shutdown: Shutdown) -> Result<(), SourceError> {
    let mut config = config.clone();
    config.client_id = concat!("tekton-graph-notifier/", env!("CARGO_PKG_VERSION")).to_string();
    KafkaSource::new(&config)?.run(&Events(notifier), shutdown).await
}

struct Events(Arc<Notifier>);

impl Handler for Events {
    type Item = Incoming;

    fn decode(&self, headers: &[(&str, &[u8])], payload: &[u8]) -> Result<Vec<Incoming>, String> {
        decode_kafka(headers, payload).map(|event| vec![event]).map_err(|e| e.to_string())
    }

    async fn apply(&self, events: &[Incoming]) -> Result<(), String> {
        for event in events {
            let recorded = self.0.accept(event).await.map_err(|e| format!("event `{}`: {e}", event.id))?;
            tracing::debug!(id = %event.id, queued = recorded.queued, duplicate = recorded.duplicate, "event from Kafka");
        }
        Ok(())
    }
}
