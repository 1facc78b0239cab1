//! What comes in: one event, whichever way it was sent — a CloudEvent over HTTP in structured or binary mode
//! (graph-service's emitted events, CDEvents, Harbor's `CloudEvents` payload format) or Harbor's `Default` webhook
//! JSON, which becomes the CloudEvent Harbor would have sent in its CloudEvents format (see [`crate::harbor`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cloudevents::{AttributesReader, Data};
use http::HeaderMap;
use serde::Serialize;
use serde_json::Value;

/// Media type of one structured-mode CloudEvent.
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json";

/// One event, as rules see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incoming {
    pub id: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub source: String,
    pub subject: Option<String>,
    pub time: Option<DateTime<Utc>>,
    /// The data as JSON (`null` when the event has none).
    pub data: Value,
    /// CloudEvents extension attributes as strings (e.g. Harbor's `operator`, `traceparent`).
    pub extensions: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("body is not a CloudEvent (structured or binary mode): {0}")]
    NotAnEvent(String),
    #[error("body is neither a CloudEvent nor a Harbor webhook: {0}")]
    Unrecognised(String),
    #[error("Harbor webhook: {0}")]
    Harbor(String),
    #[error("event `{id}`: data is not JSON: {reason}")]
    DataNotJson { id: String, reason: String },
}

impl Incoming {
    pub fn from_cloudevent(event: &cloudevents::Event) -> Result<Incoming, DecodeError> {
        let id = event.id().to_string();
        let data = match event.data() {
            None => Value::Null,
            Some(Data::Json(value)) => value.clone(),
            Some(Data::String(text)) => serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone())),
            Some(Data::Binary(bytes)) => serde_json::from_slice(bytes)
                .map_err(|e| DecodeError::DataNotJson { id: id.clone(), reason: e.to_string() })?,
        };
        let extensions = event.iter_extensions().map(|(name, value)| (name.to_string(), value.to_string())).collect();
        Ok(Incoming {
            id,
            ty: event.ty().to_string(),
            source: event.source().to_string(),
            subject: event.subject().map(str::to_string),
            time: event.time().copied(),
            data,
            extensions,
        })
    }
}

/// An event of `ty` about `ci/build-1` with `data`, for unit tests.
#[cfg(test)]
pub(crate) fn test_event(ty: &str, data: Value) -> Incoming {
    Incoming {
        id: "e1".into(),
        ty: ty.into(),
        source: "/test".into(),
        subject: Some("ci/build-1".into()),
        time: None,
        data,
        extensions: Default::default(),
    }
}

/// Decodes an HTTP request: a CloudEvent in binary mode (`ce-specversion` header), in structured mode (the
/// CloudEvents media type, or a JSON object with `specversion`), or a Harbor `Default` webhook (`type` and
/// `event_data`).
pub fn decode_http(headers: &HeaderMap, body: &[u8]) -> Result<Incoming, DecodeError> {
    let content_type = headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if headers.contains_key("ce-specversion") || content_type.starts_with(STRUCTURED_CONTENT_TYPE) {
        let event = cloudevents::binding::http::to_event(headers, body.to_vec())
            .map_err(|e| DecodeError::NotAnEvent(e.to_string()))?;
        return Incoming::from_cloudevent(&event);
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| DecodeError::Unrecognised(format!("not JSON: {e}")))?;
    if value.get("specversion").is_some() {
        let event: cloudevents::Event =
            serde_json::from_value(value).map_err(|e| DecodeError::NotAnEvent(e.to_string()))?;
        return Incoming::from_cloudevent(&event);
    }
    if value.get("event_data").is_some() && value.get("type").is_some() {
        return crate::harbor::from_default(&value, body);
    }
    Err(DecodeError::Unrecognised(
        "expected a CloudEvent (a `ce-specversion` header or a `specversion` field) or a Harbor webhook (`type` and \
         `event_data`)"
            .into(),
    ))
}

/// Decodes a Kafka message: a CloudEvent in structured or binary mode (the Kafka binding's `ce_*` headers).
pub fn decode_kafka(headers: &[(&str, &[u8])], payload: &[u8]) -> Result<Incoming, DecodeError> {
    let event = tekton_graph_kafka::cloudevent(headers, payload).map_err(DecodeError::NotAnEvent)?;
    Incoming::from_cloudevent(&event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("header"));
        }
        map
    }

    #[test]
    fn structured_and_binary_mode_give_the_same_event() {
        let structured = br#"{"specversion":"1.0","id":"e1","source":"/x","type":"t.v1","subject":"ns/run",
            "time":"2026-01-01T00:00:00Z","datacontenttype":"application/json","data":{"a":1},"operator":"auto"}"#;
        let from_structured =
            decode_http(&headers(&[("content-type", STRUCTURED_CONTENT_TYPE)]), structured).expect("structured");
        let from_sniffed = decode_http(&HeaderMap::new(), structured).expect("sniffed");
        let binary = headers(&[
            ("ce-specversion", "1.0"),
            ("ce-id", "e1"),
            ("ce-source", "/x"),
            ("ce-type", "t.v1"),
            ("ce-subject", "ns/run"),
            ("ce-time", "2026-01-01T00:00:00Z"),
            ("ce-operator", "auto"),
            ("content-type", "application/json"),
        ]);
        let from_binary = decode_http(&binary, br#"{"a":1}"#).expect("binary");
        assert_eq!(from_structured, from_sniffed);
        assert_eq!(from_structured, from_binary);
        assert_eq!(from_binary.data, serde_json::json!({"a": 1}));
        assert_eq!(from_binary.extensions.get("operator").map(String::as_str), Some("auto"));
    }

    #[test]
    fn bad_bodies_name_the_reason() {
        type Headers<'a> = &'a [(&'static str, &'a str)];
        let cases: [(Headers, &[u8], &str); 4] = [
            (&[], b"not json", "not JSON"),
            (&[], br#"{"hello":"world"}"#, "expected a CloudEvent"),
            (&[("content-type", STRUCTURED_CONTENT_TYPE)], br#"{"specversion":"1.0"}"#, "not a CloudEvent"),
            (&[("ce-specversion", "1.0"), ("ce-id", "x")], b"{}", "not a CloudEvent"),
        ];
        for (pairs, body, reason) in cases {
            let error = decode_http(&headers(pairs), body).expect_err(reason).to_string();
            assert!(error.contains(reason), "{error}");
        }
    }

    #[test]
    fn kafka_messages_in_both_modes_give_the_http_event() {
        let structured = br#"{"specversion":"1.0","id":"e1","source":"/x","type":"t.v1","data":{"a":1}}"#;
        let from_http = decode_http(&HeaderMap::new(), structured).expect("http");
        assert_eq!(decode_kafka(&[], structured).expect("structured"), from_http);
        let binary: [(&str, &[u8]); 5] = [
            ("ce_specversion", b"1.0"),
            ("ce_id", b"e1"),
            ("ce_source", b"/x"),
            ("ce_type", b"t.v1"),
            ("content-type", b"application/json"),
        ];
        assert_eq!(decode_kafka(&binary, br#"{"a":1}"#).expect("binary"), from_http);
        let error = decode_kafka(&[], b"junk").expect_err("junk").to_string();
        assert!(error.contains("not a CloudEvent") && error.contains("not JSON"), "{error}");
    }
}
