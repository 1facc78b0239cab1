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
//! a bounded set of recently sent ids drops repeats before they are sent.
//!
//! Emission is **at most once per process, after retries**: each emitter is retried with exponential backoff, then
//! the failure is logged and the events are dropped (they are not persisted). Ingest never fails because a sink
//! is down: [`Sensemaker::observe`] only returns an error when the store cannot be read.

pub mod emit;
pub mod rules;

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use cloudevents::{AttributesReader, Event};
use tekton_graph_schema::RunFact;

pub use emit::{EmitError, Emitter, emitter_from_url};

use crate::store::{GraphStore, StoreError};

/// One run whose newest observation changed in an apply: what was stored before (None if new) and what won.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub before: Option<RunFact>,
    pub after: RunFact,
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
    /// Retries of one emitter after a transient failure.
    pub retries: usize,
    /// First retry delay; grows exponentially up to `max_backoff`.
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
            retries: 3,
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
}

/// Turns changes into events and sends them.
pub struct Sensemaker {
    config: SensemakerConfig,
    emitters: Vec<Box<dyn Emitter>>,
    recent: Mutex<RecentIds>,
}

impl Sensemaker {
    pub fn new(config: SensemakerConfig, emitters: Vec<Box<dyn Emitter>>) -> Self {
        let recent = Mutex::new(RecentIds::new(config.recent_ids));
        Sensemaker { config, emitters, recent }
    }

    pub fn config(&self) -> &SensemakerConfig {
        &self.config
    }

    /// Derives the events these changes imply (reading the store for context) and sends them. Deterministic.
    pub async fn derive(&self, store: &dyn GraphStore, changes: &[Change]) -> Result<Vec<Event>, SensemakerError> {
        rules::derive(&self.config, store, changes).await
    }

    /// Derives the events and sends those not sent recently to every emitter. Returns how many events every
    /// emitter accepted. Emission failures are logged, not returned (see the module docs).
    pub async fn observe(&self, store: &dyn GraphStore, changes: &[Change]) -> Result<usize, SensemakerError> {
        if self.emitters.is_empty() || changes.is_empty() {
            return Ok(0);
        }
        let events = self.derive(store, changes).await?;
        let fresh = self.claim(events);
        if fresh.is_empty() {
            return Ok(0);
        }
        let mut delivered = true;
        for emitter in &self.emitters {
            delivered &= self.emit_with_retry(emitter.as_ref(), &fresh).await;
        }
        if !delivered {
            // Let a redelivered change try again: its events carry the same ids, so consumers still de-duplicate.
            self.release(&fresh);
            return Ok(0);
        }
        Ok(fresh.len())
    }

    /// Keeps the events whose ids were not sent recently, and marks them sent (before sending, so that two
    /// concurrent observes of one change do not both send it).
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

    /// Sends to one emitter, retrying transient failures; true when it accepted the events.
    async fn emit_with_retry(&self, emitter: &dyn Emitter, events: &[Event]) -> bool {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.config.first_backoff)
            .with_max_delay(self.config.max_backoff)
            .with_max_times(self.config.retries);
        let result = (|| emitter.emit(events))
            .retry(backoff)
            .when(EmitError::is_transient)
            .notify(|error, delay| {
                tracing::warn!(sink = %emitter.describe(), %error, ?delay, "emitting events failed; retrying");
            })
            .await;
        match result {
            Ok(()) => {
                tracing::debug!(sink = %emitter.describe(), events = events.len(), "events emitted");
                true
            }
            Err(error) => {
                tracing::error!(sink = %emitter.describe(), %error, events = events.len(), "events dropped");
                false
            }
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
