//! Wires a source to a sink: source → translate → sink, one way. The source runs as its own task and hands
//! inputs over a bounded channel, so a slow sink slows reading instead of buffering whole folders in memory.

use cloudevents::Event;
use tekton_graph_schema::envelope::to_cloudevent;
use tokio::sync::mpsc;

use crate::report::Reporter;
use crate::sinks::{Sink, SinkError};
use crate::sources::file::{self, FileSourceConfig};
use crate::sources::{Payload, SourceItem};

/// Inputs read ahead of translation.
const CHANNEL_CAPACITY: usize = 8;

/// Replays files into the sink. Problems with single files, documents or batches are reported and counted;
/// only a fatal sink error (stdout closed) stops the replay early and is returned.
pub async fn replay(source: &FileSourceConfig, mut sink: Sink) -> Result<Reporter, SinkError> {
    let inputs = file::discover(source);
    let mut reporter = Reporter::new(inputs.len());
    let (tx, mut rx) = mpsc::channel(CHANNEL_CAPACITY);
    let reader = tokio::spawn(file::run(inputs, tx));
    while let Some(item) = rx.recv().await {
        let events = translate(item, &mut reporter);
        for event in events {
            deliver(sink.push(event).await, &mut reporter)?;
        }
        reporter.file_done();
    }
    deliver(sink.flush().await, &mut reporter)?;
    if let Err(e) = reader.await {
        reporter.error(format!("file source stopped: {e}"));
    }
    Ok(reporter)
}

/// One input's events; every problem is reported as `ORIGIN: document N: REASON`.
fn translate(item: SourceItem, reporter: &mut Reporter) -> Vec<Event> {
    let origin = item.origin;
    let text = match item.payload {
        Ok(Payload::Text(text)) => text,
        Err(e) => {
            reporter.error(format!("{origin}: {e}"));
            return Vec::new();
        }
    };
    let mut events = Vec::new();
    for (index, document) in tekton_translate::parse_documents(&text).into_iter().enumerate() {
        let facts = match document.map(|doc| tekton_translate::translate_value(&doc)) {
            Ok(Ok(facts)) => facts,
            Ok(Err(e)) => {
                reporter.error(format!("{origin}: document {}: {e}", index + 1));
                continue;
            }
            Err(e) => {
                reporter.error(format!("{origin}: {e}"));
                continue;
            }
        };
        for fact in facts {
            match to_cloudevent(&fact) {
                Ok(event) => events.push(event),
                Err(e) => reporter.error(format!("{origin}: document {}: {}: {e}", index + 1, fact.key())),
            }
        }
    }
    events
}

/// Counts delivered events; reports a failed batch and keeps going unless the sink cannot continue.
fn deliver(result: Result<usize, SinkError>, reporter: &mut Reporter) -> Result<(), SinkError> {
    match result {
        Ok(delivered) => {
            reporter.facts_sent(delivered);
            Ok(())
        }
        Err(e) if e.is_fatal() => Err(e),
        Err(e) => {
            tracing::debug!(lost = e.lost_events(), "batch failed");
            reporter.facts_sent(e.delivered_events());
            reporter.error(format!("sink: {e}"));
            Ok(())
        }
    }
}
