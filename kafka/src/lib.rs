//! Kafka for tekton-graph's services: a consumer-group [`source`] that decodes each message, hands batches to a
//! [`source::Handler`] and commits offsets only after the handler took them (bad messages go to a dead-letter topic
//! with the reason), and the [`producer`] settings every producer of ours enforces.

pub mod binding;
pub mod producer;
pub mod source;
#[cfg(feature = "testing")]
pub mod testing;

use tokio::sync::watch;

pub use binding::cloudevent;
pub use source::{Handler, KafkaSource, KafkaSourceConfig, KafkaSourceSnapshot, KafkaSourceStats};
pub use tekton_graph_schema::kafka::KafkaOption;

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
