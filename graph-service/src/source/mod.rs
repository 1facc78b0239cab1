//! Sources feed facts into the store without HTTP: source → [`crate::ingest`] (decode + validate) →
//! [`Ingestor::apply`](crate::ingest::Ingestor::apply).
//!
//! As in Vector, each source has its own config struct and is handed a [`SourceContext`] (the ingestor and a shutdown
//! signal); sources never refer to each other or to the HTTP server — `main` wires them side by side.
//!
//! * [`kafka`]: a consumer-group member reading fact CloudEvents from a topic, with a dead-letter topic for
//!   messages that are not valid facts and offsets committed only after the store has applied a batch.

pub mod kafka;

use std::sync::Arc;

use crate::ingest::Ingestor;
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
