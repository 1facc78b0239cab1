//! Wires a source to a sink: source → translate → sink, one way. The source runs as its own task and hands
//! inputs over a bounded channel, so a slow sink slows reading (or watching) instead of buffering in memory.
//!
//! Replay and watch share [`Delivery`]: translation of a source item into fact CloudEvents, and delivery with
//! counting. They differ in how they end: a replay when its files are read, a watch at shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use cloudevents::Event;
use tekton_graph_schema::envelope::to_cloudevent;
use tekton_graph_telemetry::trace;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::metrics::HarvesterMetrics;
use crate::report::Reporter;
use crate::sinks::{Sink, SinkError};
use crate::sources::file::{self, FileSourceConfig};
use crate::sources::kube::{self, KubeSource, Watched};
use crate::sources::{Payload, SourceError, SourceItem};

/// Inputs read ahead of translation.
const CHANNEL_CAPACITY: usize = 8;
/// Watched objects (one each) buffered ahead of translation: enough to keep translating while a batch is sent.
const WATCH_CHANNEL_CAPACITY: usize = 256;
/// How often a running watch prints its counters, when they changed.
const PROGRESS_EVERY: Duration = Duration::from_secs(30);

/// Replays files into the sink. Problems with single files, documents or batches are reported and counted;
/// only a fatal sink error (stdout closed) stops the replay early and is returned.
pub async fn replay(source: &FileSourceConfig, sink: Sink) -> Result<Reporter, SinkError> {
    let inputs = file::discover(source);
    let mut delivery = Delivery { sink, reporter: Reporter::new(inputs.len()) };
    let (tx, mut rx) = mpsc::channel(CHANNEL_CAPACITY);
    let reader = tokio::spawn(file::run(inputs, tx));
    while let Some(item) = rx.recv().await {
        delivery.send(item).await?;
        delivery.reporter.file_done();
    }
    delivery.flush().await?;
    if let Err(e) = reader.await {
        delivery.reporter.error(format!("file source stopped: {e}"));
    }
    Ok(delivery.reporter)
}

/// How a watch hands facts to its sink.
#[derive(Debug, Clone, Copy)]
pub struct WatchOptions {
    /// Longest time a fact waits in a partly filled batch: the sink is flushed this long after the first
    /// unflushed fact, so a single change is delivered promptly while a re-list still fills whole batches.
    pub linger: Duration,
}

/// Watches until `shutdown` completes, then flushes the sink. Translation and batch errors are reported and
/// skipped; only a fatal sink error ends the watch early and is returned.
///
/// Facts lost by a failed batch are recovered by a re-list: after the next successful delivery the watchers are
/// restarted, so every run is seen again (the graph ignores observations it already has).
pub async fn watch(
    source: KubeSource,
    sink: Sink,
    options: WatchOptions,
    metrics: Arc<HarvesterMetrics>,
    shutdown: impl Future<Output = ()>,
) -> Result<Reporter, SinkError> {
    let mut delivery = Delivery { sink, reporter: Reporter::watching(metrics) };
    let (tx, mut rx) = mpsc::channel(WATCH_CHANNEL_CAPACITY);
    let mut watchers = Watchers::start(source, tx);
    tokio::pin!(shutdown);
    let mut linger: Option<Instant> = None;
    let mut progress = tokio::time::interval_at(Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
    loop {
        tokio::select! {
            // Biased: shutdown first, then a due flush, so a steady stream of changes cannot delay delivery.
            biased;
            () = &mut shutdown => break,
            () = sleep_until(linger) => {
                linger = None;
                if delivery.flush().await? {
                    watchers.relist(&mut delivery.reporter);
                }
            }
            watched = rx.recv() => match watched {
                Some(Watched::Item(item)) => {
                    if item.payload.is_ok() {
                        delivery.reporter.object_seen(is_deletion(&item));
                    }
                    if delivery.send(item).await? {
                        watchers.relist(&mut delivery.reporter);
                    }
                    linger.get_or_insert_with(|| Instant::now() + options.linger);
                }
                Some(Watched::Listed { origin, objects, elapsed }) => delivery.reporter.listed(&origin, objects, elapsed),
                None => break,
            },
            _ = progress.tick() => delivery.reporter.progress(),
        }
    }
    watchers.stop();
    delivery.flush().await?;
    Ok(delivery.reporter)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

fn is_deletion(item: &SourceItem) -> bool {
    matches!(item.payload, Ok(Payload::Object { deleted_at: Some(_), .. }))
}

/// The running watch task; restarted from scratch (a full re-list) when facts were lost.
struct Watchers {
    source: KubeSource,
    tx: mpsc::Sender<Watched>,
    task: JoinHandle<()>,
}

impl Watchers {
    fn start(source: KubeSource, tx: mpsc::Sender<Watched>) -> Self {
        let task = tokio::spawn(kube::run(source.clone(), tx.clone()));
        Watchers { source, tx, task }
    }

    fn relist(&mut self, reporter: &mut Reporter) {
        tracing::warn!("facts were lost in a failed batch: re-listing to send them again");
        reporter.relisted();
        self.task.abort();
        self.task = tokio::spawn(kube::run(self.source.clone(), self.tx.clone()));
    }

    fn stop(self) {
        self.task.abort();
    }
}

/// Translation and delivery, shared by replay and watch.
struct Delivery {
    sink: Sink,
    reporter: Reporter,
}

impl Delivery {
    /// Translates and pushes one item. Returns true when facts delivered by this call follow a lost batch:
    /// the sink works again, and a watch should re-list to recover what was lost.
    async fn send(&mut self, item: SourceItem) -> Result<bool, SinkError> {
        let mut recovered = false;
        for event in translate(item, &mut self.reporter) {
            recovered |= deliver(self.sink.push(event).await, &mut self.reporter)?;
        }
        Ok(recovered)
    }

    /// Delivers whatever the sink holds; returns true as [`Delivery::send`] does.
    async fn flush(&mut self) -> Result<bool, SinkError> {
        deliver(self.sink.flush().await, &mut self.reporter)
    }
}

/// One input's events; every problem is reported as `ORIGIN: document N: REASON` (files) or `ORIGIN: REASON`.
fn translate(item: SourceItem, reporter: &mut Reporter) -> Vec<Event> {
    let origin = item.origin;
    match item.payload {
        Ok(Payload::Text(text)) => translate_text(&origin, &text, reporter),
        Ok(Payload::Object { object, deleted_at }) => match tekton_translate::translate_value(&object) {
            Ok(mut facts) => {
                // The same observation as the object itself, stamped: the graph keeps the run, marked deleted.
                facts.iter_mut().for_each(|fact| fact.deleted_at = deleted_at);
                to_events(&origin, facts, tekton_traceparent(&object).as_deref(), reporter)
            }
            Err(e) => {
                reporter.error(format!("{origin}: {e}"));
                Vec::new()
            }
        },
        Err(e) => {
            if let SourceError::Watch(_) = &e {
                reporter.watch_failed(&origin);
            }
            reporter.error(format!("{origin}: {e}"));
            Vec::new()
        }
    }
}

fn translate_text(origin: &str, text: &str, reporter: &mut Reporter) -> Vec<Event> {
    let mut events = Vec::new();
    for (index, document) in tekton_translate::parse_documents(text).into_iter().enumerate() {
        let document_origin = format!("{origin}: document {}", index + 1);
        match document.map(|doc| (tekton_translate::translate_value(&doc), tekton_traceparent(&doc))) {
            Ok((Ok(facts), tekton)) => events.extend(to_events(&document_origin, facts, tekton.as_deref(), reporter)),
            Ok((Err(e), _)) => reporter.error(format!("{document_origin}: {e}")),
            Err(e) => reporter.error(format!("{origin}: {e}")),
        }
    }
    events
}

/// The facts as CloudEvents. Each observation starts a trace, or continues Tekton's (`tekton`: the run's own span
/// context, when its controller traces); the event carries it as its `traceparent` extension.
fn to_events(
    origin: &str,
    facts: Vec<tekton_graph_schema::RunFact>,
    tekton: Option<&str>,
    reporter: &mut Reporter,
) -> Vec<Event> {
    let mut events = Vec::with_capacity(facts.len());
    for fact in facts {
        let span = tracing::info_span!("harvest", otel.kind = "producer", run = %fact.key());
        if let Some(tekton) = tekton {
            trace::continue_from(&span, tekton);
        }
        match to_cloudevent(&fact) {
            Ok(mut event) => {
                // Tracing off: Tekton's context still travels on.
                if let Some(traceparent) = trace::traceparent(&span).or_else(|| tekton.map(str::to_string)) {
                    event.set_extension("traceparent", traceparent);
                }
                events.push(event);
            }
            Err(e) => reporter.error(format!("{origin}: {}: {e}", fact.key())),
        }
    }
    events
}

/// Tekton's own span context of a run, when its controller traces: the `tekton.dev/pipelinerunSpanContext` or
/// `tekton.dev/taskrunSpanContext` annotation, JSON holding a `traceparent`.
fn tekton_traceparent(object: &serde_json::Value) -> Option<String> {
    let annotations = object.get("metadata")?.get("annotations")?;
    ["tekton.dev/pipelinerunSpanContext", "tekton.dev/taskrunSpanContext"].iter().find_map(|key| {
        let carrier: std::collections::HashMap<String, String> =
            serde_json::from_str(annotations.get(*key)?.as_str()?).ok()?;
        carrier.get("traceparent").filter(|t| trace::is_valid(t)).cloned()
    })
}

/// Counts delivered events; reports a failed batch and keeps going unless the sink cannot continue. Returns
/// true when this call delivered events after an earlier batch was lost (see [`Delivery::send`]).
fn deliver(result: Result<usize, SinkError>, reporter: &mut Reporter) -> Result<bool, SinkError> {
    match result {
        Ok(delivered) => {
            reporter.facts_sent(delivered);
            Ok(delivered > 0 && reporter.take_loss())
        }
        Err(e) if e.is_fatal() => Err(e),
        Err(e) => {
            tracing::debug!(lost = e.lost_events(), "batch failed");
            reporter.facts_sent(e.delivered_events());
            reporter.facts_lost(e.lost_events());
            reporter.error(format!("sink: {e}"));
            Ok(false)
        }
    }
}
