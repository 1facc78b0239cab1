//! What every queue source of tekton-graph shares, whatever the broker: the [`Handler`] a source hands its messages
//! to, how a batch that the handler refuses for good is split to find the messages at fault ([`isolate`]), the
//! [`Shutdown`] signal its tasks wait on, and the [`SourceError`] it stops with.

mod isolate;

use std::future::Future;

pub use isolate::{ApplyError, isolate};

use tokio::sync::watch;

/// What a source hands its messages to.
pub trait Handler: Send + Sync {
    type Item: Send + Sync;
    /// Decodes one message into items; an error (the reason) sends the message to the dead-letter destination.
    fn decode(&self, headers: &[(&str, &[u8])], payload: &[u8]) -> Result<Vec<Self::Item>, String>;
    /// Takes a batch's items durably. A [`ApplyError::Transient`] error is retried with backoff, and the
    /// acknowledgement waits; after a [`ApplyError::Permanent`] one the source splits the batch to find the messages
    /// whose items fail alone, and dead-letters those with the reason.
    fn apply(&self, items: &[Self::Item]) -> impl Future<Output = Result<(), ApplyError>> + Send;
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
    #[error("RabbitMQ: {0}")]
    Amqp(String),
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
