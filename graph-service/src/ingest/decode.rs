//! Decoding of incoming CloudEvents into facts, before anything is written.
//!
//! Three families of event become facts, whichever way they arrive (HTTP or Kafka, structured, binary or batch):
//!
//! * our own facts, `dev.tektongraph.fact.{pipelinerun,taskrun}.v1` (from the harvester);
//! * Tekton's controller events, `dev.tekton.event.{pipelinerun,taskrun}.*.v1`, whose body is
//!   `{"pipelineRun": {…}}` or `{"taskRun": {…}}`: translated by `tekton-translate`, the harvester's own code;
//! * CDEvents, `dev.cdevents.*` (spec 0.3.0, 0.4.1, 0.5.1): translated by `tekton_translate::cdevents` into
//!   partial observations that the ingestor merges ([`super::Ingestor`]).
//!
//! Anything else is refused with the type in the reason, or counted and skipped when
//! [`DecodeOptions::ignore_unknown`] is set. A request is decoded and validated whole; only when every event in it
//! is usable does the caller apply it, so a bad event never leaves half a batch behind.

use cloudevents::event::Data;
use cloudevents::{AttributesReader, Event};
use http::HeaderMap;
use serde_json::Value;
use tekton_graph_schema::RunFact;
use tekton_graph_schema::envelope::{BATCH_CONTENT_TYPE, from_cloudevent};
use tekton_graph_telemetry::trace;

/// Prefix of our own fact event types.
pub const FACT_TYPE_PREFIX: &str = "dev.tektongraph.fact.";
/// Prefix of the Tekton controller's CloudEvent types.
pub const TEKTON_TYPE_PREFIX: &str = "dev.tekton.event.";
/// Prefix of CDEvent types.
pub const CDEVENT_TYPE_PREFIX: &str = "dev.cdevents.";

/// How to treat events of a type this service does not read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Skip (and count) events of unknown types instead of refusing the request.
    pub ignore_unknown: bool,
}

/// The facts of a request or message, and how many of its events were skipped as unknown.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decoded {
    pub facts: Vec<RunFact>,
    pub ignored: usize,
    /// The W3C trace context each fact came with (one per fact): the transport's `traceparent` header, else the
    /// event's `traceparent` extension (CloudEvents' distributed-tracing extension).
    pub traces: Vec<Option<String>>,
}

impl Decoded {
    /// The facts of one event; `header` is the transport's `traceparent` for this event.
    fn push(&mut self, outcome: EventFacts, event: &Event, header: Option<&str>) {
        match outcome {
            EventFacts::Facts(facts) => {
                let extension = event.extension("traceparent").map(ToString::to_string);
                let trace = header.map(str::to_string).or(extension).filter(|t| trace::is_valid(t));
                self.traces.extend(std::iter::repeat_n(trace, facts.len()));
                self.facts.extend(facts);
            }
            EventFacts::Ignored => self.ignored += 1,
        }
    }
}

/// Why a request's events were refused.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("body is not a CloudEvent (structured or binary mode): {0}")]
    NotAnEvent(String),
    #[error("batch body is not a JSON array of structured CloudEvents: {0}")]
    BadBatch(String),
    #[error("event {index}: {reason}")]
    InvalidEvent { index: usize, reason: String },
    #[error("{0}")]
    InvalidFact(String),
    #[error("message is not a CloudEvent (structured or binary mode): {0}")]
    NotAKafkaEvent(String),
}

/// Why one event yields no facts.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error(
        "unsupported event type `{0}` (this service reads {FACT_TYPE_PREFIX}*, \
         {TEKTON_TYPE_PREFIX}{{pipelinerun,taskrun}}.*.v1 and {CDEVENT_TYPE_PREFIX}*)"
    )]
    UnknownType(String),
    #[error("event `{id}` of type `{ty}`: {reason}")]
    Invalid { id: String, ty: String, reason: String },
}

enum EventFacts {
    Facts(Vec<RunFact>),
    Ignored,
}

/// The facts one CloudEvent carries or describes.
pub fn facts_of_event(event: &Event) -> Result<Vec<RunFact>, EventError> {
    let ty = event.ty();
    let invalid = |reason: String| EventError::Invalid { id: event.id().to_string(), ty: ty.to_string(), reason };
    if ty.starts_with(FACT_TYPE_PREFIX) {
        return from_cloudevent(event).map(|fact| vec![fact]).map_err(|e| invalid(e.to_string()));
    }
    if let Some(rest) = ty.strip_prefix(TEKTON_TYPE_PREFIX) {
        if !(rest.starts_with("pipelinerun.") || rest.starts_with("taskrun.")) {
            return Err(EventError::UnknownType(ty.to_string()));
        }
        let body = event_json(event).map_err(invalid)?;
        let facts = tekton_translate::translate_value(&body).map_err(|e| invalid(e.to_string()))?;
        return checked(facts).map_err(invalid);
    }
    if ty.starts_with(CDEVENT_TYPE_PREFIX) {
        let body = event_json(event).map_err(invalid)?;
        let facts = tekton_translate::cdevents::translate_cdevent(&body).map_err(|e| match e {
            tekton_translate::cdevents::CdEventError::UnsupportedType(_) => EventError::UnknownType(ty.to_string()),
            other => invalid(other.to_string()),
        })?;
        return checked(facts).map_err(invalid);
    }
    Err(EventError::UnknownType(ty.to_string()))
}

/// Translated facts pass the same identifier checks as the facts the harvester sends.
fn checked(facts: Vec<RunFact>) -> Result<Vec<RunFact>, String> {
    facts.iter().try_for_each(tekton_graph_schema::validate::validate)?;
    Ok(facts)
}

fn decide(event: &Event, options: DecodeOptions) -> Result<EventFacts, EventError> {
    match facts_of_event(event) {
        Ok(facts) => Ok(EventFacts::Facts(facts)),
        Err(EventError::UnknownType(ty)) if options.ignore_unknown => {
            tracing::debug!(%ty, id = event.id(), "ignoring an event of unknown type");
            Ok(EventFacts::Ignored)
        }
        Err(e) => Err(e),
    }
}

/// The event's data as JSON, whichever way it was carried.
fn event_json(event: &Event) -> Result<Value, String> {
    match event.data() {
        None => Err("the event has no data".into()),
        Some(Data::Json(v)) => Ok(v.clone()),
        Some(Data::String(s)) => serde_json::from_str(s).map_err(|e| format!("data is not JSON: {e}")),
        Some(Data::Binary(b)) => serde_json::from_slice(b).map_err(|e| format!("data is not JSON: {e}")),
    }
}

/// Decodes an HTTP request body: one event (structured or binary mode) or a batch.
pub fn decode_http(headers: &HeaderMap, body: Vec<u8>, options: DecodeOptions) -> Result<Decoded, IngestError> {
    let content_type = headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.starts_with(BATCH_CONTENT_TYPE) {
        return decode_batch(&body, options);
    }
    let header = headers.get("traceparent").and_then(|v| v.to_str().ok()).map(str::to_string);
    let event =
        cloudevents::binding::http::to_event(headers, body).map_err(|e| IngestError::NotAnEvent(e.to_string()))?;
    let mut decoded = Decoded::default();
    decoded.push(
        decide(&event, options).map_err(|e| IngestError::InvalidFact(e.to_string()))?,
        &event,
        header.as_deref(),
    );
    Ok(decoded)
}

/// Decodes a JSON array of structured-mode events; the first bad one fails the whole batch.
pub fn decode_batch(body: &[u8], options: DecodeOptions) -> Result<Decoded, IngestError> {
    let raw: Vec<Value> = serde_json::from_slice(body).map_err(|e| IngestError::BadBatch(e.to_string()))?;
    let mut decoded = Decoded::default();
    for (index, value) in raw.into_iter().enumerate() {
        let event: Event = serde_json::from_value(value)
            .map_err(|e| IngestError::InvalidEvent { index, reason: format!("not a CloudEvent: {e}") })?;
        let facts = decide(&event, options).map_err(|e| IngestError::InvalidEvent { index, reason: e.to_string() })?;
        // A batch request's header is the sender's, not one event's: each event's own extension counts.
        decoded.push(facts, &event, None);
    }
    Ok(decoded)
}

/// Decodes one Kafka message (CloudEvents Kafka protocol binding): structured mode when the `content-type` header
/// is `application/cloudevents+json`, or when there is no `ce_specversion` header and the payload is a JSON object
/// with `specversion`; binary mode when there is a `ce_specversion` header (attributes in `ce_*` headers, the
/// payload is the event data). Header names are matched case-insensitively.
pub fn decode_kafka(headers: &[(&str, &[u8])], payload: &[u8], options: DecodeOptions) -> Result<Decoded, IngestError> {
    let event = kafka_event(headers, payload)?;
    let header = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("traceparent"))
        .and_then(|(_, value)| std::str::from_utf8(value).ok());
    let mut decoded = Decoded::default();
    decoded.push(decide(&event, options).map_err(|e| IngestError::InvalidFact(e.to_string()))?, &event, header);
    Ok(decoded)
}

fn kafka_event(headers: &[(&str, &[u8])], payload: &[u8]) -> Result<Event, IngestError> {
    tekton_graph_kafka::cloudevent(headers, payload).map_err(IngestError::NotAKafkaEvent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::AttributesReader;
    use tekton_graph_schema::envelope::STRUCTURED_CONTENT_TYPE;
    use tekton_graph_schema::envelope::to_cloudevent;

    fn sample() -> RunFact {
        crate::demo::sample_facts().expect("samples").remove(0)
    }

    #[test]
    fn kafka_structured_mode_with_or_without_content_type() {
        let fact = sample();
        let payload = serde_json::to_vec(&to_cloudevent(&fact).unwrap()).unwrap();
        let with = [("Content-Type", STRUCTURED_CONTENT_TYPE.as_bytes())];
        assert_eq!(decode_kafka(&with, &payload, DecodeOptions::default()).unwrap().facts, vec![fact.clone()]);
        assert_eq!(decode_kafka(&[], &payload, DecodeOptions::default()).unwrap().facts, vec![fact]);
    }

    #[test]
    fn kafka_binary_mode() {
        let fact = sample();
        let event = to_cloudevent(&fact).unwrap();
        let ty = event.ty().to_string();
        let headers: Vec<(&str, &[u8])> = vec![
            ("ce_specversion", b"1.0"),
            ("ce_id", b"abc"),
            ("ce_type", ty.as_bytes()),
            ("ce_source", b"/apis/tekton.dev/v1/namespaces/idec/pipelineruns/x"),
            ("content-type", b"application/json"),
        ];
        let payload = serde_json::to_vec(&fact).unwrap();
        assert_eq!(decode_kafka(&headers, &payload, DecodeOptions::default()).unwrap().facts, vec![fact]);
    }

    #[test]
    fn kafka_garbage_and_wrong_types_name_the_reason() {
        let err = decode_kafka(&[], b"\x00garbage", DecodeOptions::default()).unwrap_err().to_string();
        assert!(err.contains("payload is not JSON"), "{err}");
        let err = decode_kafka(&[], br#"{"hello":"world"}"#, DecodeOptions::default()).unwrap_err().to_string();
        assert!(err.contains("no `specversion`"), "{err}");
        let mut event = serde_json::to_value(to_cloudevent(&sample()).unwrap()).unwrap();
        event["type"] = "com.example.other".into();
        let err =
            decode_kafka(&[], &serde_json::to_vec(&event).unwrap(), DecodeOptions::default()).unwrap_err().to_string();
        assert!(err.contains("unsupported event type `com.example.other`"), "{err}");
    }

    #[test]
    fn kafka_carries_tekton_controller_events_too() {
        let path =
            concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/cloudevents/tekton-taskrun-unknown-v1-payload.json");
        let payload = std::fs::read(path).expect("fixture");
        let headers: Vec<(&str, &[u8])> = vec![
            ("ce_specversion", b"1.0"),
            ("ce_id", b"77f78ae7-ff6d-4e39-9d05-b9a0b7850527"),
            ("ce_type", b"dev.tekton.event.taskrun.unknown.v1"),
            ("ce_source", b"/apis/tekton.dev/v1beta1/namespaces/default/taskruns/curl-run-6gplk"),
            ("content-type", b"application/json"),
        ];
        let decoded = decode_kafka(&headers, &payload, DecodeOptions::default()).unwrap();
        assert_eq!(decoded.facts.len(), 1);
        assert_eq!(decoded.facts[0].key().to_string(), "TaskRun/default/curl-run-6gplk");
        let unknown: Vec<(&str, &[u8])> =
            vec![("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_type", b"com.example.other"), ("ce_source", b"/x")];
        let err = decode_kafka(&unknown, b"{}", DecodeOptions::default()).unwrap_err().to_string();
        assert!(err.contains("unsupported event type `com.example.other`"), "{err}");
        let skipped = decode_kafka(&unknown, b"{}", DecodeOptions { ignore_unknown: true }).unwrap();
        assert_eq!((skipped.facts.len(), skipped.ignored), (0, 1));
    }
}
