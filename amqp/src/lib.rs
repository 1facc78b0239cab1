//! RabbitMQ (AMQP 0-9-1) for tekton-graph's services: a competing-consumer [`source`] of a quorum queue that hands
//! batches to a [`Handler`] and acknowledges them only after the handler took them (bad messages go to a
//! dead-letter exchange with the reason), a [`publisher`] with confirms, and the CloudEvents [`binding`] both use.
//! Both reconnect with backoff when the broker goes away.

pub mod binding;
pub mod endpoint;
pub mod publisher;
pub mod source;
#[cfg(feature = "testing")]
pub mod testing;

pub use endpoint::Endpoint;
pub use publisher::{Outgoing, PublishError, Publisher, PublisherConfig};
pub use source::{AmqpSource, AmqpSourceConfig, AmqpSourceSnapshot, AmqpSourceStats};
pub use tekton_graph_source::{ApplyError, Handler, Shutdown, ShutdownTrigger, SourceError};

/// The exchange the harvester publishes facts to and graph-service's queue is bound to, unless a URL says otherwise.
pub const FACTS_EXCHANGE: &str = "tekton-graph.facts";
/// graph-service's queue of facts.
pub const FACTS_QUEUE: &str = "tekton-graph.facts";
/// The exchange graph-service emits what it learned to, and the notifier's queue is bound to.
pub const EVENTS_EXCHANGE: &str = "tekton-graph.events";
/// The notifier's queue of events.
pub const EVENTS_QUEUE: &str = "tekton-graph.notifier";
