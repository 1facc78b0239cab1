//! Ingestion: decoded facts → merge of CDEvent observations → [`GraphStore::apply`] → [`Sensemaker`].
//!
//! Every input (HTTP `POST /events`, the Kafka source) goes through one [`Ingestor`], so the rules are the same
//! whichever way a fact arrives:
//!
//! * Facts from Tekton objects are complete observations: they go to the store as they are, and the store keeps
//!   the newest per run.
//! * A CDEvent says only part of the story (`started` knows the start, `finished` the outcome), so the store joins
//!   a CDEvent fact with the stored CDEvent observation of the same run inside its atomic write
//!   ([`crate::store::observe`]; [`tekton_graph_schema::merge::merge_observations`] gives the same result in any
//!   order), which holds across graph-service replicas.
//! * When a [`Sensemaker`] is configured, the runs whose newest observation is about to change are written to its
//!   outbox before the apply, with what was stored before, and the events they imply replace them after it: what
//!   the graph just learned is queued durably before the input is acknowledged, and sent by the Sensemaker's
//!   dispatchers without holding ingest up.
//!
//! With a Sensemaker, the ingestor reads the stored observations and merges the batch into them itself, to know
//! what changed; that step holds a process lock so that two requests of one replica do not compute their changes
//! from one stale observation. The graph does not depend on it: the store joins again, and a join repeated is the
//! same join. Across replicas, the changes one replica reports can miss what another wrote at the same moment:
//! events of one run are best routed to one replica (Kafka partitions by run do that).

pub mod decode;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use tekton_graph_schema::{RunFact, RunKey};
use tekton_graph_telemetry::trace;
use tokio::sync::Mutex;
use tracing::Instrument;

pub use decode::{DecodeOptions, Decoded, EventError, IngestError, decode_batch, decode_http, decode_kafka};

use crate::live::LiveHub;
use crate::metrics::{IngestSource, Outcome, ServiceMetrics};
use crate::sensemaker::{Change, Sensemaker};
use crate::store::{ApplyStats, GraphStore, StoreError};

/// What one ingest did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    /// Facts handed to the store.
    pub received: usize,
    /// Facts that became the newest observation of their run.
    pub applied: usize,
    /// Facts ignored because an equal or newer observation was already stored.
    pub ignored: usize,
    /// Events the sensemaker queued for its sinks for this ingest (its dispatchers send them).
    pub emitted: usize,
}

/// The one way into the store.
pub struct Ingestor {
    store: Arc<dyn GraphStore>,
    sensemaker: Option<Sensemaker>,
    options: DecodeOptions,
    merge_lock: Mutex<()>,
    live: LiveHub,
    metrics: Arc<ServiceMetrics>,
}

impl Ingestor {
    pub fn new(store: Arc<dyn GraphStore>) -> Self {
        Ingestor {
            store,
            sensemaker: None,
            options: DecodeOptions::default(),
            merge_lock: Mutex::new(()),
            live: LiveHub::default(),
            metrics: Arc::new(ServiceMetrics::new()),
        }
    }

    /// Counts into `metrics` (shared with the sensemaker's dispatchers and `GET /metrics`).
    pub fn with_metrics(mut self, metrics: Arc<ServiceMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn metrics(&self) -> &Arc<ServiceMetrics> {
        &self.metrics
    }

    pub fn with_sensemaker(mut self, sensemaker: Sensemaker) -> Self {
        self.sensemaker = Some(sensemaker);
        self
    }

    pub fn with_options(mut self, options: DecodeOptions) -> Self {
        self.options = options;
        self
    }

    pub fn store(&self) -> &Arc<dyn GraphStore> {
        &self.store
    }

    pub fn options(&self) -> DecodeOptions {
        self.options
    }

    /// Where applied batches are announced (the web UI's live updates).
    pub fn live(&self) -> &LiveHub {
        &self.live
    }

    pub fn sensemaker(&self) -> Option<&Sensemaker> {
        self.sensemaker.as_ref()
    }

    /// Queues the events of what a crash left between an apply and its events (call once at start-up, before any
    /// input is taken). Returns how many events were queued.
    pub async fn recover_emissions(&self) -> Result<usize, crate::sensemaker::SensemakerError> {
        match &self.sensemaker {
            Some(sensemaker) => sensemaker.recover(self.store.as_ref()).await,
            None => Ok(0),
        }
    }

    /// Applies decoded facts atomically (all or nothing) and queues what the sensemaker learns from them. Failing
    /// to write the sensemaker's intent fails the ingest (nothing is applied, the input is not acknowledged); a
    /// failure after the apply is logged and leaves the intent for [`Ingestor::recover_emissions`].
    pub async fn apply(&self, facts: &[RunFact]) -> Result<IngestReport, StoreError> {
        self.apply_from(IngestSource::Direct, facts, &[]).await
    }

    /// [`Ingestor::apply`] of facts from `source`, counted in the metrics. `traces` holds the W3C trace context
    /// each fact came with (aligned with `facts`, or empty): the ingest's span links to each, one span per traced
    /// fact continues its trace, and the events the sensemaker derives continue that.
    pub async fn apply_from(
        &self,
        source: IngestSource,
        facts: &[RunFact],
        traces: &[Option<String>],
    ) -> Result<IngestReport, StoreError> {
        let span = tracing::info_span!("ingest", otel.kind = "consumer", source = source.label(), facts = facts.len());
        traces.iter().flatten().for_each(|traceparent| trace::link_to(&span, traceparent));
        let mut continued = BTreeMap::new();
        let mut fact_spans = Vec::new();
        for (fact, traceparent) in facts.iter().zip(traces) {
            let Some(traceparent) = traceparent else { continue };
            let fact_span =
                tracing::info_span!(parent: None, "ingest fact", source = source.label(), run = %fact.key());
            trace::continue_from(&fact_span, traceparent);
            // Tracing off here: the sender's context still travels on.
            continued.insert(fact.key(), trace::traceparent(&fact_span).unwrap_or_else(|| traceparent.clone()));
            fact_spans.push(fact_span);
        }
        self.metrics.batch(source, facts.len());
        let report = self.apply_counted(facts, &continued).instrument(span).await?;
        drop(fact_spans);
        self.metrics.events(source, Outcome::Applied, report.applied);
        self.metrics.events(source, Outcome::Unchanged, report.ignored);
        Ok(report)
    }

    /// One timed store write.
    async fn store_apply(&self, facts: &[RunFact]) -> Result<ApplyStats, StoreError> {
        let started = std::time::Instant::now();
        let result = self.store.apply(facts).await;
        self.metrics.store_apply(self.store.engine(), started.elapsed(), result.is_ok());
        result
    }

    /// The apply; `traces` maps a run to the trace its events continue.
    async fn apply_counted(
        &self,
        facts: &[RunFact],
        traces: &BTreeMap<RunKey, String>,
    ) -> Result<IngestReport, StoreError> {
        let received = facts.len();
        // The store joins CDEvent observations itself, under its own lock; what was stored before is only needed
        // to tell the Sensemaker what changed.
        if self.sensemaker.is_none() {
            let stats = self.store_apply(facts).await?;
            if stats.applied > 0 {
                self.live.announce(facts);
            }
            return Ok(IngestReport { received, applied: stats.applied, ignored: stats.ignored, emitted: 0 });
        }
        let (stats, intent, changes) = {
            let _guard = self.merge_lock.lock().await;
            let stored = self.stored(facts).await?;
            let (merged, newest) = merge_batch(&stored, facts);
            let changes = changes_between(stored, newest, traces);
            let intent = match &self.sensemaker {
                Some(sensemaker) => sensemaker.intend(&changes).await.map_err(|e| StoreError::Engine(e.to_string()))?,
                None => None,
            };
            let stats = match self.store_apply(&merged).await {
                Ok(stats) => stats,
                Err(error) => {
                    if let Some(sensemaker) = &self.sensemaker
                        && let Err(abandon) = sensemaker.abandon(intent).await
                    {
                        tracing::warn!(error = %abandon, "forgetting the intent of a failed apply failed");
                    }
                    return Err(error);
                }
            };
            if stats.applied > 0 {
                self.live.announce(&merged);
            }
            (stats, intent, changes)
        };
        let emitted = match &self.sensemaker {
            Some(sensemaker) => sensemaker.settle(self.store.as_ref(), intent, &changes).await.unwrap_or_else(|error| {
                tracing::error!(%error, changes = changes.len(), "queueing events failed; the facts are stored and the \
                    changes kept for recovery at the next start");
                0
            }),
            None => 0,
        };
        Ok(IngestReport { received, applied: stats.applied, ignored: stats.ignored, emitted })
    }

    /// The stored observation of every run the facts touch.
    async fn stored(&self, facts: &[RunFact]) -> Result<BTreeMap<RunKey, RunFact>, StoreError> {
        let mut keys: Vec<RunKey> = facts.iter().map(RunFact::key).collect();
        keys.sort();
        keys.dedup();
        let found = self.store.facts(&keys).await?;
        Ok(keys.into_iter().zip(found).filter_map(|(key, fact)| Some((key, fact?))).collect())
    }
}

/// Merges CDEvent facts into the CDEvent observation in hand (stored or earlier in the batch) and tracks the newest
/// observation of each run. Returns the facts to apply and the newest observation per touched run.
fn merge_batch(stored: &BTreeMap<RunKey, RunFact>, facts: &[RunFact]) -> (Vec<RunFact>, BTreeMap<RunKey, RunFact>) {
    let mut newest = stored.clone();
    let mut merged = Vec::with_capacity(facts.len());
    for fact in facts {
        let key = fact.key();
        let fact = match newest.get(&key) {
            Some(previous) => crate::store::observe::joined(previous, std::borrow::Cow::Borrowed(fact)).into_owned(),
            None => fact.clone(),
        };
        if newest.get(&key).is_none_or(|previous| fact.compare_observations(previous).is_gt()) {
            newest.insert(key, fact.clone());
        }
        merged.push(fact);
    }
    (merged, newest)
}

/// The runs whose newest observation differs from the stored one.
fn changes_between(
    mut stored: BTreeMap<RunKey, RunFact>,
    newest: BTreeMap<RunKey, RunFact>,
    traces: &BTreeMap<RunKey, String>,
) -> Vec<Change> {
    newest
        .into_iter()
        .filter_map(|(key, after)| {
            let before = stored.remove(&key);
            let trace = traces.get(&key).cloned();
            (before.as_ref() != Some(&after)).then_some(Change { before, after, trace })
        })
        .collect()
}
