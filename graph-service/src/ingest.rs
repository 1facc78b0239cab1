//! Decoding of incoming fact CloudEvents, before anything is written.
//!
//! A request is decoded and validated whole; only when every event in it is a valid fact does the caller apply
//! them, so a bad event never leaves half a batch behind.

use cloudevents::Event;
use http::HeaderMap;
use tekton_graph_schema::RunFact;
use tekton_graph_schema::envelope::{BATCH_CONTENT_TYPE, STRUCTURED_CONTENT_TYPE, from_cloudevent};

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

/// Decodes an HTTP request body: one event (structured or binary mode) or a batch.
pub fn decode_http(headers: &HeaderMap, body: Vec<u8>) -> Result<Vec<RunFact>, IngestError> {
    let content_type = headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.starts_with(BATCH_CONTENT_TYPE) {
        return decode_batch(&body);
    }
    let event =
        cloudevents::binding::http::to_event(headers, body).map_err(|e| IngestError::NotAnEvent(e.to_string()))?;
    Ok(vec![from_cloudevent(&event).map_err(|e| IngestError::InvalidFact(e.to_string()))?])
}

/// Decodes a JSON array of structured-mode events; the first bad one fails the whole batch.
pub fn decode_batch(body: &[u8]) -> Result<Vec<RunFact>, IngestError> {
    let raw: Vec<serde_json::Value> = serde_json::from_slice(body).map_err(|e| IngestError::BadBatch(e.to_string()))?;
    raw.into_iter()
        .enumerate()
        .map(|(index, value)| {
            let event: Event = serde_json::from_value(value)
                .map_err(|e| IngestError::InvalidEvent { index, reason: format!("not a CloudEvent: {e}") })?;
            from_cloudevent(&event).map_err(|e| IngestError::InvalidEvent { index, reason: e.to_string() })
        })
        .collect()
}

/// Decodes one Kafka message (CloudEvents Kafka protocol binding): structured mode when the `content-type` header
/// is `application/cloudevents+json`, or when there is no `ce_specversion` header and the payload is a JSON object
/// with `specversion`; binary mode when there is a `ce_specversion` header (attributes in `ce_*` headers, the
/// payload is the fact JSON). Header names are matched case-insensitively.
pub fn decode_kafka(headers: &[(&str, &[u8])], payload: &[u8]) -> Result<RunFact, IngestError> {
    let header = |name: &str| headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, v)| *v);
    let content_type = header("content-type").map(String::from_utf8_lossy).unwrap_or_default();
    let structured = content_type.trim_start().starts_with(STRUCTURED_CONTENT_TYPE);
    let event = if structured || header("ce_specversion").is_none() {
        let value: serde_json::Value = serde_json::from_slice(payload).map_err(|e| {
            IngestError::NotAKafkaEvent(format!("no `ce_specversion` header and the payload is not JSON: {e}"))
        })?;
        if !structured && value.get("specversion").is_none() {
            return Err(IngestError::NotAKafkaEvent(
                "no `ce_specversion` header and the payload has no `specversion`".into(),
            ));
        }
        serde_json::from_value::<Event>(value).map_err(|e| IngestError::NotAKafkaEvent(e.to_string()))?
    } else {
        // Binary mode: the Kafka binding's `ce_` headers are the HTTP binding's `ce-` headers.
        let mut map = HeaderMap::new();
        for (key, value) in headers {
            let lower = key.to_ascii_lowercase();
            let name = match lower.strip_prefix("ce_") {
                Some(attribute) => format!("ce-{attribute}"),
                None if lower == "content-type" => lower,
                None => continue,
            };
            let name = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| IngestError::NotAKafkaEvent(format!("header `{key}`: {e}")))?;
            let value = http::HeaderValue::from_bytes(value)
                .map_err(|e| IngestError::NotAKafkaEvent(format!("header `{key}`: {e}")))?;
            map.append(name, value);
        }
        cloudevents::binding::http::to_event(&map, payload.to_vec())
            .map_err(|e| IngestError::NotAKafkaEvent(e.to_string()))?
    };
    from_cloudevent(&event).map_err(|e| IngestError::InvalidFact(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::AttributesReader;
    use tekton_graph_schema::envelope::to_cloudevent;

    fn sample() -> RunFact {
        crate::demo::sample_facts().expect("samples").remove(0)
    }

    #[test]
    fn kafka_structured_mode_with_or_without_content_type() {
        let fact = sample();
        let payload = serde_json::to_vec(&to_cloudevent(&fact).unwrap()).unwrap();
        let with = [("Content-Type", STRUCTURED_CONTENT_TYPE.as_bytes())];
        assert_eq!(decode_kafka(&with, &payload).unwrap(), fact);
        assert_eq!(decode_kafka(&[], &payload).unwrap(), fact);
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
        assert_eq!(decode_kafka(&headers, &payload).unwrap(), fact);
    }

    #[test]
    fn kafka_garbage_and_wrong_types_name_the_reason() {
        let err = decode_kafka(&[], b"\x00garbage").unwrap_err().to_string();
        assert!(err.contains("payload is not JSON"), "{err}");
        let err = decode_kafka(&[], br#"{"hello":"world"}"#).unwrap_err().to_string();
        assert!(err.contains("no `specversion`"), "{err}");
        let mut event = serde_json::to_value(to_cloudevent(&sample()).unwrap()).unwrap();
        event["type"] = "com.example.other".into();
        let err = decode_kafka(&[], &serde_json::to_vec(&event).unwrap()).unwrap_err().to_string();
        assert!(err.contains("unsupported event type `com.example.other`"), "{err}");
    }
}
