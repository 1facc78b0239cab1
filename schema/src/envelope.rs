//! Facts travel as CloudEvents 1.0 (structured JSON by default). This module is the one place that knows the
//! event types, ids and sources, so harvester and graph service cannot disagree on them.

use chrono::Utc;
use cloudevents::{AttributesReader, Data, Event, EventBuilder, EventBuilderV10};

use crate::fact::{FACT_SCHEMA_VERSION, RunFact, RunKind};

/// CloudEvent type of a PipelineRun fact.
pub const PIPELINERUN_FACT_TYPE: &str = "dev.tektongraph.fact.pipelinerun.v1";
/// CloudEvent type of a TaskRun fact.
pub const TASKRUN_FACT_TYPE: &str = "dev.tektongraph.fact.taskrun.v1";
/// Media type of one structured-mode CloudEvent.
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json";
/// Media type of a JSON array of structured-mode CloudEvents.
pub const BATCH_CONTENT_TYPE: &str = "application/cloudevents-batch+json";
/// Points consumers at the JSON Schema of the data.
pub const DATA_SCHEMA: &str = "https://tektongraph.dev/schema/fact/v1/run-fact.schema.json";

/// Why an event could not be turned into a fact.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("unsupported event type `{0}` (expected {PIPELINERUN_FACT_TYPE} or {TASKRUN_FACT_TYPE})")]
    UnsupportedType(String),
    #[error("event `{id}` has no data")]
    MissingData { id: String },
    #[error("event `{id}`: data is not a valid run fact: {reason}")]
    InvalidData { id: String, reason: String },
    #[error("event `{id}`: type says {expected} but data.kind is {found}")]
    KindMismatch { id: String, expected: &'static str, found: &'static str },
    #[error("event `{id}`: unsupported fact schemaVersion {found} (this build reads {FACT_SCHEMA_VERSION})")]
    UnsupportedVersion { id: String, found: u32 },
    #[error("could not build CloudEvent: {0}")]
    Build(String),
}

pub fn event_type(kind: RunKind) -> &'static str {
    match kind {
        RunKind::PipelineRun => PIPELINERUN_FACT_TYPE,
        RunKind::TaskRun => TASKRUN_FACT_TYPE,
    }
}

/// The CloudEvent source of a fact: the object's API path, as Tekton's own events use.
pub fn event_source(fact: &RunFact) -> String {
    let version = fact.api_version.as_deref().unwrap_or("tekton.dev/v1");
    let plural = match fact.kind {
        RunKind::PipelineRun => "pipelineruns",
        RunKind::TaskRun => "taskruns",
    };
    format!("/apis/{version}/namespaces/{}/{plural}/{}", fact.namespace, fact.name)
}

/// Wraps a fact in a CloudEvent. The id is the fact's content hash, so a repeated observation repeats the id.
pub fn to_cloudevent(fact: &RunFact) -> Result<Event, EnvelopeError> {
    let data = serde_json::to_value(fact).map_err(|e| EnvelopeError::Build(e.to_string()))?;
    EventBuilderV10::new()
        .id(hex::encode(&fact.content_hash()[..16]))
        .source(event_source(fact))
        .ty(event_type(fact.kind))
        .subject(fact.key().to_string())
        .time(Utc::now())
        .data_with_schema("application/json", DATA_SCHEMA, data)
        .build()
        .map_err(|e| EnvelopeError::Build(e.to_string()))
}

/// Reads a fact back out of a CloudEvent, checking type, kind and schema version.
pub fn from_cloudevent(event: &Event) -> Result<RunFact, EnvelopeError> {
    let id = event.id().to_string();
    let expected = match event.ty() {
        PIPELINERUN_FACT_TYPE => RunKind::PipelineRun,
        TASKRUN_FACT_TYPE => RunKind::TaskRun,
        other => return Err(EnvelopeError::UnsupportedType(other.to_string())),
    };
    let fact: RunFact = match event.data() {
        None => return Err(EnvelopeError::MissingData { id }),
        Some(Data::Json(v)) => serde_json::from_value(v.clone()),
        Some(Data::String(s)) => serde_json::from_str(s),
        Some(Data::Binary(b)) => serde_json::from_slice(b),
    }
    .map_err(|e| EnvelopeError::InvalidData { id: id.clone(), reason: e.to_string() })?;
    if fact.schema_version != FACT_SCHEMA_VERSION {
        return Err(EnvelopeError::UnsupportedVersion { id, found: fact.schema_version });
    }
    if fact.kind != expected {
        return Err(EnvelopeError::KindMismatch { id, expected: expected.as_str(), found: fact.kind.as_str() });
    }
    crate::validate::validate(&fact).map_err(|reason| EnvelopeError::InvalidData { id, reason })?;
    Ok(fact)
}

/// The Kafka message key of a fact: `<namespace>/<pipelinerun name>`. A TaskRun is keyed by its owning
/// PipelineRun ([`RunFact::pipeline_run`]), so every fact of one PipelineRun and its TaskRuns lands in one partition
/// and keeps its order there; a TaskRun without an owner and a PipelineRun are keyed by their own name.
pub fn partition_key(fact: &RunFact) -> String {
    let run = match (fact.kind, &fact.pipeline_run) {
        (RunKind::TaskRun, Some(owner)) => owner.name.as_str(),
        _ => fact.name.as_str(),
    };
    format!("{}/{run}", fact.namespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(kind: &str, name: &str, owner: Option<&str>) -> RunFact {
        let mut value = serde_json::json!({
            "schemaVersion": FACT_SCHEMA_VERSION, "kind": kind, "namespace": "idec", "name": name,
            "status": { "outcome": "Succeeded" }
        });
        if let Some(owner) = owner {
            value["pipelineRun"] = serde_json::json!({ "name": owner });
        }
        serde_json::from_value(value).expect("fact")
    }

    #[test]
    fn partition_key_groups_a_pipelinerun_with_its_taskruns() {
        let run = fact("PipelineRun", "build-run-1", None);
        let task = fact("TaskRun", "build-run-1-fetch-source", Some("build-run-1"));
        assert_eq!(partition_key(&run), "idec/build-run-1");
        assert_eq!(partition_key(&task), "idec/build-run-1");
        // A standalone TaskRun is its own group.
        assert_eq!(partition_key(&fact("TaskRun", "lonely-task", None)), "idec/lonely-task");
    }

    #[test]
    fn events_round_trip() {
        let task = fact("TaskRun", "build-run-1-fetch-source", Some("build-run-1"));
        let event = to_cloudevent(&task).expect("event");
        assert_eq!(event.ty(), TASKRUN_FACT_TYPE);
        assert_eq!(from_cloudevent(&event).expect("fact"), task);
    }
}
