//! Ingestion: decoded facts → merge of CDEvent observations → [`GraphStore::apply`] → [`Sensemaker`].
//!
//! Every input (HTTP `POST /events`, the Kafka source) goes through one [`Ingestor`], so the rules are the same
//! whichever way a fact arrives:
//!
//! * Facts from Tekton objects are complete observations: they go to the store as they are, and the store keeps
//!   the newest per run.
//! * A CDEvent says only part of the story (`started` knows the start, `finished` the outcome), so a CDEvent fact
//!   is merged into the stored CDEvent observation of the same run before it is applied
//!   ([`tekton_graph_schema::merge::merge_observations`], a join that gives the same result in any order).
//! * When a [`Sensemaker`] is configured, the runs whose newest observation changed are handed to it afterwards,
//!   with what was stored before, so it can say what the graph just learned.
//!
//! The read-merge-apply step holds a lock so that two requests cannot merge into the same stale observation. In a
//! deployment with several graph-service replicas, CDEvents of one run must reach one replica (Kafka partitions by
//! run do that; HTTP behind a load balancer does not): see the README.

pub mod decode;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use tekton_graph_schema::{ObservedFrom, RunFact, RunKey};
use tokio::sync::Mutex;

pub use decode::{DecodeOptions, Decoded, EventError, IngestError, decode_batch, decode_http, decode_kafka};

use crate::live::LiveHub;
use crate::sensemaker::{Change, Sensemaker};
use crate::store::{GraphStore, StoreError};

/// What one ingest did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    /// Facts handed to the store.
    pub received: usize,
    /// Facts that became the newest observation of their run.
    pub applied: usize,
    /// Facts ignored because an equal or newer observation was already stored.
    pub ignored: usize,
    /// Events the sensemaker emitted for this ingest.
    pub emitted: usize,
}

/// The one way into the store.
pub struct Ingestor {
    store: Arc<dyn GraphStore>,
    sensemaker: Option<Sensemaker>,
    options: DecodeOptions,
    merge_lock: Mutex<()>,
    live: LiveHub,
}

impl Ingestor {
    pub fn new(store: Arc<dyn GraphStore>) -> Self {
        Ingestor {
            store,
            sensemaker: None,
            options: DecodeOptions::default(),
            merge_lock: Mutex::new(()),
            live: LiveHub::default(),
        }
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

    /// Applies decoded facts atomically (all or nothing), then tells the sensemaker what changed. A sensemaker
    /// failure is logged, never returned: the facts are in the graph either way.
    pub async fn apply(&self, facts: &[RunFact]) -> Result<IngestReport, StoreError> {
        let received = facts.len();
        let needs_context = self.sensemaker.is_some() || facts.iter().any(|f| f.observed_from == ObservedFrom::CdEvent);
        if !needs_context {
            let stats = self.store.apply(facts).await?;
            if stats.applied > 0 {
                self.live.announce(facts);
            }
            return Ok(IngestReport { received, applied: stats.applied, ignored: stats.ignored, emitted: 0 });
        }
        let (stats, changes) = {
            let _guard = self.merge_lock.lock().await;
            let stored = self.stored(facts).await?;
            let (merged, newest) = merge_batch(&stored, facts);
            let stats = self.store.apply(&merged).await?;
            if stats.applied > 0 {
                self.live.announce(&merged);
            }
            (stats, changes_between(stored, newest))
        };
        let emitted = match &self.sensemaker {
            Some(sensemaker) if !changes.is_empty() => {
                sensemaker.observe(self.store.as_ref(), &changes).await.unwrap_or_else(|error| {
                    tracing::error!(%error, changes = changes.len(), "sensemaker failed; the facts are stored");
                    0
                })
            }
            _ => 0,
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
            Some(previous)
                if fact.observed_from == ObservedFrom::CdEvent && previous.observed_from == ObservedFrom::CdEvent =>
            {
                tekton_graph_schema::merge::merge_observations(previous, fact)
            }
            _ => fact.clone(),
        };
        if newest.get(&key).is_none_or(|previous| fact.compare_observations(previous).is_gt()) {
            newest.insert(key, fact.clone());
        }
        merged.push(fact);
    }
    (merged, newest)
}

/// The runs whose newest observation differs from the stored one.
fn changes_between(mut stored: BTreeMap<RunKey, RunFact>, newest: BTreeMap<RunKey, RunFact>) -> Vec<Change> {
    newest
        .into_iter()
        .filter_map(|(key, after)| {
            let before = stored.remove(&key);
            (before.as_ref() != Some(&after)).then_some(Change { before, after })
        })
        .collect()
}
