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

use tokio::sync::watch;

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

/// Tells every holder of a [`Shutdown`] to stop. Dropping it counts as a trigger.
pub struct ShutdownTrigger(watch::Sender<bool>);

impl ShutdownTrigger {
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }
}

/// A shutdown signal that any number of tasks can wait on.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger(tx), Shutdown(rx))
    }

    pub fn is_triggered(&self) -> bool {
        *self.0.borrow() || self.0.has_changed().is_err()
    }

    /// Resolves once shutdown was triggered (or the trigger dropped). Cancel-safe.
    pub async fn wait(&self) {
        let mut rx = self.0.clone();
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

/// Why a source could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("invalid source configuration: {0}")]
    Config(String),
    #[error("Kafka: {0}")]
    Kafka(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shutdown_reaches_every_clone() {
        let (trigger, shutdown) = Shutdown::new();
        let other = shutdown.clone();
        assert!(!shutdown.is_triggered());
        let waiter = tokio::spawn(async move { other.wait().await });
        trigger.trigger();
        waiter.await.unwrap();
        assert!(shutdown.is_triggered());
        shutdown.wait().await;
    }

    #[tokio::test]
    async fn a_dropped_trigger_stops_too() {
        let (trigger, shutdown) = Shutdown::new();
        drop(trigger);
        shutdown.wait().await;
        assert!(shutdown.is_triggered());
    }
}
