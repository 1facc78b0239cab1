//! The emission outbox: what the Sensemaker must still send, in a redb file, so that ingest never waits on a
//! receiver and an event is never dropped.
//!
//! Two steps make an ingest's events durable without a transaction across the graph store and this file:
//!
//! 1. Before the store applies a batch, the runs it changes are written down as an **intent** ([`EmitOutbox::intend`]):
//!    what was stored before and what wins.
//! 2. After the apply, the events derived from those changes replace the intent in one transaction
//!    ([`EmitOutbox::settle`]): one row per event and sink.
//!
//! The intent is committed durably (fsync); the settle is not (redb's `Durability::None`): a crash that loses it
//! brings back the durable state before it, which holds the intent, so its events are derived again — one fsync per
//! apply instead of two. The next durable commit (an intent, or a dispatcher removing what it sent) persists it.
//!
//! A crash between the two leaves the intent. On start-up [`crate::ingest::Ingestor::recover_emissions`] derives the
//! events of every intent whose facts the store holds (the apply happened) and drops the others (it did not, so the
//! input was not acknowledged and comes again). Either way the events are derived from the same changes, so they
//! carry the same ids: a receiver may see an event twice after a crash, never zero times.
//!
//! Rows leave the outbox when their sink accepted them, or move to the dead table with the reason when the sink
//! refused them for good (a 4xx other than 429): they stay visible there and are never retried by themselves.

use std::path::Path;
use std::sync::Arc;

use cloudevents::Event;
use redb::backends::InMemoryBackend;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

use super::Change;

/// Intent id → the changes of one apply (JSON).
const INTENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("intents_v1");
/// (sink, sequence) → a structured CloudEvent (JSON) the sink has not accepted yet.
const PENDING: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("pending_v1");
/// (sink, sequence) → a [`DeadEvent`] (JSON): refused for good.
const DEAD: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("dead_v1");
/// Counters: the next intent id and the next event sequence.
const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters_v1");

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("emission outbox {path}: {reason}")]
    Engine { path: String, reason: String },
    #[error("emission outbox {path}: row {key} cannot be read: {reason}")]
    Corrupt { path: String, key: String, reason: String },
}

/// An event a sink refused for good, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadEvent {
    pub event: Event,
    pub reason: String,
}

/// How much is waiting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub intents: u64,
    pub pending: u64,
    pub dead: u64,
}

/// The outbox file (or memory, for tests and `demo` without a data dir).
#[derive(Clone)]
pub struct EmitOutbox {
    db: Arc<Database>,
    path: Arc<str>,
}

impl EmitOutbox {
    /// Opens (or creates) the outbox at `path`.
    pub fn open(path: &Path) -> Result<Self, OutboxError> {
        let shown = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| OutboxError::Engine {
                path: shown.clone(),
                reason: format!("creating its directory: {e}"),
            })?;
        }
        let db =
            Database::create(path).map_err(|e| OutboxError::Engine { path: shown.clone(), reason: e.to_string() })?;
        Self::init(db, shown)
    }

    /// An outbox that lives as long as the process.
    pub fn in_memory() -> Result<Self, OutboxError> {
        let db = Database::builder()
            .create_with_backend(InMemoryBackend::new())
            .map_err(|e| OutboxError::Engine { path: "(memory)".into(), reason: e.to_string() })?;
        Self::init(db, "(memory)".into())
    }

    fn init(db: Database, path: String) -> Result<Self, OutboxError> {
        let outbox = EmitOutbox { db: Arc::new(db), path: path.into() };
        outbox.write(|txn| {
            txn.open_table(INTENTS)?;
            txn.open_table(PENDING)?;
            txn.open_table(DEAD)?;
            txn.open_table(COUNTERS)?;
            Ok(())
        })?;
        Ok(outbox)
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Writes down the changes an apply is about to make; returns the intent's id.
    pub fn intend(&self, changes: &[Change]) -> Result<u64, OutboxError> {
        let json = serde_json::to_vec(changes).map_err(|e| self.engine(format!("encoding an intent: {e}")))?;
        self.write(|txn| {
            let id = next(txn, "intent")?;
            txn.open_table(INTENTS)?.insert(id, json.as_slice())?;
            Ok(id)
        })
    }

    /// Forgets an intent whose apply failed (nothing changed, so nothing is to be said).
    pub fn abandon(&self, intent: u64) -> Result<(), OutboxError> {
        // Not durable: if it is lost, recovery finds the intent's facts unstored and abandons it again.
        self.write_with(Durability::None, |txn| {
            txn.open_table(INTENTS)?.remove(intent)?;
            Ok(())
        })
    }

    /// Replaces the intent by its events, one row per event and sink, in one transaction.
    pub fn settle(&self, intent: u64, events: &[Event], sinks: &[String]) -> Result<(), OutboxError> {
        let encoded = events
            .iter()
            .map(serde_json::to_vec)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.engine(format!("encoding an event: {e}")))?;
        // Not durable (see the module docs): losing it brings the intent back.
        self.write_with(Durability::None, |txn| {
            txn.open_table(INTENTS)?.remove(intent)?;
            let mut pending = txn.open_table(PENDING)?;
            for event in &encoded {
                let seq = next(txn, "event")?;
                for sink in sinks {
                    pending.insert((sink.as_str(), seq), event.as_slice())?;
                }
            }
            Ok(())
        })
    }

    /// The intents a crash left behind, oldest first.
    pub fn intents(&self) -> Result<Vec<(u64, Vec<Change>)>, OutboxError> {
        let txn = self.db.begin_read().map_err(|e| self.engine(e))?;
        let table = txn.open_table(INTENTS).map_err(|e| self.engine(e))?;
        let mut out = Vec::new();
        for row in table.iter().map_err(|e| self.engine(e))? {
            let (id, json) = row.map_err(|e| self.engine(e))?;
            let changes = serde_json::from_slice(json.value()).map_err(|e| OutboxError::Corrupt {
                path: self.path.to_string(),
                key: format!("intent {}", id.value()),
                reason: e.to_string(),
            })?;
            out.push((id.value(), changes));
        }
        Ok(out)
    }

    /// Up to `limit` events waiting for `sink`, oldest first, with their sequence numbers.
    pub fn pending(&self, sink: &str, limit: usize) -> Result<Vec<(u64, Event)>, OutboxError> {
        let txn = self.db.begin_read().map_err(|e| self.engine(e))?;
        let table = txn.open_table(PENDING).map_err(|e| self.engine(e))?;
        let mut out = Vec::new();
        for row in table.range((sink, 0)..=(sink, u64::MAX)).map_err(|e| self.engine(e))?.take(limit) {
            let (key, json) = row.map_err(|e| self.engine(e))?;
            let seq = key.value().1;
            let event = serde_json::from_slice(json.value()).map_err(|e| OutboxError::Corrupt {
                path: self.path.to_string(),
                key: format!("event {seq} for {sink}"),
                reason: e.to_string(),
            })?;
            out.push((seq, event));
        }
        Ok(out)
    }

    /// The sink accepted these events.
    pub fn sent(&self, sink: &str, seqs: &[u64]) -> Result<(), OutboxError> {
        self.write(|txn| {
            let mut pending = txn.open_table(PENDING)?;
            for seq in seqs {
                pending.remove((sink, *seq))?;
            }
            Ok(())
        })
    }

    /// The sink refused this event for good: keep it, with the reason, among the dead.
    pub fn bury(&self, sink: &str, seq: u64, event: &Event, reason: &str) -> Result<(), OutboxError> {
        let dead = serde_json::to_vec(&DeadEvent { event: event.clone(), reason: reason.to_string() })
            .map_err(|e| self.engine(format!("encoding a dead event: {e}")))?;
        self.write(|txn| {
            txn.open_table(PENDING)?.remove((sink, seq))?;
            txn.open_table(DEAD)?.insert((sink, seq), dead.as_slice())?;
            Ok(())
        })
    }

    /// The events `sink` refused for good, oldest first.
    pub fn dead(&self, sink: &str) -> Result<Vec<DeadEvent>, OutboxError> {
        self.dead_newest(sink, usize::MAX).map(|mut newest| {
            newest.reverse();
            newest
        })
    }

    /// At most `limit` of the events `sink` refused for good, newest first.
    pub fn dead_newest(&self, sink: &str, limit: usize) -> Result<Vec<DeadEvent>, OutboxError> {
        let txn = self.db.begin_read().map_err(|e| self.engine(e))?;
        let table = txn.open_table(DEAD).map_err(|e| self.engine(e))?;
        let mut out = Vec::new();
        for row in table.range((sink, 0)..=(sink, u64::MAX)).map_err(|e| self.engine(e))?.rev().take(limit) {
            let (key, json) = row.map_err(|e| self.engine(e))?;
            out.push(serde_json::from_slice(json.value()).map_err(|e| OutboxError::Corrupt {
                path: self.path.to_string(),
                key: format!("dead event {} for {sink}", key.value().1),
                reason: e.to_string(),
            })?);
        }
        Ok(out)
    }

    pub fn counts(&self) -> Result<OutboxCounts, OutboxError> {
        let txn = self.db.begin_read().map_err(|e| self.engine(e))?;
        let len = |n: Result<u64, redb::StorageError>| n.map_err(|e| self.engine(e));
        Ok(OutboxCounts {
            intents: len(txn.open_table(INTENTS).map_err(|e| self.engine(e))?.len())?,
            pending: len(txn.open_table(PENDING).map_err(|e| self.engine(e))?.len())?,
            dead: len(txn.open_table(DEAD).map_err(|e| self.engine(e))?.len())?,
        })
    }

    /// Runs an outbox call (a redb transaction, an fsync) off the async workers.
    pub async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&EmitOutbox) -> Result<T, OutboxError> + Send + 'static,
    ) -> Result<T, OutboxError> {
        let outbox = self.clone();
        tokio::task::spawn_blocking(move || call(&outbox))
            .await
            .unwrap_or_else(|e| Err(self.engine(format!("the outbox task failed: {e}"))))
    }

    /// One durable write transaction.
    fn write<T>(&self, body: impl FnOnce(&redb::WriteTransaction) -> Result<T, redb::Error>) -> Result<T, OutboxError> {
        self.write_with(Durability::Immediate, body)
    }

    fn write_with<T>(
        &self,
        durability: Durability,
        body: impl FnOnce(&redb::WriteTransaction) -> Result<T, redb::Error>,
    ) -> Result<T, OutboxError> {
        let mut txn = self.db.begin_write().map_err(|e| self.engine(e))?;
        txn.set_durability(durability).map_err(|e| self.engine(e))?;
        let value = body(&txn).map_err(|e| self.engine(e))?;
        txn.commit().map_err(|e| self.engine(e))?;
        Ok(value)
    }

    fn engine(&self, reason: impl std::fmt::Display) -> OutboxError {
        OutboxError::Engine { path: self.path.to_string(), reason: reason.to_string() }
    }
}

/// Takes the next value of a counter.
fn next(txn: &redb::WriteTransaction, counter: &str) -> Result<u64, redb::Error> {
    let mut counters = txn.open_table(COUNTERS)?;
    let value = counters.get(counter)?.map(|v| v.value()).unwrap_or(0);
    counters.insert(counter, value + 1)?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str) -> Event {
        use cloudevents::{EventBuilder, EventBuilderV10};
        EventBuilderV10::new().id(id).ty("t").source("/s").build().expect("event")
    }

    fn change() -> Change {
        let fact = crate::demo::sample_facts().expect("sample facts").remove(0);
        Change { before: None, after: fact, trace: None }
    }

    #[test]
    fn intents_settle_into_events_per_sink_which_leave_when_sent_or_buried() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("outbox.redb");
        let outbox = EmitOutbox::open(&path).expect("open");
        let intent = outbox.intend(&[change()]).expect("intend");
        let left = outbox.intend(&[change()]).expect("intend");
        assert_eq!(outbox.counts().expect("counts").intents, 2);
        let sinks = ["a".to_string(), "b".to_string()];
        outbox.settle(intent, &[event("1"), event("2")], &sinks).expect("settle");
        assert_eq!(outbox.counts().expect("counts"), OutboxCounts { intents: 1, pending: 4, dead: 0 });

        let for_a = outbox.pending("a", 10).expect("pending");
        assert_eq!(for_a.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>(), vec![event("1"), event("2")]);
        outbox.sent("a", &[for_a[0].0]).expect("sent");
        outbox.bury("a", for_a[1].0, &for_a[1].1, "400 no").expect("bury");
        assert!(outbox.pending("a", 10).expect("pending").is_empty());
        assert_eq!(outbox.pending("b", 1).expect("pending").len(), 1, "limit");
        assert_eq!(outbox.dead("a").expect("dead"), vec![DeadEvent { event: event("2"), reason: "400 no".into() }]);
        drop(outbox);

        // What is left survives a reopen: the unsettled intent and b's two events.
        let outbox = EmitOutbox::open(&path).expect("reopen");
        assert_eq!(outbox.counts().expect("counts"), OutboxCounts { intents: 1, pending: 2, dead: 1 });
        assert_eq!(outbox.intents().expect("intents"), vec![(left, vec![change()])]);
        outbox.abandon(left).expect("abandon");
        let next = outbox.intend(&[]).expect("intend");
        assert!(next > left, "ids are not reused after a reopen");
    }
}
