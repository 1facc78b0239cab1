//! The Kafka protocol binding of CloudEvents: one event from a message, in structured mode (the payload is the
//! JSON event; `content-type: application/cloudevents+json`, or no `ce_specversion` header) or binary mode (the
//! attributes are `ce_*` headers, the payload is the data).

use cloudevents::Event;
use serde_json::Value;
use tekton_graph_schema::envelope::STRUCTURED_CONTENT_TYPE;

/// The CloudEvent a message carries, or why it carries none.
pub fn cloudevent(headers: &[(&str, &[u8])], payload: &[u8]) -> Result<Event, String> {
    let header = |name: &str| headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, v)| *v);
    let content_type = header("content-type").map(String::from_utf8_lossy).unwrap_or_default();
    let structured = content_type.trim_start().starts_with(STRUCTURED_CONTENT_TYPE);
    if structured || header("ce_specversion").is_none() {
        let value: Value = serde_json::from_slice(payload)
            .map_err(|e| format!("no `ce_specversion` header and the payload is not JSON: {e}"))?;
        if !structured && value.get("specversion").is_none() {
            return Err("no `ce_specversion` header and the payload has no `specversion`".into());
        }
        return serde_json::from_value::<Event>(value).map_err(|e| e.to_string());
    }
    // Binary mode: the Kafka binding's `ce_` headers are the HTTP binding's `ce-` headers.
    let mut map = http::HeaderMap::new();
    for (key, value) in headers {
        let lower = key.to_ascii_lowercase();
        let name = match lower.strip_prefix("ce_") {
            Some(attribute) => format!("ce-{attribute}"),
            None if lower == "content-type" => lower,
            None => continue,
        };
        let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("header `{key}`: {e}"))?;
        let value = http::HeaderValue::from_bytes(value).map_err(|e| format!("header `{key}`: {e}"))?;
        map.append(name, value);
    }
    cloudevents::binding::http::to_event(&map, payload.to_vec()).map_err(|e| e.to_string())
}
