//! `--source amqp[s]://[USER@]HOST[:PORT]/VHOST?queue=NAME&exchange=NAME&…`: fact CloudEvents from a RabbitMQ quorum
//! queue, read by the shared competing-consumer source ([`tekton_graph_amqp::source`]: batches, a dead-letter
//! exchange for messages that are not valid facts, acknowledgements only after the store applied a batch) into the
//! [`Ingestor`](crate::ingest::Ingestor). Defaults: queue and exchange `tekton-graph.facts` (where the harvester's
//! `--sink amqp://…` publishes).

use std::sync::Arc;

pub use tekton_graph_amqp::{AmqpSourceConfig, AmqpSourceSnapshot, AmqpSourceStats};

use super::{Facts, SourceContext, SourceError};
use crate::metrics::IngestSource;

/// A competing consumer feeding the store.
pub struct AmqpSource(tekton_graph_amqp::AmqpSource);

impl AmqpSource {
    /// Checks the configuration; nothing is contacted until [`AmqpSource::run`].
    pub fn new(config: &AmqpSourceConfig) -> Result<Self, SourceError> {
        let mut config = config.clone();
        config.name = concat!("tekton-graph-service/", env!("CARGO_PKG_VERSION")).to_string();
        Ok(AmqpSource(tekton_graph_amqp::AmqpSource::new(&config)?))
    }

    pub fn stats(&self) -> Arc<AmqpSourceStats> {
        self.0.stats()
    }

    /// Consumes until `cx.shutdown` fires, reconnecting when the broker goes away. Returns an error only if the
    /// broker refuses the queue (e.g. it exists with other arguments) or access to it.
    pub async fn run(self, cx: SourceContext) -> Result<(), SourceError> {
        let stats = self.0.stats();
        // Weak: the registry holds the hook, and the metrics hold the registry.
        let metrics = Arc::downgrade(cx.ingest.metrics());
        cx.ingest.metrics().registry().on_scrape(move || {
            if let (Some(metrics), Some(lag)) = (metrics.upgrade(), stats.snapshot().lag) {
                metrics.lag(IngestSource::Amqp, i64::try_from(lag).unwrap_or(i64::MAX));
            }
        });
        self.0.run(&Facts { ingest: cx.ingest, source: IngestSource::Amqp }, cx.shutdown).await
    }
}
