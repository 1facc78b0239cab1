//! The Sensemaker: when the graph learns something, tell the world as CloudEvents.
//!
//! The ingest path calls [`Sensemaker::observe`] after a successful [`GraphStore::apply`] with the runs whose
//! newest observation changed ([`Change`]). [`rules`] derives the events those changes imply, reading the store for
//! context (previous run of a pipeline, scans of images); [`emit`] sends them to the configured sinks.
//!
//! | type | when | subject |
//! |---|---|---|
//! | `dev.cdevents.pipelinerun.finished.0.2.0` | a PipelineRun became final, or its final outcome changed | `namespace/name` |
//! | `dev.cdevents.artifact.published.0.2.0` | a run reports an image its previous observation did not | purl |
//! | `dev.tektongraph.run.regressed.v1` | a finished PipelineRun is worse than the previous run of its pipeline | `namespace/name` |
//! | `dev.tektongraph.image.vulnerabilities.increased.v1` | an image has more critical or high findings than the previous image of its pipeline | purl |
//!
//! The two CDEvents follow spec 0.4.1 (context key `version`, `subject.type`, `content.url`); the CloudEvent's data
//! is the whole CDEvent. They are built with `serde_json`, not the `cdevents-sdk` crate: its 0.4 line builds 0.5
//! contexts and cannot set the `subject.type` that 0.4.1 requires (the tests parse our events with it instead).
//!
//! # Delivery
//!
//! Event ids are deterministic — a hash of the type, the subject and the fields that decided the event — and so are
//! the event times (taken from the facts). A repeated fact is ignored by the store and never becomes a [`Change`];
//! a redelivered change yields the same ids, which downstream consumers can de-duplicate on, and within one process
//! a bounded set of recently sent ids drops repeats before they are queued.
//!
//! Emission goes through a durable [`outbox`]: ingest writes its changes down before the store applies them and its
//! events after, then returns; one [`dispatch`] task per sink sends them, retrying transient failures with
//! exponential backoff and jitter for as long as it takes. So ingest never waits on a receiver, a receiver that is
//! down only delays its own events, and an event is never dropped: it is sent **at least once** (a crash after a
//! send and before its row is removed sends it again, with the same id), or kept among the outbox's dead with the
//! reason when the sink refused it for good.

pub mod dispatch;
pub mod emit;
pub mod outbox;
pub mod rules;

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloudevents::{AttributesReader, Event};
use serde::{Deserialize, Serialize};
use tekton_graph_schema::{RunFact, RunKey};
use tokio::sync::{Notify, watch};

pub use emit::{EmitError, Emitter, emitter_from_url};
pub use outbox::{DeadEvent, EmitOutbox, OutboxCounts, OutboxError};

use crate::metrics::ServiceMetrics;
use crate::store::{GraphStore, StoreError};

/// One run whose newest observation changed in an apply: what was stored before (None if new) and what won.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub before: Option<RunFact>,
    pub after: RunFact,
    /// The W3C trace context of the ingest that made the change: its events continue that trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

/// Settings of the Sensemaker.
#[derive(Debug, Clone, PartialEq)]
pub struct SensemakerConfig {
    /// CloudEvent / CDEvent `source` of every event: who is speaking.
    pub source: String,
    /// Base URL under which this graph-service is reachable by the events' readers (links point to `<url>/graphql`).
    pub public_url: String,
    /// A run is a duration regression when it took more than `previous × duration_factor` …
    pub duration_factor: f64,
    /// … and more than `previous + duration_min_seconds` (short runs jitter by large factors).
    pub duration_min_seconds: f64,
    /// How many recently sent event ids are remembered to drop repeats.
    pub recent_ids: usize,
    /// Most events one sink is sent at a time.
    pub batch_size: usize,
    /// First retry delay after a transient failure; grows exponentially (with jitter) up to `max_backoff`, and
    /// retries go on until the sink takes the events.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for SensemakerConfig {
    fn default() -> Self {
        SensemakerConfig {
            source: "/tekton-graph".into(),
            public_url: "http://localhost:8080".into(),
            duration_factor: 1.5,
            duration_min_seconds: 30.0,
            recent_ids: 10_000,
            batch_size: 100,
            first_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SensemakerError {
    #[error("reading the graph for context: {0}")]
    Store(#[from] StoreError),
    #[error("building event `{ty}`: {reason}")]
    Build { ty: String, reason: String },
    #[error(transparent)]
    Outbox(#[from] OutboxError),
}

/// Turns changes into events and queues them for its sinks, whose dispatchers send them.
pub struct Sensemaker {
    config: SensemakerConfig,
    sinks: Vec<String>,
    outbox: EmitOutbox,
    recent: Mutex<RecentIds>,
    wakes: Vec<Arc<Notify>>,
    progress: watch::Sender<u64>,
    dispatchers: Vec<tokio::task::JoinHandle<()>>,
}

impl Sensemaker {
    /// A Sensemaker queueing into `outbox`, with one dispatcher task per emitter (spawned here: call it inside a
    /// Tokio runtime). The dispatchers start with what an earlier process left in the outbox.
    pub fn new(config: SensemakerConfig, emitters: Vec<Box<dyn Emitter>>, outbox: EmitOutbox) -> Self {
        Sensemaker::with_metrics(config, emitters, outbox, Arc::new(ServiceMetrics::new()))
    }

    /// [`Sensemaker::new`], counting what the dispatchers deliver into `metrics`.
    pub fn with_metrics(
        config: SensemakerConfig,
        emitters: Vec<Box<dyn Emitter>>,
        outbox: EmitOutbox,
        metrics: Arc<ServiceMetrics>,
    ) -> Self {
        let recent = Mutex::new(RecentIds::new(config.recent_ids));
        let (progress, _) = watch::channel(0);
        let mut sinks = Vec::new();
        let mut wakes = Vec::new();
        let mut dispatchers = Vec::new();
        for emitter in emitters {
            let sink = emitter.describe();
            let wake = Arc::new(Notify::new());
            let dispatcher = dispatch::Dispatcher {
                sink: sink.clone(),
                emitter,
                outbox: outbox.clone(),
                wake: wake.clone(),
                progress: progress.clone(),
                batch_size: config.batch_size.max(1),
                first_backoff: config.first_backoff,
                max_backoff: config.max_backoff,
                metrics: metrics.clone(),
            };
            dispatchers.push(tokio::spawn(dispatcher.run()));
            sinks.push(sink);
            wakes.push(wake);
        }
        Sensemaker { config, sinks, outbox, recent, wakes, progress, dispatchers }
    }

    pub fn config(&self) -> &SensemakerConfig {
        &self.config
    }

    pub fn outbox(&self) -> &EmitOutbox {
        &self.outbox
    }

    /// Where the events go, as the emitters describe themselves (the outbox's sink names).
    pub fn sinks(&self) -> &[String] {
        &self.sinks
    }

    /// Derives the events these changes imply (reading the store for context). Deterministic.
    pub async fn derive(&self, store: &dyn GraphStore, changes: &[Change]) -> Result<Vec<Event>, SensemakerError> {
        rules::derive(&self.config, store, changes).await
    }

    /// Writes down the changes an apply is about to make (None when there is nowhere to emit to).
    pub async fn intend(&self, changes: &[Change]) -> Result<Option<u64>, SensemakerError> {
        if self.sinks.is_empty() || changes.is_empty() {
            return Ok(None);
        }
        let changes = changes.to_vec();
        Ok(Some(self.outbox.blocking(move |outbox| outbox.intend(&changes)).await?))
    }

    /// Forgets the intent of an apply that failed.
    pub async fn abandon(&self, intent: Option<u64>) -> Result<(), SensemakerError> {
        let Some(intent) = intent else { return Ok(()) };
        Ok(self.outbox.blocking(move |outbox| outbox.abandon(intent)).await?)
    }

    /// After the apply: derives the intent's events and queues those not sent recently, durably, in place of the
    /// intent. Returns how many were queued. On an error the intent stays, for [`Sensemaker::recover`].
    pub async fn settle(
        &self,
        store: &dyn GraphStore,
        intent: Option<u64>,
        changes: &[Change],
    ) -> Result<usize, SensemakerError> {
        let Some(intent) = intent else { return Ok(0) };
        let events = self.derive(store, changes).await?;
        let fresh = self.claim(events);
        let queued = fresh.len();
        let sinks = self.sinks.clone();
        let settled = {
            let fresh = fresh.clone();
            self.outbox.blocking(move |outbox| outbox.settle(intent, &fresh, &sinks)).await
        };
        if let Err(error) = settled {
            self.release(&fresh);
            return Err(error.into());
        }
        for wake in &self.wakes {
            wake.notify_one();
        }
        Ok(queued)
    }

    /// [`Sensemaker::intend`] and [`Sensemaker::settle`] for changes applied elsewhere.
    pub async fn observe(&self, store: &dyn GraphStore, changes: &[Change]) -> Result<usize, SensemakerError> {
        let intent = self.intend(changes).await?;
        self.settle(store, intent, changes).await
    }

    /// Settles what a crash left between an apply and its events: the changes whose winning observation the store
    /// holds are derived and queued; intents whose apply never happened are dropped (their input was not
    /// acknowledged). Returns how many events were queued.
    pub async fn recover(&self, store: &dyn GraphStore) -> Result<usize, SensemakerError> {
        let intents = self.outbox.blocking(|outbox| outbox.intents()).await?;
        let mut queued = 0;
        for (intent, changes) in intents {
            let keys: Vec<RunKey> = changes.iter().map(|c| c.after.key()).collect();
            let stored = store.facts(&keys).await?;
            let applied: Vec<Change> = changes
                .into_iter()
                .zip(stored)
                .filter(|(change, stored)| {
                    stored.as_ref().is_some_and(|s| s.compare_observations(&change.after).is_ge())
                })
                .map(|(change, _)| change)
                .collect();
            if applied.is_empty() || self.sinks.is_empty() {
                self.abandon(Some(intent)).await?;
            } else {
                queued += self.settle(store, Some(intent), &applied).await?;
            }
        }
        Ok(queued)
    }

    /// Waits until no event is waiting for a sink (sent, or dead).
    pub async fn flush(&self) -> Result<(), SensemakerError> {
        let mut progress = self.progress.subscribe();
        loop {
            if self.outbox.blocking(|outbox| outbox.counts()).await?.pending == 0 {
                return Ok(());
            }
            // The sender lives in self, so this only ends when a dispatcher made progress.
            let _ = progress.changed().await;
        }
    }

    /// Stops the dispatchers and waits until they let go of the outbox (so that the file can be opened again).
    pub async fn stop(mut self) {
        for dispatcher in std::mem::take(&mut self.dispatchers) {
            dispatcher.abort();
            let _ = dispatcher.await;
        }
    }

    /// Keeps the events whose ids were not sent recently, and marks them sent (before queueing, so that two
    /// concurrent settles of one change do not both queue it).
    fn claim(&self, events: Vec<Event>) -> Vec<Event> {
        let mut recent = self.recent.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        events.into_iter().filter(|e| recent.insert(e.id())).collect()
    }

    fn release(&self, events: &[Event]) {
        let mut recent = self.recent.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for event in events {
            recent.remove(event.id());
        }
    }
}

impl Drop for Sensemaker {
    fn drop(&mut self) {
        for dispatcher in &self.dispatchers {
            dispatcher.abort();
        }
    }
}

/// A bounded set of ids: the oldest is forgotten when a new one does not fit.
struct RecentIds {
    capacity: usize,
    order: VecDeque<String>,
    ids: HashSet<String>,
}

impl RecentIds {
    fn new(capacity: usize) -> Self {
        RecentIds { capacity, order: VecDeque::new(), ids: HashSet::new() }
    }

    /// True when the id was not in the set.
    fn insert(&mut self, id: &str) -> bool {
        if self.capacity == 0 || self.ids.contains(id) {
            return self.capacity == 0;
        }
        while self.order.len() >= self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
        self.order.push_back(id.to_string());
        self.ids.insert(id.to_string());
        true
    }

    fn remove(&mut self, id: &str) {
        if self.ids.remove(id) {
            self.order.retain(|o| o != id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_ids_are_bounded_and_forget_the_oldest() {
        let mut recent = RecentIds::new(2);
        assert!(recent.insert("a"));
        assert!(!recent.insert("a"));
        assert!(recent.insert("b"));
        assert!(recent.insert("c"));
        assert!(recent.insert("a"), "a was forgotten when c came");
        recent.remove("c");
        assert!(recent.insert("c"));
        assert!(RecentIds::new(0).insert("x") && RecentIds::new(0).insert("x"));
    }
}
