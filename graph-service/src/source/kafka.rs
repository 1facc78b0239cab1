//! `--source kafka://HOST:PORT[,HOST:PORT…]/TOPIC?group=NAME&dlq=TOPIC`: fact CloudEvents from a Kafka topic, read by
//! the shared consumer-group source ([`tekton_graph_kafka::source`]: batches, a dead-letter topic for messages that
//! are not valid facts, offsets committed only after the store applied a batch) into the [`Ingestor`].

use std::sync::Arc;

use tekton_graph_kafka::Handler;
pub use tekton_graph_kafka::{KafkaOption, KafkaSourceConfig, KafkaSourceSnapshot, KafkaSourceStats};
use tekton_graph_schema::RunFact;

use super::{SourceContext, SourceError};
use crate::ingest::{Ingestor, decode_kafka};

/// A consumer-group member feeding the store.
pub struct KafkaSource(tekton_graph_kafka::KafkaSource);

impl KafkaSource {
    /// Creates the consumer and the dead-letter producer; nothing is contacted until [`KafkaSource::run`].
    pub fn new(config: &KafkaSourceConfig) -> Result<Self, SourceError> {
        let mut config = config.clone();
        config.client_id = concat!("tekton-graph-service/", env!("CARGO_PKG_VERSION")).to_string();
        Ok(KafkaSource(tekton_graph_kafka::KafkaSource::new(&config)?))
    }

    pub fn stats(&self) -> Arc<KafkaSourceStats> {
        self.0.stats()
    }

    /// Consumes until `cx.shutdown` fires. Returns an error only if the topic cannot be subscribed to.
    pub async fn run(self, cx: SourceContext) -> Result<(), SourceError> {
        self.0.run(&Facts(cx.ingest), cx.shutdown).await
    }
}

/// Messages are fact CloudEvents (structured or binary mode); a batch is one ingest.
struct Facts(Arc<Ingestor>);

impl Handler for Facts {
    type Item = RunFact;

    fn decode(&self, headers: &[(&str, &[u8])], payload: &[u8]) -> Result<Vec<RunFact>, String> {
        decode_kafka(headers, payload, self.0.options()).map(|decoded| decoded.facts).map_err(|e| e.to_string())
    }

    async fn apply(&self, facts: &[RunFact]) -> Result<(), String> {
        let report = self.0.apply(facts).await.map_err(|e| e.to_string())?;
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
