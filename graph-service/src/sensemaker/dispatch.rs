//! One task per sink that sends what the [`EmitOutbox`] holds for it, oldest first.
//!
//! Transient failures (network, 429, 5xx, a broker that did not acknowledge) are retried with exponential backoff
//! and jitter, with no limit: the events wait in the outbox, and other sinks are not held up. When a sink refuses a
//! batch for good, each event is tried alone, so that only the ones it really refuses go to the dead table.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use cloudevents::Event;
use tekton_graph_telemetry::trace;
use tokio::sync::{Notify, watch};

use super::emit::Emitter;
use super::outbox::EmitOutbox;
use crate::metrics::{Emission, ServiceMetrics};

pub(super) struct Dispatcher {
    pub sink: String,
    pub emitter: Box<dyn Emitter>,
    pub outbox: EmitOutbox,
    /// Rung when new events are queued.
    pub wake: Arc<Notify>,
    /// Bumped whenever events leave the outbox (sent or buried).
    pub progress: watch::Sender<u64>,
    pub batch_size: usize,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    pub metrics: Arc<ServiceMetrics>,
}

/// What one round of sending did.
enum Round {
    /// Nothing waits: sleep until woken.
    Idle,
    /// Some or all events left the outbox.
    Progress,
    /// The sink or the outbox failed for now: back off.
    Failed,
}

impl Dispatcher {
    pub async fn run(self) {
        let mut backoff = self.backoff();
        loop {
            match self.round().await {
                Round::Idle => self.wake.notified().await,
                Round::Progress => {
                    backoff = self.backoff();
                    self.progress.send_modify(|n| *n += 1);
                }
                Round::Failed => tokio::time::sleep(backoff.next().unwrap_or(self.max_backoff)).await,
            }
        }
    }

    fn backoff(&self) -> impl Iterator<Item = Duration> + use<> {
        ExponentialBuilder::default()
            .with_min_delay(self.first_backoff)
            .with_max_delay(self.max_backoff)
            .with_jitter()
            .without_max_times()
            .build()
    }

    async fn round(&self) -> Round {
        let (sink, limit) = (self.sink.clone(), self.batch_size);
        let batch = match self.outbox.blocking(move |outbox| outbox.pending(&sink, limit)).await {
            Ok(batch) => batch,
            Err(error) => {
                tracing::error!(sink = %self.sink, %error, "reading the emission outbox failed");
                return Round::Failed;
            }
        };
        if batch.is_empty() {
            return Round::Idle;
        }
        let events: Vec<Event> = batch.iter().map(|(_, event)| event.clone()).collect();
        let spans = self.emit_spans(&events);
        let emitted = self.emitter.emit(&events).await;
        drop(spans);
        match emitted {
            Ok(()) => {
                let seqs: Vec<u64> = batch.iter().map(|(seq, _)| *seq).collect();
                tracing::debug!(sink = %self.sink, events = seqs.len(), "events emitted");
                self.metrics.emitted(&self.sink, Emission::Delivered, seqs.len());
                self.sent(seqs).await
            }
            Err(error) if error.is_transient() => {
                tracing::warn!(sink = %self.sink, %error, events = events.len(), "emitting events failed; retrying");
                self.metrics.emitted(&self.sink, Emission::Failed, events.len());
                Round::Failed
            }
            Err(error) => {
                tracing::warn!(sink = %self.sink, %error, "the sink refused a batch; trying its events one by one");
                self.one_by_one(batch).await
            }
        }
    }

    /// One span per traced event, in its trace, for the time it takes to send the batch.
    fn emit_spans(&self, events: &[Event]) -> Vec<tracing::Span> {
        events
            .iter()
            .filter_map(|event| {
                let traceparent = event.extension("traceparent")?.to_string();
                let ty = cloudevents::AttributesReader::ty(event);
                let span = tracing::info_span!(parent: None, "emit", otel.kind = "producer", sink = %self.sink, event_type = %ty);
                trace::continue_from(&span, &traceparent);
                Some(span)
            })
            .collect()
    }

    /// After a permanent refusal of a batch: sends each event alone, burying those refused for good.
    async fn one_by_one(&self, batch: Vec<(u64, Event)>) -> Round {
        let mut moved = false;
        for (seq, event) in batch {
            match self.emitter.emit(std::slice::from_ref(&event)).await {
                Ok(()) => {
                    self.metrics.emitted(&self.sink, Emission::Delivered, 1);
                    if matches!(self.sent(vec![seq]).await, Round::Failed) {
                        return Round::Failed;
                    }
                }
                Err(error) if error.is_transient() => {
                    self.metrics.emitted(&self.sink, Emission::Failed, 1);
                    return if moved { Round::Progress } else { Round::Failed };
                }
                Err(error) => {
                    self.metrics.emitted(&self.sink, Emission::Dead, 1);
                    let reason = error.to_string();
                    tracing::error!(sink = %self.sink, id = %cloudevents::AttributesReader::id(&event), %reason,
                        "the sink refused an event for good; it is kept among the outbox's dead");
                    let sink = self.sink.clone();
                    let buried = self.outbox.blocking(move |outbox| outbox.bury(&sink, seq, &event, &reason)).await;
                    if let Err(error) = buried {
                        tracing::error!(sink = %self.sink, %error, "writing a dead event failed");
                        return Round::Failed;
                    }
                }
            }
            moved = true;
        }
        Round::Progress
    }

    async fn sent(&self, seqs: Vec<u64>) -> Round {
        let sink = self.sink.clone();
        match self.outbox.blocking(move |outbox| outbox.sent(&sink, &seqs)).await {
            Ok(()) => Round::Progress,
            Err(error) => {
                // The events reached the sink; they will be sent again (same ids) once the outbox works.
                tracing::error!(sink = %self.sink, %error, "removing sent events from the outbox failed");
                Round::Failed
            }
        }
    }
}
