//! Kafka for tekton-graph's services: a consumer-group [`source`] that decodes each message, hands batches to a
//! [`Handler`] and commits offsets only after the handler took them (bad messages go to a dead-letter topic
//! with the reason), and the [`producer`] settings every producer of ours enforces.

pub mod binding;
pub mod producer;
pub mod source;
#[cfg(feature = "testing")]
pub mod testing;

pub use binding::cloudevent;
pub use source::{KafkaSource, KafkaSourceConfig, KafkaSourceSnapshot, KafkaSourceStats};
pub use tekton_graph_schema::kafka::KafkaOption;
pub use tekton_graph_source::{ApplyError, Handler, Shutdown, ShutdownTrigger, SourceError};
