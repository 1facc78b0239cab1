//! # tekton-translate
//!
//! Pure translation of Tekton objects into [`RunFact`]s: no IO, no clock, no randomness, so the harvester (files,
//! later a Kubernetes watch) and the graph service (Tekton's own CloudEvents) produce identical facts from
//! identical input.
//!
//! The pipeline has three steps, one module each:
//!
//! 1. [`parse_documents`] ([`documents`]) splits a file's text into JSON values: a JSON object or array, several
//!    concatenated JSON values, or multi-document YAML.
//! 2. [`translate_value`] unwraps containers — kubectl `List`s, JSON arrays, Tekton CloudEvent bodies
//!    (`{"taskRun": …}`) — and hands each run object to [`translate_object`], which maps identity, status,
//!    params, results, children, steps with their times, and a PipelineRun's task DAG (`status.pipelineSpec`:
//!    `runAfter`, result references, `when`, `finally`) and skipped tasks (`object`).
//! 3. `supply_chain` reads the finished fact's results, labels and annotations for the source revision, trigger,
//!    images, artifacts and scans.
//!
//! Objects in the wild are incomplete: Chains test data has no `apiVersion`, `kind` or `metadata.name`, so the
//! kind is recognized by shape and the name derived from the content. Malformed values that the graph depends
//! on (times, the kind, list items) are errors naming the reason; malformed supply-chain hints (an invalid
//! digest) are skipped, because they are one producer's convention, not part of the object's meaning.
//!
//! CDEvents (`dev.cdevents.*`) are a separate entry point, [`translate_cdevent`] ([`cdevents`]): an event is a
//! partial observation of a run, which the graph service merges with the others of the same run.
//!
//! Numbers in error messages are 1-based: "document 2" is the second non-empty document of a file, "item 3"
//! the third item of a list or array.

pub mod cdevents;
pub mod documents;
pub mod error;
mod json;
mod object;
mod supply_chain;

use serde_json::Value;
use tekton_graph_schema::RunFact;

pub use cdevents::{CdEventError, is_cdevent_type, translate_cdevent};
pub use documents::parse_documents;
pub use error::{DocumentError, TranslateError};

/// Keys of Tekton's CloudEvent bodies (`formats: tektonv1`) and whether we translate them.
const EVENT_BODIES: &[(&str, bool)] = &[("pipelineRun", true), ("taskRun", true), ("run", false), ("customRun", false)];

/// Translates one document: a run, a kubectl `List` (kind `List` or `*List`), a JSON array of objects, or a
/// Tekton CloudEvent body. A list yields the facts of all items; one failing item fails the whole document,
/// with the item's number in the error.
pub fn translate_value(doc: &Value) -> Result<Vec<RunFact>, TranslateError> {
    match doc {
        Value::Array(items) => translate_items(items),
        Value::Object(map) => {
            if let Some(kind) = map.get("kind").and_then(Value::as_str).filter(|k| k.ends_with("List")) {
                let items = map
                    .get("items")
                    .and_then(Value::as_array)
                    .ok_or_else(|| TranslateError::ListWithoutItems { kind: kind.to_string() })?;
                return translate_items(items);
            }
            match event_body(map) {
                Some((_, inner, true)) => translate_object(inner),
                Some((key, _, false)) => Err(TranslateError::UnsupportedEvent(key.to_string())),
                None => translate_object(doc),
            }
        }
        other => Err(TranslateError::NotAnObject(json::type_name(other))),
    }
}

/// Translates one PipelineRun or TaskRun object. Returns more than one fact when a (v1beta1) PipelineRun embeds
/// its TaskRuns' status in `status.taskRuns`: one extra TaskRun fact per entry, observed from that status.
pub fn translate_object(obj: &Value) -> Result<Vec<RunFact>, TranslateError> {
    object::translate(obj)
}

fn translate_items(items: &[Value]) -> Result<Vec<RunFact>, TranslateError> {
    let mut facts = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        facts.extend(translate_value(item).map_err(|e| e.in_item(index))?);
    }
    Ok(facts)
}

/// `{"taskRun": {…}}`-shaped bodies: exactly one known key holding an object, and nothing of a run's own.
fn event_body(map: &serde_json::Map<String, Value>) -> Option<(&'static str, &Value, bool)> {
    if map.len() != 1 {
        return None;
    }
    EVENT_BODIES
        .iter()
        .find_map(|(key, supported)| map.get(*key).filter(|v| v.is_object()).map(|v| (*key, v, *supported)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn list_items_failures_name_the_item() {
        let list = json!({"kind": "List", "items": [{"kind": "TaskRun", "metadata": {"name": "a"}}, {"kind": "Pod"}]});
        let err = translate_value(&list).unwrap_err();
        assert_eq!(err.to_string(), "item 2: object of kind `Pod` is not a PipelineRun or TaskRun");
        let list = json!({"kind": "TaskRunList"});
        assert_eq!(translate_value(&list).unwrap_err().to_string(), "`TaskRunList` has no `items` array");
    }

    #[test]
    fn event_bodies_are_unwrapped_or_refused() {
        let body = json!({"taskRun": {"metadata": {"name": "t"}, "status": {"podName": "p"}}});
        assert_eq!(translate_value(&body).unwrap()[0].name, "t");
        let custom = json!({"customRun": {"metadata": {"name": "c"}}});
        let msg = translate_value(&custom).unwrap_err().to_string();
        assert!(msg.contains("unsupported") && msg.contains("customRun"), "{msg}");
    }

    #[test]
    fn scalars_are_not_runs() {
        assert_eq!(translate_value(&json!("x")).unwrap_err().to_string(), "expected a JSON object, found a string");
        assert!(translate_value(&json!([1])).unwrap_err().to_string().starts_with("item 1: expected a JSON object"));
    }
}
