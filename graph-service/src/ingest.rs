//! Decoding of incoming fact CloudEvents, before anything is written.
//!
//! A request is decoded and validated whole; only when every event in it is a valid fact does the caller apply
//! them, so a bad event never leaves half a batch behind.

use cloudevents::Event;
use http::HeaderMap;
use tekton_graph_schema::RunFact;
use tekton_graph_schema::envelope::{BATCH_CONTENT_TYPE, from_cloudevent};

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
