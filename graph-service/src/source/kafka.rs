//! `--source kafka://HOST:PORT[,HOST:PORT…]/TOPIC?group=NAME&dlq=TOPIC`: fact CloudEvents from a Kafka topic, read by
//! the shared consumer-group source ([`tekton_graph_kafka::source`]: batches, a dead-letter topic for messages that
//! are not valid facts, offsets committed only after the store applied a batch) into the [`Ingestor`](crate::ingest::Ingestor).

use std::sync::Arc;

pub use tekton_graph_kafka::{KafkaOption, KafkaSourceConfig, KafkaSourceSnapshot, KafkaSourceStats};

use super::{Facts, SourceContext, SourceError};
use crate::metrics::IngestSource;

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
        let stats = self.0.stats();
        // Weak: the registry holds the hook, and the metrics hold the registry.
        let metrics = Arc::downgrade(cx.ingest.metrics());
        cx.ingest.metrics().registry().on_scrape(move || {
            if let (Some(metrics), Some(lag)) = (metrics.upgrade(), stats.snapshot().lag) {
                metrics.lag(IngestSource::Kafka, i64::try_from(lag).unwrap_or(i64::MAX));
            }
        });
        self.0.run(&Facts { ingest: cx.ingest, source: IngestSource::Kafka }, cx.shutdown).await
    }
}
